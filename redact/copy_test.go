package redact

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
)

// repeatReader yields pattern over and over until n bytes.
type repeatReader struct {
	pattern []byte
	n, off  int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	written := 0
	for written < len(p) && r.off < r.n {
		i := int(r.off % int64(len(r.pattern)))
		c := copy(p[written:], r.pattern[i:])
		if rem := r.n - r.off; int64(c) > rem {
			c = int(rem)
		}
		written += c
		r.off += int64(c)
	}
	return written, nil
}

// countWriter counts bytes and '#'s.
type countWriter struct{ n, hashes int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	w.hashes += int64(bytes.Count(p, []byte{'#'}))
	return len(p), nil
}

// TestCopyMemoryIsFlat streams 256 MiB through Copy and checks that what it
// allocates does not grow with the input: the same bound holds for 256 MiB
// as for a 10 GB input.
func TestCopyMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 256 MiB")
	}
	e := mustNew(t, DefaultConfig())
	line := []byte("order 100045678 paid with 4111 1111 1111 1111 on 2024-11-24, thanks!\n")
	const size = 256 << 20
	src := &repeatReader{pattern: line, n: size}
	var dst countWriter
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	st, err := e.Copy(&dst, src, nil)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bytes != size || dst.n != size {
		t.Fatalf("read %d, wrote %d, want %d each", st.Bytes, dst.n, size)
	}
	lines := int64(size / len(line))
	if want := lines * 19; dst.hashes < want {
		t.Errorf("masked %d characters, want at least %d (every card)", dst.hashes, want)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("Copy allocated %d bytes for a %d-byte input; want a bound independent of input size (16 MiB)", alloc, size)
	}
	if st.Chunks < size/MaxChunk {
		t.Errorf("%d chunks for %d bytes: input not chunked", st.Chunks, size)
	}
}

// TestCopyFailsClosedPerChunk: a chunk the expression cannot finish is
// written fully masked and reported; the chunks around it are redacted
// normally, because the time limit applies per chunk.
func TestCopyFailsClosedPerChunk(t *testing.T) {
	e := mustNew(t, Config{Default: true, Additional: []string{`(a+)+$`}, Timeout: 250 * 1e6}) // (a+)+$ on 30 a's takes seconds; a good chunk under -race on a busy machine may take tens of ms
	normal := strings.Repeat("card 4111111111111111 is fine\n", ChunkTarget/30+1)
	evil := strings.Repeat("a", 30) + "b\n"
	in := normal + evil + normal
	var out bytes.Buffer
	var reports []int64
	st, err := e.Copy(&out, strings.NewReader(in), func(off int64, err error) {
		if !errors.Is(err, ErrTimeout) {
			t.Errorf("report %v, want ErrTimeout", err)
		}
		reports = append(reports, off)
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Failed != 1 || len(reports) != 1 {
		t.Fatalf("failed chunks %d, reports %v; want exactly one", st.Failed, reports)
	}
	got := out.String()
	if strings.Contains(got, "4111") {
		t.Fatal("a card number survived")
	}
	if strings.Contains(got, "aaaa") {
		t.Fatal("the failing chunk was not masked")
	}
	if n := strings.Count(got, "is fine\n"); n < strings.Count(normal, "\n") {
		t.Errorf("only %d lines of the good chunks kept their text", n)
	}
	if len(got) != len(in) || strings.Count(got, "\n") != strings.Count(in, "\n") {
		t.Errorf("shape changed: %d bytes / %d lines, want %d / %d", len(got), strings.Count(got, "\n"), len(in), strings.Count(in, "\n"))
	}
}

// TestCopyOverlongLine: a line longer than MaxChunk is cut where no card
// can straddle the cut, so every card in it is still masked.
func TestCopyOverlongLine(t *testing.T) {
	e := mustNew(t, DefaultConfig())
	unit := "x 4111-1111-1111-1111 y "
	in := strings.Repeat(unit, 3*MaxChunk/len(unit)) + "\n"
	var out bytes.Buffer
	st, err := e.Copy(&out, strings.NewReader(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Chunks < 3 {
		t.Errorf("%d chunks, want the line cut at least twice", st.Chunks)
	}
	if strings.Contains(out.String(), "1111") || out.Len() != len(in) {
		t.Errorf("a card survived the cut or the length changed (%d vs %d)", out.Len(), len(in))
	}
}

func TestSafeCut(t *testing.T) {
	b := []byte("abc 4111 1111 1111 1111")
	if got := safeCut(b); got != 3 {
		t.Errorf("safeCut = %d, want 3 (after 'c')", got)
	}
	b = []byte(strings.Repeat("1", 10) + "é"[:1]) // ends inside a character
	if got := safeCut(b); got != 10 {
		t.Errorf("safeCut = %d, want 10 (before the partial character)", got)
	}
}
