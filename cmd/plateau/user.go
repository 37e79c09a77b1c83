package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"plateau/internal/auth"
)

// rolesFlag collects --role values, repeated or comma-separated.
type rolesFlag []auth.Role

func (r *rolesFlag) String() string {
	s := make([]string, len(*r))
	for i, x := range *r {
		s[i] = string(x)
	}
	return strings.Join(s, ",")
}

func (r *rolesFlag) Set(v string) error {
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*r = append(*r, auth.Role(part))
		}
	}
	return nil
}

func runUser(ctx context.Context, args []string, io stdio) error {
	return runGroup(ctx, "user", []subcommand{{"add", runUserAdd}, {"unlock", runUserUnlock}, {"list", runUserList}}, args, io)
}

func runUserAdd(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("user add", "--login L --name N --role R [--role R2] [--password-stdin]",
		"Create a user. Roles: agent, supervisor, it, dpo, admin (repeat --role or separate with\n"+
			"commas). Without --password-stdin a strong password is generated and printed once.\n"+
			"Supervisors, IT, DPO and administrators enrol TOTP at their first login.", io)
	var sf storeFlags
	sf.register(fs)
	login := fs.String("login", "", "login (a-z, 0-9, '.', '-', '_')")
	name := fs.String("name", "", "display name")
	var roles rolesFlag
	fs.Var(&roles, "role", "role (repeatable)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *login == "" || *name == "" || len(roles) == 0 {
		fmt.Fprintln(io.err, "--login, --name and --role are required")
		fs.Usage()
		return errUsage
	}
	password, generated := "", false
	if *fromStdin {
		line, err := bufio.NewReader(io.in).ReadString('\n')
		if err != nil && line == "" {
			return errors.New("no password on standard input")
		}
		password = strings.TrimRight(line, "\r\n")
	} else {
		password, generated = generatePassword(), true
	}
	cfg, err := sf.load(io)
	if err != nil {
		return err
	}
	a, err := open(ctx, cfg, mayCreate, io.err, io.env)
	if err != nil {
		return err
	}
	defer a.close()
	u, err := a.auth.CreateUser(cliActor(ctx, "user add"), auth.NewUser{Login: *login, Name: *name, Roles: roles, Password: password})
	if err != nil {
		return err
	}
	fmt.Fprintf(io.out, "user %s created (id %d, roles %s)\n", u.Login, u.ID, roles.String())
	if generated {
		fmt.Fprintf(io.out, "password (shown once): %s\n", password)
	}
	return nil
}

// generatePassword returns 24 random characters from an unambiguous alphabet
// (about 120 bits).
func generatePassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 24)
	for i := range b {
		b[i] = alphabet[randIndex(len(alphabet))]
	}
	return string(b)
}

// randIndex returns a uniform random index below n (rejection sampling).
func randIndex(n int) int {
	limit := 256 - 256%n
	var b [1]byte
	for {
		_, _ = rand.Read(b[:])
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

func runUserUnlock(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("user unlock", "--login L",
		"Lift the lock put on an account after 10 failed logins, and clear its failure counters.", io)
	var sf storeFlags
	sf.register(fs)
	login := fs.String("login", "", "login of the user to unlock")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *login == "" {
		fs.Usage()
		return errUsage
	}
	a, ctx, u, err := openForUser(ctx, &sf, io, "user unlock", *login)
	if err != nil {
		return err
	}
	defer a.close()
	if err := a.auth.Unlock(ctx, u.ID); err != nil {
		return err
	}
	fmt.Fprintf(io.out, "user %s unlocked\n", u.Login)
	return nil
}

func runUserList(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("user list", "", "List the users with their roles and state.", io)
	var sf storeFlags
	sf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	a, err := openExisting(ctx, &sf, io)
	if err != nil {
		return err
	}
	defer a.close()
	users, err := a.auth.Users(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(io.out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOGIN\tROLES\tSTATE\tTOTP")
	for _, u := range users {
		state := "active"
		switch {
		case u.Disabled:
			state = "disabled"
		case u.Locked:
			state = "locked"
		}
		roles := make([]string, len(u.Roles))
		for i, r := range u.Roles {
			roles[i] = string(r)
		}
		totp := "no"
		if u.TOTPEnabled {
			totp = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Login, strings.Join(roles, ","), state, totp)
	}
	return tw.Flush()
}

// openForUser opens an existing database for a command acting on one user:
// the context it returns carries the command-line actor.
func openForUser(ctx context.Context, sf *storeFlags, io stdio, cmd, login string) (*app, context.Context, auth.User, error) {
	a, err := openExisting(ctx, sf, io)
	if err != nil {
		return nil, ctx, auth.User{}, err
	}
	ctx = cliActor(ctx, cmd)
	u, err := a.auth.UserByLogin(ctx, login)
	if err != nil {
		a.close()
		return nil, ctx, auth.User{}, fmt.Errorf("user %q: %w", login, err)
	}
	return a, ctx, u, nil
}

// openExisting loads the configuration and opens an existing database.
func openExisting(ctx context.Context, sf *storeFlags, io stdio) (*app, error) {
	cfg, err := sf.load(io)
	if err != nil {
		return nil, err
	}
	return open(ctx, cfg, mustExist, io.err, io.env)
}
