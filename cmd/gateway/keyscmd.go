package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/secureinput/gateway/audit"
	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/store"
)

const keysUsage = `usage: gateway keys status|rotate|retire [flags] [ID]

  status         the data keys, the KEK that wraps each, the bodies each seals,
                 and the rotation under way
  rotate         re-wrap every data key under keys.kek, make a new data key and
                 re-encrypt every body under it, with progress; runs while the
                 gateway serves, or with it stopped; a killed run resumes
                 (run it again, or the gateway resumes it at start-up)
  rotate --rewrap-only   only re-wrap the data keys under keys.kek (after a KEK change)
  retire ID      remove data key ID, only if nothing uses it

`

// storeFlags are the flags every offline command takes, as serve does.
type storeFlags struct {
	config, data *string
}

func addStoreFlags(fs *flag.FlagSet) storeFlags {
	return storeFlags{
		config: fs.String("config", "", "YAML configuration `file` (default: none: the key file in the data directory)"),
		data:   fs.String("data", "", "data `directory` (overrides the file's data)"),
	}
}

// openStore opens the store the flags name, with its KEKs; it never makes a
// key file.
func (f storeFlags) openStore(ctx context.Context, stderr io.Writer) (*store.Store, *config, func(), error) {
	cfg := &config{}
	if *f.config != "" {
		var err error
		if cfg, err = loadConfig(*f.config); err != nil {
			return nil, nil, nil, usageError{err.Error()}
		}
	}
	if *f.data != "" {
		cfg.Data = *f.data
	}
	set, err := openKEKs(ctx, cfg, false)
	if err != nil {
		return nil, nil, nil, err
	}
	sc := cfg.storeConfig(set)
	sc.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := store.Open(ctx, sc)
	if err != nil {
		set.Close()
		return nil, nil, nil, err
	}
	return st, cfg, func() { st.Close(); set.Close() }, nil
}

// runKeys is `gateway keys`.
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: gateway keys status|rotate|retire [--config FILE] [--data DIR] [ID]")
	}
	sub := args[0]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	sf := addStoreFlags(fs)
	rewrap := fs.Bool("rewrap-only", false, "rotate: only re-wrap the data keys under keys.kek")
	var id int64
	rest := args[1:]
	if sub == "retire" {
		// The key id may come before or after the flags.
		if len(rest) > 0 && rest[0] != "" && rest[0][0] != '-' {
			rest = append(rest[1:], rest[0])
		}
		if len(rest) == 0 {
			return usagef("usage: gateway keys retire [--config FILE] [--data DIR] ID")
		}
		var err error
		if id, err = strconv.ParseInt(rest[len(rest)-1], 10, 64); err != nil || id <= 0 {
			return usagef("%q is not a data key id (see gateway keys status)", rest[len(rest)-1])
		}
		rest = rest[:len(rest)-1]
	}
	if err := parseFlags(fs, rest, stdout, keysUsage); err != nil {
		return err
	}
	switch sub {
	case "status", "rotate", "retire":
	default:
		return usagef("unknown keys command %q (status, rotate, retire)", sub)
	}
	st, _, closeAll, err := sf.openStore(ctx, stderr)
	if err != nil {
		return err
	}
	defer closeAll()
	switch sub {
	case "status":
		return keyStatus(ctx, st, stdout)
	case "rotate":
		what := "rotate: a new data key, every body re-encrypted under it"
		if *rewrap {
			what = "rotate --rewrap-only: every data key re-wrapped under keys.kek"
		}
		err := rotateKeys(ctx, st, !*rewrap, stdout)
		return errors.Join(err, recordKeyChange(ctx, st, "data keys", what, err))
	default:
		err := st.RetireKey(ctx, id)
		if rerr := recordKeyChange(ctx, st, fmt.Sprintf("data key %d", id), "retire", err); err != nil || rerr != nil {
			return errors.Join(err, rerr)
		}
		fmt.Fprintf(stdout, "data key %d retired\n", id)
		return nil
	}
}

