package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/secureinput/gateway/keys"
	"github.com/secureinput/gateway/store"
)

// keyFileName is the key file the gateway keeps in the data directory when
// the configuration names no key-encryption key.
const keyFileName = "gateway.key"

// dataDir is the data directory of c: its data key, or ./data.
func (c *config) dataDir() string {
	if c.Data == "" {
		return "./data"
	}
	return c.Data
}

// checkKeys checks the keys section.
func (v *validator) checkKeys(c *config) {
	k := c.Keys
	if k.KEK != nil {
		v.checkKEK(path{"keys", "kek"}, *k.KEK)
	}
	for i, p := range k.Previous {
		v.checkKEK(path{"keys", "previous", i}, p)
	}
	if k.RequireProvider {
		if k.KEK == nil {
			v.failf(v.either(path{"keys", "require_provider"}, path{"keys"}),
				"no keys.kek: the key-encryption key must come from a provider or a key file outside the data directory (PCI DSS 3.6.1.2)")
		} else if inside(k.KEK.File, c.dataDir()) {
			v.failf(path{"keys", "kek", "file"}, "%s is inside the data directory %s: keep the key-encryption key away from the data it protects", k.KEK.File, c.dataDir())
		}
	}
	if k.RotateAfter != 0 && time.Duration(k.RotateAfter) < time.Minute {
		v.failf(path{"keys", "rotate_after"}, "at least 1m")
	}
	if n := k.RotateAfterUses; n != 0 && (n < 1<<16 || n > store.MaxEncryptionsLimit) {
		v.failf(path{"keys", "rotate_after_encryptions"}, "%d: want 65536 to %d (AES-GCM with random nonces allows fewer than 2^32 encryptions under one key)", n, int64(store.MaxEncryptionsLimit))
	}
	if r := c.Retention; r.Interval != 0 && time.Duration(r.Interval) < time.Second {
		v.failf(path{"retention", "interval"}, "at least 1s")
	}
}

// checkKEK checks one KEK's definition: one source, and what can be checked
// of it without reading the key.
func (v *validator) checkKEK(p path, k kekDef) {
	switch btoi(k.File != "") + btoi(k.Env != "") + btoi(k.PKCS11 != nil) {
	case 0:
		v.failf(p, "say where the key is: file, env or pkcs11")
		return
	case 2, 3:
		v.failf(p, "set only one of file, env and pkcs11")
		return
	}
	switch {
	case k.File != "":
		fi, err := os.Stat(k.File)
		if err != nil {
			v.failf(p.with("file"), "%s (make one with: umask 077; openssl rand -hex 32 > %s)", fileProblem(k.File, err), k.File)
		} else if fi.Mode().Perm()&0o077 != 0 {
			v.failf(p.with("file"), "%s has mode %04o: others may read it; chmod 600 %s", k.File, fi.Mode().Perm(), k.File)
		}
	case k.PKCS11 != nil:
		h := k.PKCS11
		for _, f := range []struct{ key, val string }{{"module", h.Module}, {"token", h.Token}, {"pin_env", h.PINEnv}, {"key_label", h.KeyLabel}} {
			if f.val == "" {
				v.failf(p.with("pkcs11"), "%s is required", f.key)
			}
		}
		if !keys.PKCS11Built {
			v.failf(p.with("pkcs11"), "this gateway was built without PKCS#11 (build it with -tags pkcs11, cgo on)")
		}
	}
}

// inside reports whether file lies in dir.
func inside(file, dir string) bool {
	if file == "" {
		return false
	}
	f, err1 := filepath.Abs(file)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, f)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// keyWarnings are what config check says of a good file's keys: exit 0, but
// production keeps the KEK away from the data.
func keyWarnings(c *config) []string {
	k := c.Keys
	switch {
	case k.KEK == nil:
		return []string{fmt.Sprintf("warning: no keys.kek: the gateway keeps its key-encryption key in %s, beside the data it protects; "+
			"in production use a provider or a key file elsewhere (PCI DSS 3.6.1.2; keys.require_provider: true makes this an error)",
			filepath.Join(c.dataDir(), keyFileName))}
	case inside(k.KEK.File, c.dataDir()):
		return []string{fmt.Sprintf("warning: keys.kek.file %s is inside the data directory %s: keep the key-encryption key away from the data it protects", k.KEK.File, c.dataDir())}
	}
	return nil
}

