package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/user"
	"path/filepath"
	"time"

	"github.com/secureinput/gateway/store"
)

const eraseUsage = `usage: gateway erase [--config FILE] [--data DIR] [--by NAME] (--conversation ID | --visitor ID)

Erases one ended conversation, or every conversation of a visitor id (as
privacy law asks), with its events and participants; audited with ids and
counts, never a text. An open conversation is refused: end it first.

`

// runErase is `gateway erase`.
func runErase(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("erase", flag.ContinueOnError)
	sf := addStoreFlags(fs)
	conv := fs.String("conversation", "", "the conversation `id` to erase")
	visitor := fs.String("visitor", "", "erase every conversation of this visitor `id`")
	by := fs.String("by", "", "who asks, for the audit log (default: the operating-system user)")
	if err := parseFlags(fs, args, stdout, eraseUsage); err != nil {
		return err
	}
	if (*conv == "") == (*visitor == "") {
		return usagef("give --conversation ID or --visitor ID (one of them)")
	}
	actor := *by
	if actor == "" {
		actor = "operator"
		if u, err := user.Current(); err == nil {
			actor = "user:" + u.Username
		}
	}
	st, _, closeAll, err := sf.openStore(ctx, stderr)
	if err != nil {
		return err
	}
	defer closeAll()
	if *conv != "" {
		if err := st.Erase(ctx, *conv, actor); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "conversation %s erased\n", *conv)
		return nil
	}
	n, err := st.EraseVisitor(ctx, *visitor, actor)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d conversations of the visitor erased\n", n)
	return nil
}

const backupUsage = `usage: gateway backup --data DIR --out FILE

Writes a consistent copy of the database (SQLite VACUUM INTO), also while the
gateway serves. The copy is still encrypted: keep the key-encryption key
elsewhere, and restore with gateway restore.

`

// runBackup is `gateway backup`.
func runBackup(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	data := fs.String("data", "./data", "data `directory`")
	out := fs.String("out", "", "the backup `file` to write (must not exist)")
	if err := parseFlags(fs, args, stdout, backupUsage); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out FILE is required")
	}
	start := time.Now()
	if err := store.Backup(ctx, filepath.Join(*data, dbFileName), *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup written to %s in %s (still encrypted; restore with gateway restore --in %s --data DIR)\n",
		*out, time.Since(start).Round(time.Millisecond), *out)
	return nil
}

const restoreUsage = `usage: gateway restore --in FILE --data DIR

Checks a backup and puts it in place as DIR's database, which must not exist.
The gateway then opens it with the key-encryption key its data keys are
wrapped by: keys.kek, or a copy of the original data directory's gateway.key.

`

// runRestore is `gateway restore`.
func runRestore(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	in := fs.String("in", "", "the backup `file`")
	data := fs.String("data", "", "the data `directory` to restore into")
	if err := parseFlags(fs, args, stdout, restoreUsage); err != nil {
		return err
	}
	if *in == "" || *data == "" {
		return usagef("--in FILE and --data DIR are required")
	}
	if err := privateDir(*data); err != nil {
		return err
	}
	if err := store.Restore(ctx, *in, filepath.Join(*data, dbFileName)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s into %s\n", *in, *data)
	return nil
}

// defaultRetentionInterval is how often the purge runs.
const defaultRetentionInterval = time.Hour

// purgeTranscripts removes, on a schedule while the gateway serves, the
// conversations that ended longer than retention.transcripts ago.
func (g *gateway) purgeTranscripts(ctx context.Context, keep, every time.Duration) error {
	if every == 0 {
		every = defaultRetentionInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := g.store.Purge(ctx, time.Now().Add(-keep), "retention")
		switch {
		case err != nil && ctx.Err() == nil:
			g.log.Error("retention: purge failed", slog.Any("err", err))
		case n > 0:
			g.log.Info("retention: conversations purged", slog.Int64("conversations", n), slog.Duration("older_than", keep))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
