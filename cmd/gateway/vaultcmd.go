package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/secureinput/gateway/audit"
	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/store"
	"github.com/secureinput/gateway/vault"
)

const vaultUsage = `usage: gateway vault serve|purge|erase|hash-key [flags]

  serve      run the card vault of the file's vault_server section: its own
             listener (mutual TLS), data directory and keys (docs/vault.md)
  purge      remove the cards whose retention ended, now (serve does it on
             vault_server.purge_interval)
  erase TOKEN  remove one card at once (a customer's erasure request), audited
  hash-key   read an API key on stdin, print its SHA-256 for a client's
             api_key_sha256

The vault's keys, backups and audit trail use the gateway's commands with the
vault's file: gateway keys rotate --config vault.yaml, gateway backup …,
gateway audit verify ….

`

// runVault is `gateway vault`.
func runVault(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("want a subcommand: serve, purge, erase or hash-key")
	}
	switch args[0] {
	case "serve":
		return runVaultServe(ctx, args[1:], stdout, stderr)
	case "purge":
		return runVaultPurge(ctx, args[1:], stdout, stderr)
	case "erase":
		return runVaultErase(ctx, args[1:], stdout, stderr)
	case "hash-key":
		return hashKey(stdin, stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, vaultUsage)
		return nil
	}
	return usagef("unknown subcommand %q (serve, purge, erase, hash-key)", args[0])
}

// loadVaultConfig reads a vault's file: one with a vault_server section.
func loadVaultConfig(file string) (*config, error) {
	if file == "" {
		return nil, usagef("--config is required: the vault's file (docs/vault.md)")
	}
	cfg, err := loadConfig(file)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	if cfg.VaultServer == nil {
		return nil, usagef("%s has no vault_server section: it is not a vault's file", file)
	}
	return cfg, nil
}

// openVault opens the vault's store (creating its key file on the first
// start if create) and its audit trail, and builds the vault's server.
func openVault(ctx context.Context, cfg *config, create bool, logger *slog.Logger) (_ *vault.Server, _ *store.Store, _ *kekSet, err error) {
	if err := privateDir(cfg.dataDir()); err != nil {
		return nil, nil, nil, err
	}
	set, err := openKEKs(ctx, cfg, create)
	if err != nil {
		return nil, nil, nil, err
	}
	sc := cfg.storeConfig(set)
	sc.Logger = logger
	st, err := store.Open(ctx, sc)
	if err != nil {
		set.Close()
		return nil, nil, nil, err
	}
	defer func() {
		if err != nil {
			st.Close()
			set.Close()
		}
	}()
	engine, err := redact.New(redact.DefaultConfig())
	if err != nil {
		return nil, nil, nil, err
	}
	trail, err := audit.New(audit.Config{Store: st, Engine: engine, Retention: time.Duration(cfg.Audit.Retention), Logger: logger})
	if err != nil {
		return nil, nil, nil, err
	}
	vc := cfg.VaultServer.vaultConfig()
	vc.Store, vc.Audit, vc.Logger = st, trail, logger
	srv, err := vault.New(vc)
	if err != nil {
		return nil, nil, nil, err
	}
	return srv, st, set, nil
}

// runVaultServe is `gateway vault serve`.
func runVaultServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vault serve", flag.ContinueOnError)
	configFile := fs.String("config", "", "the vault's YAML configuration `file` (required)")
	listen := fs.String("listen", "", "listen `address` host:port (overrides the file's listen)")
	if err := parseFlags(fs, args, stdout, vaultUsage); err != nil {
		return err
	}
	cfg, err := loadVaultConfig(*configFile)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if cfg.Listen == "" {
		cfg.Listen = defaultVaultListen
	}
	privateUmask()
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	tlsCfg, err := cfg.vaultTLS()
	if err != nil {
		return err
	}
	srv, st, set, err := openVault(ctx, cfg, true, logger)
	if err != nil {
		return err
	}
	defer set.Close()
	defer st.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	hs := httpServer(srv, cfg.Limits, logger)
	hs.TLSConfig = tlsCfg
	fmt.Fprintf(stdout, "Secure Input Gateway vault is running on https://%s\n", ln.Addr())
	fmt.Fprintf(stdout, "  data:  %s\n", cfg.dataDir())
	fmt.Fprintf(stdout, "  keys:  %s (%s)\n", set.source, set.current.ID())

	every := time.Duration(cfg.VaultServer.PurgeInterval)
	if every == 0 {
		every = defaultVaultPurge
	}
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		if err := hs.Serve(tls.NewListener(ln, tlsCfg)); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	eg.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		return hs.Shutdown(sctx)
	})
	eg.Go(func() error { return srv.RunPurge(ctx, every) })
	eg.Go(func() error { return resumeRotation(ctx, st, logger) })
	return eg.Wait()
}

// defaultVaultListen is where the vault listens without listen.
const defaultVaultListen = ":8443"

// runVaultPurge is `gateway vault purge`.
func runVaultPurge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vault purge", flag.ContinueOnError)
	configFile := fs.String("config", "", "the vault's YAML configuration `file` (required)")
	if err := parseFlags(fs, args, stdout, vaultUsage); err != nil {
		return err
	}
	return offlineVault(ctx, *configFile, stderr, func(srv *vault.Server, cfg *config) error {
		n, err := srv.Purge(ctx, audit.ActorCLI)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d expired cards purged from %s\n", n, filepath.Join(cfg.dataDir(), dbFileName))
		return nil
	})
}

// runVaultErase is `gateway vault erase TOKEN`.
func runVaultErase(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vault erase", flag.ContinueOnError)
	configFile := fs.String("config", "", "the vault's YAML configuration `file` (required)")
	// The token may come before or after the flags.
	var token string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		token, args = args[0], args[1:]
	}
	if err := parseFlags(fs, args, stdout, vaultUsage); err != nil {
		return err
	}
	if token == "" && fs.NArg() == 1 {
		token = fs.Arg(0)
	}
	if !vault.ValidToken(token) {
		return usagef("want the token of the card to erase (tok_ and 26 characters)")
	}
	return offlineVault(ctx, *configFile, stderr, func(srv *vault.Server, _ *config) error {
		if err := srv.Erase(ctx, token, audit.ActorCLI); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "card %s erased\n", token)
		return nil
	})
}

// offlineVault opens the vault of file (never making a key file), runs fn
// on it, and closes it: the vault's commands other than serve, which run
// beside a serving vault as the keys command does beside a gateway.
func offlineVault(ctx context.Context, file string, stderr io.Writer, fn func(*vault.Server, *config) error) error {
	cfg, err := loadVaultConfig(file)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, st, set, err := openVault(ctx, cfg, false, logger)
	if err != nil {
		return err
	}
	defer set.Close()
	defer st.Close()
	return fn(srv, cfg)
}

// hashKey prints the SHA-256 of the API key on the first line of stdin.
func hashKey(stdin io.Reader, stdout io.Writer) error {
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	key := strings.TrimRight(line, "\r\n")
	if len(key) < 16 || strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return usagef("an API key of at least 16 printable ASCII characters, no spaces, on stdin, please (e.g. openssl rand -hex 32)")
	}
	sum := vault.HashAPIKey(key)
	fmt.Fprintln(stdout, hex.EncodeToString(sum[:]))
	return nil
}