// keyConfig is the keys package's configuration of a KEK definition.
func (k kekDef) keyConfig() keys.Config {
	kc := keys.Config{File: k.File, Env: k.Env}
	if h := k.PKCS11; h != nil {
		kc.PKCS11 = &keys.PKCS11Config{Module: h.Module, Token: h.Token, PINEnv: h.PINEnv, KeyLabel: h.KeyLabel, Create: h.Create}
	}
	return kc
}

// kekSet is the KEKs the store is opened with, and what the banner says.
type kekSet struct {
	current  keys.KEK
	previous []keys.KEK
	source   string // where the current one is
	created  bool   // the key file was made now
}

// Close closes every KEK.
func (s *kekSet) Close() error {
	var errs []error
	for _, k := range append([]keys.KEK{s.current}, s.previous...) {
		if k != nil {
			errs = append(errs, k.Close())
		}
	}
	return errors.Join(errs...)
}

// openKEKs gets the KEKs of c. With no keys.kek it reads the key file in
// the data directory, creating it (if create) on the first start; a missing
// key file beside a database whose data keys need it is an error, never a
// new key.
func openKEKs(ctx context.Context, c *config, create bool) (_ *kekSet, err error) {
	set := &kekSet{}
	defer func() {
		if err != nil {
			set.Close()
		}
	}()
	if c.Keys.KEK != nil {
		kc := c.Keys.KEK.keyConfig()
		set.source = kc.Source()
		if set.current, err = keys.Open(ctx, kc); err != nil {
			return nil, fmt.Errorf("keys.kek (%s): %w", set.source, err)
		}
	} else {
		file := filepath.Join(c.dataDir(), keyFileName)
		set.source = "key file " + file
		if _, statErr := os.Stat(file); errors.Is(statErr, fs.ErrNotExist) {
			if err := noKeysYet(ctx, filepath.Join(c.dataDir(), dbFileName), file); err != nil {
				return nil, err
			}
		}
		var k *keys.Local
		if create {
			k, set.created, err = keys.OpenOrCreateFile(file)
		} else {
			k, err = keys.ReadFile(file)
		}
		if err != nil {
			return nil, err
		}
		set.current = k
	}
	for i, p := range c.Keys.Previous {
		k, err := keys.Open(ctx, p.keyConfig())
		if err != nil {
			return nil, fmt.Errorf("keys.previous[%d] (%s): %w", i, p.keyConfig().Source(), err)
		}
		set.previous = append(set.previous, k)
	}
	return set, nil
}

// noKeysYet fails if the database at db has data keys: its key file is
// missing, and a new one would open nothing.
func noKeysYet(ctx context.Context, db, keyFile string) error {
	if _, err := os.Stat(db); err != nil {
		return nil
	}
	infos, err := store.KeyInfo(ctx, db)
	if err != nil {
		return err
	}
	if len(infos) > 0 {
		return fmt.Errorf("key file %s is missing, but %s holds data keys wrapped by key-encryption key %s (data key %d): restore the key file, or configure keys.kek",
			keyFile, db, infos[0].KEK, infos[0].ID)
	}
	return nil
}

// storeConfig is the store configuration of c with the KEKs of set.
func (c *config) storeConfig(set *kekSet) store.Config {
	sc := store.Config{Path: filepath.Join(c.dataDir(), dbFileName), Durability: durabilities[c.Durability], KEK: set.current,
		Rotation: store.Rotation{MaxEncryptions: c.Keys.RotateAfterUses, MaxAge: time.Duration(c.Keys.RotateAfter)}}
	for _, k := range set.previous {
		sc.PreviousKEKs = append(sc.PreviousKEKs, k)
	}
	return sc
}

// dbFileName is the SQLite database in the data directory.
const dbFileName = "gateway.db"
