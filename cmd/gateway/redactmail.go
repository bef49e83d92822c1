package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/secureinput/gateway/mail"
)

const redactMailUsage = `usage: gateway redact-mail [flags] < in.eml > out.eml

Reads one message (RFC 5322, MIME) on stdin and writes it on stdout with every
card number (and every match of the given expressions) masked in every text
and text-like part, attached message and header field. The MIME structure
is kept; binary attachments pass through unchanged. A message beyond what
can be read (nesting, parts) is written as a degraded copy (every header
redacted, the body as masked plain text, an X-Gateway-Degraded header), or
with -unparsable fail gives no output and exit status 1, as does a message
whose redaction fails.

flags:
`

// runRedactMail is `gateway redact-mail`.
func runRedactMail(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("redact-mail", flag.ContinueOnError)
	ef := addEngineFlags(fs)
	maxSize := fs.Int("max-size", mail.DefaultMaxSize, "largest message in `bytes`")
	verbose := fs.Bool("v", false, "print what was masked (counts only) on stderr")
	unparsable := fs.String("unparsable", "degrade", "what to do with a message that cannot be read: `degrade` or fail")
	if err := parseFlags(fs, args, stdout, redactMailUsage); err != nil {
		return err
	}
	if *unparsable != "degrade" && *unparsable != "fail" {
		return usagef("-unparsable must be degrade or fail, not %q", *unparsable)
	}
	engine, err := ef.engine()
	if err != nil {
		return err
	}
	src, err := io.ReadAll(io.LimitReader(stdin, int64(*maxSize)+1))
	if err != nil {
		return fmt.Errorf("reading the message: %w", err)
	}
	r := &mail.Redactor{Engine: engine, MaxSize: *maxSize}
	out, rep, err := r.Redact(src)
	if errors.Is(err, mail.ErrMalformed) && *unparsable == "degrade" {
		fmt.Fprintf(stderr, "gateway redact-mail: %v: writing a degraded copy\n", err)
		out, rep, err = r.Degrade(src, err.Error())
	}
	if err != nil {
		return err // names the problem, never the content
	}
	if _, err := stdout.Write(out); err != nil {
		return err
	}
	if !*verbose {
		return nil
	}
	fmt.Fprintf(stderr, "gateway redact-mail: %d parts, %d text parts, %d headers changed, %d matches masked\n",
		rep.Parts, rep.TextParts, rep.Headers, rep.Spans)
	return nil
}
