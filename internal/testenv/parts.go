package testenv

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/secureinput/gateway/keys"
	"github.com/secureinput/gateway/secure"
	"github.com/secureinput/gateway/store"
)

// KEK is the key-encryption key of the stores Store opens without one: one
// for the whole test binary, so a store reopened by a test opens.
var KEK = func() *keys.Local {
	k, err := keys.Generate()
	if err != nil {
		panic(err)
	}
	return k
}()

// Store opens an SQLite store at cfg.Path (a new file in the test's
// temporary directory if empty; sealed under KEK if cfg.KEK is nil),
// closed when the test ends.
func Store(t testing.TB, cfg store.Config) *store.Store {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "gateway.db")
	}
	if cfg.KEK == nil {
		cfg.KEK = KEK
	}
	st, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// ValidationService starts the sample validation web service on loopback
// and returns a client of it; the server stops when the test ends.
func ValidationService(t testing.TB) *secure.Client {
	t.Helper()
	srv := httptest.NewServer(secure.SampleService{})
	t.Cleanup(srv.Close)
	client, err := secure.NewClient(secure.ClientConfig{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return client
}
