package mail

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	message "github.com/emersion/go-message"
)

// FuzzRedactMail: Redact never panics, what it returns always parses down
// to every part, and redacting it again finds nothing left to mask.
func FuzzRedactMail(f *testing.F) {
	files, _ := filepath.Glob("testdata/corpus/*.eml")
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	f.Add([]byte("Subject: =?utf-8?q?4111_1111_1111_1111?=\r\n\r\nx"))
	f.Add([]byte("From x\nContent-Type: multipart/mixed; boundary=a\n\npre 4111111111111111\n--a\nContent-Type: text/html\n\n<a title=4111&#32;1111>1111<!---->1111</a>\n--a--\nepi"))
	f.Add([]byte("Content-Type: text/plain; format=flowed\r\nContent-Transfer-Encoding: 8 bits\r\n\r\n4111 1111 \r\n1111 1111\r\n"))
	r := newRedactor(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		out, _, err := r.Redact(src)
		if err != nil {
			return
		}
		if _, again, err := r.Redact(out); err == nil && again.Spans > 0 {
			t.Fatalf("the output still holds %d matches:\n%q\nfrom %q", again.Spans, out, src)
		}
		e, err := message.Read(bytes.NewReader(out))
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			// The input did not parse either? Then Redact must have refused it.
			if _, ierr := message.Read(bytes.NewReader(src)); ierr == nil {
				t.Fatalf("output does not parse: %v\n%q", err, out)
			}
			return
		}
		if e != nil {
			e.Walk(func(path []int, part *message.Entity, err error) error {
				if err == nil {
					io.Copy(io.Discard, part.Body)
				}
				return nil
			})
		}
	})
}
