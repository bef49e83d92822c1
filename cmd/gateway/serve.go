package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

const serveUsage = `usage: gateway serve [flags]

Runs the gateway: widget, visitor and agent websockets, agent console, demo
page. With no --config it runs the embedded demo configuration.

`

// runServe is `gateway serve`.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	configFile := fs.String("config", "", "YAML configuration `file` (default: the embedded demo configuration)")
	listen := fs.String("listen", "", "listen `address` host:port (overrides the file's listen)")
	data := fs.String("data", "", "data `directory` for the SQLite store (overrides the file's data)")
	cert := fs.String("tls-cert", "", "TLS certificate `file` (overrides tls.cert)")
	key := fs.String("tls-key", "", "TLS key `file` (overrides tls.key)")
	metricsListen := fs.String("metrics-listen", "", "`address` host:port of the /metrics listener (overrides metrics.listen)")
	verbose := fs.Bool("v", false, "log every HTTP request (route pattern, status, duration; never the URL)")
	if err := parseFlags(fs, args, stdout, serveUsage); err != nil {
		return err
	}
	cfg, err := loadConfig(*configFile)
	if err != nil {
		return usageError{err.Error()}
	}
	if cfg.VaultServer != nil {
		return usagef("%s is a vault's file (vault_server): run it with gateway vault serve, apart from the gateway", *configFile)
	}
	for _, o := range []struct {
		flag string
		dst  *string
	}{{*listen, &cfg.Listen}, {*data, &cfg.Data}, {*cert, &cfg.TLS.Cert}, {*key, &cfg.TLS.Key}, {*metricsListen, &cfg.Metrics.Listen}} {
		if o.flag != "" {
			*o.dst = o.flag
		}
	}
	if (cfg.TLS.Cert == "") != (cfg.TLS.Key == "") {
		return usagef("set both --tls-cert and --tls-key, or neither")
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	g, err := newGateway(ctx, cfg, logger)
	if err != nil {
		return err
	}
	base := g.URL()
	fmt.Fprintf(stdout, "Secure Input Gateway is running on %s\n", base)
	fmt.Fprintf(stdout, "  demo shop page: %s/demo/\n", base)
	fmt.Fprintf(stdout, "  agent console:  %s/console/\n", base)
	if cfg.Telephony != nil && cfg.Telephony.Demo {
		fmt.Fprintf(stdout, "  demo phone:     %s/demo/phone/\n", base)
	}
	if *configFile == "" {
		fmt.Fprintf(stdout, "  demo agent:     login demo, password demo\n")
	}
	fmt.Fprintf(stdout, "  metrics:        %s\n", g.MetricsURL())
	fmt.Fprintf(stdout, "  data:           %s\n", cfg.Data)
	fmt.Fprintf(stdout, "  keys:           %s (%s)\n", g.keks.source, g.keks.current.ID())
	if g.keks.created {
		fmt.Fprintf(stdout, "                  created now: a new key-encryption key, beside the data; in production keep it\n"+
			"                  elsewhere (keys.kek in the configuration, docs/operations.md#keys)\n")
	} else if cfg.Keys.KEK == nil {
		fmt.Fprintf(stdout, "                  beside the data; in production keep it elsewhere (keys.kek, docs/operations.md#keys)\n")
	}
	stop := context.AfterFunc(ctx, func() { fmt.Fprintln(stdout, "shutting down") })
	defer stop()
	return g.Run(ctx)
}

// readSecret reads a secret from the environment variable env or, if env is
// empty, from file.
func readSecret(env, file string) (string, error) {
	if env != "" {
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return v, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// tlsWithCA trusts the PEM certificates of file.
func tlsWithCA(file string) (*tls.Config, error) {
	pool, err := pemPool(file)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// pemPool reads the PEM certificates of file into a pool: a mailbox's CA,
// the vault's client CA.
func pemPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, errors.New(fileProblem(file, err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}
