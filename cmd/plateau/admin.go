package main

import (
	"context"
	"fmt"

	"plateau/internal/audit"
)

func runToken(ctx context.Context, args []string, io stdio) error {
	return runGroup(ctx, "token", []subcommand{{"create", runTokenCreate}}, args, io)
}

func runTokenCreate(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("token create", "--login L [--name NAME]",
		"Create an API token for a user and print it once. It is stored hashed; revoke it in\n"+
			"the web interface (Tokens). Use it as 'Authorization: Bearer TOKEN'.", io)
	var sf storeFlags
	sf.register(fs)
	login := fs.String("login", "", "login of the token's owner")
	name := fs.String("name", "cli", "a name to recognise the token by")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *login == "" {
		fs.Usage()
		return errUsage
	}
	a, ctx, u, err := openForUser(ctx, &sf, io, "token create", *login)
	if err != nil {
		return err
	}
	defer a.close()
	token, _, err := a.auth.CreateToken(ctx, u.ID, *name)
	if err != nil {
		return err
	}
	fmt.Fprintln(io.out, token)
	return nil
}

func runAudit(ctx context.Context, args []string, io stdio) error {
	return runGroup(ctx, "audit", []subcommand{{"verify", runAuditVerify}}, args, io)
}

func runAuditVerify(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("audit verify", "[--data DIR] [--db DSN] [--config FILE]",
		"Check the audit trail: every row's hash chain, the head, and every signed checkpoint.\n"+
			"Exits 0 when all agree, 1 naming the first bad row when anything was edited, removed,\n"+
			"reordered or truncated.", io)
	var sf storeFlags
	sf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	a, err := openExisting(ctx, &sf, io)
	if err != nil {
		return err
	}
	defer a.db.Close() // no close(): verifying must not write a checkpoint
	rep, err := a.audit.Verify(ctx)
	if err != nil {
		return err
	}
	if rep.Problem != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("audit trail BROKEN at row %d: %s (%d rows, %d checkpoints checked)",
			rep.Problem.Row, rep.Problem.Reason, rep.Rows, rep.Checkpoints)}
	}
	fmt.Fprintf(io.out, "audit trail intact: %d rows, %d checkpoints verified\n", rep.Rows, rep.Checkpoints)
	return nil
}

func runKeys(ctx context.Context, args []string, io stdio) error {
	return runGroup(ctx, "keys", []subcommand{{"rotate", runKeysRotate}}, args, io)
}

func runKeysRotate(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("keys rotate", "[--data DIR] [--db DSN] [--config FILE]",
		"Make a new master key and rewrap every data key with it. The old master key file is\n"+
			"replaced; back up the new one (and never store it with the database backups).", io)
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
	ctx = cliActor(ctx, "keys rotate")
	id, err := a.vault.RotateMaster(ctx)
	if err != nil {
		return err
	}
	if err := a.audit.Append(ctx, audit.Event{Action: "key.master.rotate", ObjectType: "key", ObjectID: id}); err != nil {
		return err
	}
	fmt.Fprintf(io.out, "master key rotated: new key id %s\n", id)
	return nil
}
