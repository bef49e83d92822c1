package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/secureinput/gateway/audit"
	"github.com/secureinput/gateway/identity"
	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/store"
)

const usersUsage = `usage: gateway users <add|passwd|disable|enable|unlock|list> [flags] [LOGIN]

Manages the console's accounts in the data directory, also while the
gateway runs. add and passwd read the new password from the first line of
stdin (at least 12 characters, letters and digits). Accounts of the
configuration file are seeded at start-up; their passwords can be changed
here, and then the file's hash no longer applies.

`

const auditUsage = `usage: gateway audit <verify|export> [flags]

verify checks the audit trail's hash chain (exit 0: it holds; 1: a record
was changed, removed or inserted). export writes the records as JSON Lines
to stdout, for a SIEM; --after SEQ writes only the newer ones.

`

// dataFlags are the flags shared by users and audit: where the data is.
type dataFlags struct {
	data, config *string
}

func addDataFlags(fs *flag.FlagSet) dataFlags {
	return dataFlags{
		data:   fs.String("data", "", "data `directory` (default: the configuration's data, or ./data)"),
		config: fs.String("config", "", "configuration `file` whose data directory and redaction to use"),
	}
}

// open opens the store of the data directory and the audit trail on it.
func (d dataFlags) open(ctx context.Context) (*store.Store, *audit.Log, error) {
	cfg := &config{}
	rc := redact.DefaultConfig()
	if *d.config != "" {
		var err error
		if cfg, err = loadConfig(*d.config); err != nil {
			return nil, nil, usageError{err.Error()}
		}
		rc = cfg.redactConfig()
	}
	if *d.data != "" {
		cfg.Data = *d.data
	}
	if cfg.Data == "" {
		cfg.Data = "./data"
	}
	// The store seals what it keeps: it opens with the data directory's
	// keys (a first command on a new data directory makes its key file, as
	// serve would).
	set, err := openKEKs(ctx, cfg, true)
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(ctx, cfg.storeConfig(set))
	if err != nil {
		set.Close()
		return nil, nil, err
	}
	eng, err := redact.New(rc)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	trail, err := audit.New(audit.Config{Store: st, Engine: eng})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, trail, nil
}

// runUsers is `gateway users`.
func runUsers(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprint(stdout, usersUsage)
			return flag.ErrHelp
		}
		return usagef("say what to do: add, passwd, disable, enable, unlock or list (see -h)")
	}
	verb := args[0]
	fs := flag.NewFlagSet("users "+verb, flag.ContinueOnError)
	df := addDataFlags(fs)
	name := fs.String("name", "", "add: the name visitors see")
	workgroups := fs.String("workgroups", "", "add: comma-separated `workgroups`")
	rights := fs.String("rights", "", "add: comma-separated `rights` (secure_input, initiate_secure_input, supervisor)")
	rest, login := args[1:], ""
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		login, rest = rest[0], rest[1:]
	}
	if err := parseFlags(fs, rest, stdout, usersUsage); err != nil {
		return err
	}
	switch verb {
	case "add", "passwd", "disable", "enable", "unlock":
		if login == "" {
			return usagef("users %s: name the LOGIN", verb)
		}
	case "list":
	default:
		return usagef("unknown users command %q: add, passwd, disable, enable, unlock or list", verb)
	}
	st, trail, err := df.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	svc, err := identity.New(identity.Config{Store: st})
	if err != nil {
		return err
	}
	record := func(action string) error {
		return trail.Record(ctx, audit.Event{Actor: audit.ActorCLI, Action: action, Outcome: audit.Success, Source: audit.SourceLocal, Target: login})
	}
	switch verb {
	case "add":
		pw, err := readPassword(stdin)
		if err != nil {
			return err
		}
		err = svc.Add(ctx, identity.NewAccount{Login: login, Name: *name, Workgroups: splitComma(*workgroups), Rights: splitComma(*rights)}, pw)
		if err = userError(err); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s (the gateway routes chats to it from its next start)\n", login)
		return record(audit.ActionAccountAdd)
	case "passwd":
		pw, err := readPassword(stdin)
		if err != nil {
			return err
		}
		if err := userError(svc.SetPassword(ctx, login, pw)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s set; its sessions ended\n", login)
		return record(audit.ActionAccountPassword)
	case "disable", "enable":
		if err := userError(svc.SetDisabled(ctx, login, verb == "disable")); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%sd %s\n", verb, login)
		if verb == "disable" {
			return record(audit.ActionAccountDisable)
		}
		return record(audit.ActionAccountEnable)
	case "unlock":
		if err := userError(svc.Unlock(ctx, login)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "unlocked %s\n", login)
		return record(audit.ActionAccountUnlock)
	}
	accts, err := svc.Accounts(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOGIN\tNAME\tWORKGROUPS\tRIGHTS\tSTATE\tPASSWORD SET\tFROM")
	for _, a := range accts {
		state := "active"
		switch {
		case a.Disabled:
			state = "disabled"
		case a.Locked:
			state = "locked until " + a.LockedUntil.Local().Format(time.DateTime)
		}
		from := "gateway users"
		if a.FromConfig {
			from = "configuration file"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Login, a.Name, strings.Join(a.Workgroups, ","), strings.Join(a.Rights, ","),
			state, a.PasswordAt.Local().Format(time.DateTime), from)
	}
	return tw.Flush()
}

// userError turns an identity error the operator can fix into a usage
// error.
func userError(err error) error {
	for _, e := range []error{identity.ErrWeakPassword, identity.ErrUnknownAccount, identity.ErrAccountExists, identity.ErrBadLogin} {
		if errors.Is(err, e) {
			return usageError{strings.TrimPrefix(err.Error(), "identity: ")}
		}
	}
	return err
}

// readPassword reads the first line of stdin.
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usagef("give the new password on the first line of stdin")
	}
	return pw, nil
}

func splitComma(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// runAudit is `gateway audit`.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprint(stdout, auditUsage)
			return flag.ErrHelp
		}
		return usagef("say what to do: verify or export (see -h)")
	}
	verb := args[0]
	fs := flag.NewFlagSet("audit "+verb, flag.ContinueOnError)
	df := addDataFlags(fs)
	after := fs.Int64("after", 0, "export: only the records after this `seq`")
	if err := parseFlags(fs, args[1:], stdout, auditUsage); err != nil {
		return err
	}
	if verb != "verify" && verb != "export" {
		return usagef("unknown audit command %q: verify or export", verb)
	}
	st, _, err := df.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if verb == "export" {
		_, err := audit.Export(ctx, st, stdout, *after)
		return err
	}
	rep, err := audit.Verify(ctx, st)
	if err != nil {
		return err
	}
	if !rep.OK() {
		fmt.Fprintf(stderr, "gateway audit: the chain is broken at record %d: %s\n", rep.Broken, rep.Problem)
		return errSomeFailed
	}
	if rep.Records == 0 {
		fmt.Fprintln(stdout, "audit trail: no records")
		return nil
	}
	fmt.Fprintf(stdout, "audit trail: %d records, %d to %d, the chain holds; head %s\n", rep.Records, rep.First, rep.Last, rep.Head)
	return nil
}
