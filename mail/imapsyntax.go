package mail

import (
	"bufio"
	"encoding/base64"
	"errors"
	"io"
	"strconv"
	"strings"
)

// The IMAP syntax the appender reads and writes beyond commands: response
// lines with their literals, and modified UTF-7 folder names.

// readLine reads one response line without its CRLF. A literal in it is
// read and dropped, its place kept as "{}".
func (a *appender) readLine() (string, error) {
	var sb strings.Builder
	decided, data := false, false
	for {
		part, err := a.r.ReadSlice('\n')
		if sb.Len()+len(part) > maxResponseLine {
			return "", errors.New("response line too long")
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			sb.Write(part)
			continue
		}
		if err != nil {
			return "", err
		}
		sb.Write(part)
		line := strings.TrimRight(sb.String(), "\r\n")
		if !decided {
			decided, data = true, mayHoldLiteral(line)
		}
		if !data {
			return line, nil
		}
		n, ok := literalSize(line)
		if !ok {
			return line, nil
		}
		if n > maxResponseLiteral {
			return "", errors.New("literal in a response too large")
		}
		if _, err := io.CopyN(io.Discard, a.r, int64(n)); err != nil {
			return "", err
		}
		sb.Reset()
		sb.WriteString(line[:strings.LastIndexByte(line, '{')] + "{}")
	}
}

// mayHoldLiteral reports whether a response line can hold a literal: only
// untagged data can ("* 1 FETCH (BODY[] {12}"); the text of a status
// response, a continuation request or a tagged completion cannot, so
// "g1 NO [LIMIT] max {35651584}" is a refusal, not a literal.
func mayHoldLiteral(line string) bool {
	rest, ok := strings.CutPrefix(line, "* ")
	if !ok {
		return false
	}
	word, _, _ := strings.Cut(rest, " ")
	switch strings.ToUpper(word) {
	case "OK", "NO", "BAD", "BYE", "PREAUTH", "CAPABILITY":
		return false
	}
	return true
}

// literalSize reports the size of the literal a response line ends with.
func literalSize(line string) (int, bool) {
	if !strings.HasSuffix(line, "}") {
		return 0, false
	}
	open := strings.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(line[open+1:len(line)-1], "+"))
	return n, err == nil && n >= 0
}

// clip bounds server text quoted in an error.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// encodeMailbox writes a mailbox name in modified UTF-7 (RFC 3501 5.1.3):
// printable ASCII as is, "&" as "&-", the rest as base64 of UTF-16.
func encodeMailbox(name string) string {
	var sb strings.Builder
	var run []uint16
	flush := func() {
		if len(run) == 0 {
			return
		}
		b := make([]byte, 0, 2*len(run))
		for _, u := range run {
			b = append(b, byte(u>>8), byte(u))
		}
		s := base64.RawStdEncoding.EncodeToString(b)
		sb.WriteString("&" + strings.ReplaceAll(s, "/", ",") + "-")
		run = run[:0]
	}
	for _, r := range name {
		if r >= 0x20 && r <= 0x7e {
			flush()
			if r == '&' {
				sb.WriteString("&-")
			} else {
				sb.WriteRune(r)
			}
			continue
		}
		if r >= 0x10000 {
			r -= 0x10000
			run = append(run, uint16(0xd800+(r>>10)), uint16(0xdc00+(r&0x3ff)))
		} else {
			run = append(run, uint16(r))
		}
	}
	flush()
	return sb.String()
}