// recordKeyChange records a key change made at the command line, and
// whether it failed (err), in the audit trail of st (PCI DSS 10.2.1.7).
func recordKeyChange(ctx context.Context, st *store.Store, target, detail string, err error) error {
	engine, eerr := redact.New(redact.DefaultConfig())
	if eerr != nil {
		return eerr
	}
	trail, aerr := audit.New(audit.Config{Store: st, Engine: engine})
	if aerr != nil {
		return aerr
	}
	outcome := audit.Success
	if err != nil {
		outcome = audit.Failure
	}
	return trail.Record(ctx, audit.Event{Actor: audit.ActorCLI, Action: audit.ActionKeyChange, Outcome: outcome,
		Source: audit.SourceLocal, Target: target, Detail: detail})
}

func keyStatus(ctx context.Context, st *store.Store, stdout io.Writer) error {
	ks, err := st.KeyStatus(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%-4s %-8s %-26s %-20s %12s %12s\n", "key", "", "key-encryption key", "created", "encryptions", "bodies")
	for _, k := range ks.Keys {
		cur := ""
		if k.Current {
			cur = "current"
		}
		fmt.Fprintf(stdout, "%-4d %-8s %-26s %-20s %12d %12d\n", k.ID, cur, k.KEK, k.Created.UTC().Format(time.DateTime), k.Encryptions, k.Bodies)
	}
	fmt.Fprintf(stdout, "bodies: %d", ks.Bodies)
	if ks.Cards > 0 {
		fmt.Fprintf(stdout, " (%d of them vault cards)", ks.Cards)
	}
	if ks.Unsealed > 0 {
		fmt.Fprintf(stdout, " (%d not sealed)", ks.Unsealed)
	}
	fmt.Fprintln(stdout)
	if p := ks.Rotation; p != nil {
		fmt.Fprintf(stdout, "rotation under way: re-encrypting under data key %d, %d of %d done (resume: gateway keys rotate)\n", p.Target, p.Done, p.Total)
	} else {
		fmt.Fprintln(stdout, "no rotation under way")
	}
	return nil
}

// rotateKeys starts a rotation, or resumes the one under way, and runs it
// to the end with a progress line at most every second.
func rotateKeys(ctx context.Context, st *store.Store, newKey bool, stdout io.Writer) error {
	ks, err := st.KeyStatus(ctx)
	if err != nil {
		return err
	}
	switch {
	case ks.Rotation != nil && newKey:
		fmt.Fprintf(stdout, "resuming the rotation to data key %d at %d of %d\n", ks.Rotation.Target, ks.Rotation.Done, ks.Rotation.Total)
		if _, err := st.Rotate(ctx, false); err != nil { // re-wrap under keys.kek all the same
			return err
		}
	default:
		id, err := st.Rotate(ctx, newKey)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "every data key is wrapped by the configured key-encryption key")
		if !newKey {
			return nil
		}
		fmt.Fprintf(stdout, "new data key %d; re-encrypting %d bodies under it\n", id, ks.Bodies)
	}
	last := time.Time{}
	err = st.Reseal(ctx, func(p store.Progress) {
		if time.Since(last) < time.Second && !p.Finished {
			return
		}
		last = time.Now()
		pct := 100.0
		if p.Total > 0 {
			pct = 100 * float64(p.Done) / float64(p.Total)
		}
		fmt.Fprintf(stdout, "re-encrypting under data key %d: %d of %d (%.0f%%), %.0f a second, about %s left\n",
			p.Target, p.Done, p.Total, pct, p.Rate, p.Left.Round(time.Second))
	})
	if errors.Is(err, store.ErrNoRotation) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("%w (run gateway keys rotate again to resume)", err)
	}
	fmt.Fprintln(stdout, "rotation done: every body is under the newest data key; retire the old ones with gateway keys retire ID")
	return nil
}
