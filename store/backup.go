package store

// Backups. Backup copies the database with SQLite's VACUUM INTO, which reads
// one snapshot: the copy is consistent while the gateway serves and writes,
// and, being the database's own pages, every body in it is still sealed and
// its data keys still wrapped. It needs no key. Restore checks a copy and
// puts it in place; opening it needs the KEK its data keys are wrapped by.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the database at path to out (mode
// 0600), which must not exist.
func Backup(ctx context.Context, path, out string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	f.Close() // VACUUM INTO writes into an empty file
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		os.Remove(out)
		return fmt.Errorf("store: backup: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, out); err != nil {
		os.Remove(out)
		return fmt.Errorf("store: backup %s: %w", path, err)
	}
	if err := checkCopy(ctx, out); err != nil {
		os.Remove(out)
		return err
	}
	return nil
}

// checkCopy checks that file is a whole gateway database.
func checkCopy(ctx context.Context, file string) error {
	db, err := sql.Open("sqlite", "file:"+file+"?mode=ro")
	if err != nil {
		return fmt.Errorf("store: %s: %w", file, err)
	}
	defer db.Close()
	var ok string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		return fmt.Errorf("store: %s is not a whole database (integrity check: %q %v)", file, ok, err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name IN ('data_keys', 'events', 'conversations')`).Scan(&n); err != nil || n != 3 {
		return fmt.Errorf("store: %s is not a gateway database", file)
	}
	return nil
}

// ErrExists: Restore over a database that is there.
var ErrExists = errors.New("store: restore: a database is already there (move it away first)")

// Restore checks the backup in and copies it to path (mode 0600), which
// must not exist: a restore never overwrites a database.
func Restore(ctx context.Context, in, path string) error {
	if err := checkCopy(ctx, in); err != nil {
		return err
	}
	for _, p := range []string{path, path + "-wal"} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, p)
		}
	}
	src, err := os.Open(in)
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	tmp := path + ".restore"
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	_, err = io.Copy(dst, src)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: restore: %w", err)
	}
	return nil
}
