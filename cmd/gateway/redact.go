package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/secureinput/gateway/redact"
)

// errSomeFailed: some chunk or line could not be redacted; each was
// reported on stderr (or as a JSONL error line) and the run exits 1.
var errSomeFailed = errors.New("some input could not be redacted")

const redactUsage = `usage: gateway redact [flags] < input > output

Reads text on stdin and writes it on stdout with every payment card number
(and every match of the given expressions) masked with '#'.

flags:
`

// exprList collects a repeatable --expr.
type exprList []string

func (l *exprList) String() string     { return strings.Join(*l, ", ") }
func (l *exprList) Set(s string) error { *l = append(*l, s); return nil }

// engineFlags are the redaction flags that redact and redact-mail share.
type engineFlags struct {
	noDefault *bool
	exprs     exprList
	exprFile  *string
	timeout   *time.Duration
}

func addEngineFlags(fs *flag.FlagSet) *engineFlags {
	ef := &engineFlags{}
	ef.noDefault = fs.Bool("no-default", false, "do not redact card numbers (use only --expr / --expr-file)")
	fs.Var(&ef.exprs, "expr", "an additional `REGEX` (.NET syntax, lookarounds allowed) to redact; repeatable")
	ef.exprFile = fs.String("expr-file", "", "read additional expressions from `FILE`: one a line, blank lines and lines starting with # ignored")
	ef.timeout = fs.Duration("timeout", redact.DefaultTimeout, "time limit for the expressions on one text (chunk, JSONL line, message part)")
	return ef
}

// engine builds the engine the flags describe; mistakes are usage errors.
func (ef *engineFlags) engine() (*redact.Engine, error) {
	if *ef.timeout <= 0 {
		return nil, usagef("--timeout %v: must be positive", *ef.timeout)
	}
	exprs := ef.exprs
	if *ef.exprFile != "" {
		fromFile, err := readExprFile(*ef.exprFile)
		if err != nil {
			return nil, err
		}
		exprs = append(exprs, fromFile...)
	}
	engine, err := redact.New(redact.Config{Default: !*ef.noDefault, Additional: exprs, Timeout: *ef.timeout})
	if err != nil {
		if errors.Is(err, redact.ErrNoDetector) {
			return nil, usagef("--no-default needs --expr or --expr-file: nothing would be redacted")
		}
		return nil, usagef("%v", err)
	}
	return engine, nil
}

func runRedact(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("redact", flag.ContinueOnError)
	ef := addEngineFlags(fs)
	jsonl := fs.Bool("jsonl", false, `read lines {"id": …, "text": …} and write {"id": …, "text": …, "spans": […]}`)
	if err := parseFlags(fs, args, stdout, redactUsage); err != nil {
		return err
	}
	engine, err := ef.engine()
	if err != nil {
		return err
	}
	if *jsonl {
		return redactJSONL(ctx, engine, stdin, stdout, stderr)
	}
	failed := false
	_, err = engine.Copy(stdout, stdin, func(offset int64, err error) {
		failed = true
		fmt.Fprintf(stderr, "gateway redact: chunk at byte %d withheld (written fully masked): %v\n", offset, err)
	})
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if failed {
		return errSomeFailed
	}
	return nil
}

// readExprFile reads one expression a line; blank lines and lines whose
// first non-blank character is '#' are skipped. An expression that must
// start with '#' is written "\#".
func readExprFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("--expr-file: %v", err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		out = append(out, line)
	}
	if len(out) == 0 {
		return nil, usagef("--expr-file %s: no expression in the file", path)
	}
	return out, nil
}

// MaxJSONLLine bounds one JSONL input line.
const MaxJSONLLine = 16 << 20

// jsonlIn is one input line of --jsonl.
type jsonlIn struct {
	ID   json.RawMessage `json:"id"`
	Text *string         `json:"text"`
}

// jsonlOut is one output line of --jsonl. Error lines carry Line (the input
// line number, from 1) and Error; a text that could not be redacted comes
// back fully masked with Error set.
type jsonlOut struct {
	ID    json.RawMessage `json:"id"`
	Text  *string         `json:"text,omitempty"`
	Spans []redact.Span   `json:"spans,omitempty"`
	Line  int             `json:"line,omitempty"`
	Error string          `json:"error,omitempty"`
}

func redactJSONL(ctx context.Context, engine *redact.Engine, stdin io.Reader, stdout, stderr io.Writer) error {
	r := bufio.NewReaderSize(stdin, 64<<10)
	w := bufio.NewWriterSize(stdout, 64<<10)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var line []byte
	var out []byte
	var spans []redact.Span
	failed := false
	for lineNo := 1; ; lineNo++ {
		if err := ctx.Err(); err != nil {
			w.Flush()
			return err
		}
		var tooLong bool
		var readErr error
		line, tooLong, readErr = readLine(r, line[:0], MaxJSONLLine)
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			w.Flush()
			return fmt.Errorf("read: %w", readErr)
		}
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) > 0 || tooLong {
			res := jsonlOut{ID: json.RawMessage("null")}
			var in jsonlIn
			switch {
			case tooLong:
				res.Line, res.Error = lineNo, fmt.Sprintf("line longer than %d bytes", MaxJSONLLine)
			case json.Unmarshal(trimmed, &in) != nil:
				// The decoder's message is not repeated: it may quote the input.
				res.Line, res.Error = lineNo, "not a JSON object"
				if json.Valid(trimmed) {
					res.Error = `want an object {"id": …, "text": "…"}`
				}
			case in.Text == nil:
				res.Line, res.Error = lineNo, `missing "text" (a string)`
			}
			if len(in.ID) > 0 {
				res.ID = in.ID
			}
			if res.Error == "" {
				var err error
				out, spans, err = engine.AppendRedact(out[:0], []byte(*in.Text), spans[:0])
				text := string(out)
				res.Text, res.Spans = &text, spans
				if res.Spans == nil {
					res.Spans = []redact.Span{}
				}
				if err != nil {
					res.Line, res.Error, res.Spans = lineNo, err.Error(), nil
				}
			}
			if res.Error != "" {
				failed = true
			}
			if err := encodeJSONL(enc, res); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
		if errors.Is(readErr, io.EOF) {
			break
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if failed {
		fmt.Fprintln(stderr, "gateway redact: some lines failed; see their \"error\" fields")
		return errSomeFailed
	}
	return nil
}

// encodeJSONL writes res; successful lines always carry "spans" (possibly
// empty).
func encodeJSONL(enc *json.Encoder, res jsonlOut) error {
	if res.Error == "" {
		return enc.Encode(struct {
			ID    json.RawMessage `json:"id"`
			Text  string          `json:"text"`
			Spans []redact.Span   `json:"spans"`
		}{res.ID, *res.Text, res.Spans})
	}
	return enc.Encode(res)
}

// readLine appends the next line (without its '\n') to buf. A line longer
// than max is read to its end but not kept: tooLong is set and buf holds
// only its start. At the end of input it returns io.EOF with the last,
// possibly empty, line.
func readLine(r *bufio.Reader, buf []byte, max int) (_ []byte, tooLong bool, err error) {
	for {
		part, err := r.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(part) > max+1 {
				tooLong = true
			} else {
				buf = append(buf, part...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		return buf, tooLong, err
	}
}
