package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"plateau/internal/auth"
)

func runMissionAssign(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("mission assign", "--number N [--remove] LOGIN...",
		"Assign users to a mission: its agents (who take its contacts) and its supervisors (who\n"+
			"follow it). Users already assigned are left as they are. With --remove, the users are\n"+
			"taken off the mission instead: they go offline on it and their contacts return to the\n"+
			"queue. Prints the mission's members afterwards.", io)
	var sf storeFlags
	sf.register(fs)
	number := fs.Int("number", 0, "mission number")
	remove := fs.Bool("remove", false, "unassign the users instead")
	logins, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *number <= 0 || len(logins) == 0 {
		fmt.Fprintln(io.err, "--number and at least one login are required")
		fs.Usage()
		return errUsage
	}
	a, err := openExisting(ctx, &sf, io)
	if err != nil {
		return err
	}
	defer a.close()
	verb := "mission assign"
	if *remove {
		verb = "mission unassign"
	}
	ctx = cliActor(ctx, verb)
	camp, _ := newServices(a)
	if _, err := camp.Mission(ctx, *number); err != nil {
		return err
	}
	ids := make([]int64, 0, len(logins))
	for _, login := range logins {
		u, err := a.auth.UserByLogin(ctx, login)
		if errors.Is(err, auth.ErrNotFound) {
			return fmt.Errorf("no user %q (see 'plateau user list')", login)
		}
		if err != nil {
			return fmt.Errorf("user %q: %w", login, err)
		}
		// Only agents and supervisors work on missions; removing is
		// allowed whatever the roles became since.
		if !*remove && !u.Has(auth.RoleAgent) && !u.Has(auth.RoleSupervisor) {
			return fmt.Errorf("user %s is neither an agent nor a supervisor (roles %s)", u.Login, roleList(u.Roles))
		}
		ids = append(ids, u.ID)
	}
	if *remove {
		err = camp.Unassign(ctx, *number, ids...)
	} else {
		err = camp.Assign(ctx, *number, ids...)
	}
	if err != nil {
		return err
	}
	done := "assigned to"
	if *remove {
		done = "removed from"
	}
	fmt.Fprintf(io.out, "%s %s mission %d\n", strings.Join(logins, ", "), done, *number)
	members, err := camp.Members(ctx, *number)
	if err != nil {
		return err
	}
	if len(members) == 0 {
		fmt.Fprintf(io.out, "mission %d has no member\n", *number)
		return nil
	}
	fmt.Fprintf(io.out, "mission %d members:\n", *number)
	for _, id := range members {
		u, err := a.auth.User(ctx, id)
		if err != nil {
			return fmt.Errorf("member %d: %w", id, err)
		}
		fmt.Fprintf(io.out, "  %s (%s)\n", u.Login, roleList(u.Roles))
	}
	return nil
}

func roleList(roles []auth.Role) string {
	r := rolesFlag(roles)
	return r.String()
}
