package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit statuses of every subcommand.
const (
	exitOK      = 0 // everything done
	exitFailure = 1 // ran, but some input could not be processed (see stderr)
	exitUsage   = 2 // bad flags, arguments or configuration: nothing was done
)

// usageError is a mistake in how the command was called; it exits with
// exitUsage after one line on stderr.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

const topUsage = `usage: gateway <command> [flags]

commands:
  serve     run the gateway (widget, agent console, websockets)
  config    config check FILE: validate a configuration file
  redact    redact card numbers (and expressions) from stdin to stdout
  redact-mail  redact one email message (MIME) from stdin to stdout
  keys      keys status|rotate|retire: the data keys of the store
  erase     erase a conversation, or every conversation of a visitor
  backup    a consistent, still encrypted copy of the database
  restore   put a backup in place as a data directory's database
  users     add, passwd, disable, enable, unlock, list the console's accounts
  audit     verify the audit trail's chain, export it as JSON Lines
  vault     serve the card vault, purge its expired cards, hash a client's API key

Run "gateway <command> -h" for a command's flags.
`

// run is the whole program behind main, callable from tests.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "redact":
		err = runRedact(ctx, args[1:], stdin, stdout, stderr)
	case "serve":
		err = runServe(ctx, args[1:], stdout, stderr)
	case "config":
		err = runConfig(args[1:], stdout, stderr)
	case "redact-mail":
		err = runRedactMail(ctx, args[1:], stdin, stdout, stderr)
	case "keys":
		err = runKeys(ctx, args[1:], stdout, stderr)
	case "erase":
		err = runErase(ctx, args[1:], stdout, stderr)
	case "backup":
		err = runBackup(ctx, args[1:], stdout)
	case "restore":
		err = runRestore(ctx, args[1:], stdout)
	case "users":
		err = runUsers(ctx, args[1:], stdin, stdout)
	case "audit":
		err = runAudit(ctx, args[1:], stdout, stderr)
	case "vault":
		err = runVault(ctx, args[1:], stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, topUsage)
		return exitOK
	default:
		err = usagef("unknown command %q (commands: serve, config, redact, redact-mail, keys, erase, backup, restore, users, audit, vault)", args[0])
	}
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		for _, line := range strings.Split(ue.msg, "\n") { // a bad configuration has an error a line
			fmt.Fprintf(stderr, "gateway %s: %s\n", args[0], oneLine(line))
		}
		return exitUsage
	case errors.Is(err, errBadConfig):
		return exitUsage
	case errors.Is(err, errSomeFailed):
		return exitFailure
	default:
		fmt.Fprintf(stderr, "gateway %s: %s\n", args[0], oneLine(err.Error()))
		return exitFailure
	}
}

// oneLine keeps an error message on one line of stderr.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// parseFlags parses args with fs, printing usage on -h, and turns any
// mistake into a usageError.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer, usage string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return err
		}
		return usagef("%v (see -h)", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (see -h)", fs.Arg(0))
	}
	return nil
}
