package redact

import (
	"bufio"
	"errors"
	"io"
	"unicode/utf8"
)

// Chunk sizes of Copy: it redacts whole lines, gathered until a chunk holds
// at least ChunkTarget bytes; a single line longer than MaxChunk is cut.
const (
	ChunkTarget = 64 << 10
	MaxChunk    = 1 << 20
	// cutSearch is how far back from MaxChunk Copy looks for a place to cut
	// an overlong line where no card number can straddle the cut.
	cutSearch = 4 << 10
)

// CopyStats says what Copy did.
type CopyStats struct {
	Bytes  int64 // bytes read
	Chunks int   // texts redacted
	Spans  int   // matches masked
	Failed int   // chunks that could not be redacted and were fully masked
}

// Copy redacts src into dst as a stream: it reads whole lines, gathers them
// into chunks of about ChunkTarget bytes, redacts each chunk as one text (so
// the time limit applies per chunk) and writes it, so memory stays flat
// whatever the input size. A line longer than MaxChunk is cut where no card
// number can straddle the cut (an administrator expression might; see
// docs/redaction.md). A chunk that cannot be redacted is written fully
// masked (MaskAll) and reported to report (if not nil) with its offset; Copy
// goes on. The returned error is a read or write error only.
func (e *Engine) Copy(dst io.Writer, src io.Reader, report func(offset int64, err error)) (CopyStats, error) {
	var st CopyStats
	r := bufio.NewReaderSize(src, ChunkTarget)
	w := bufio.NewWriterSize(dst, ChunkTarget)
	chunk := make([]byte, 0, ChunkTarget+4096)
	var out []byte
	var spans []Span
	var offset int64

	flush := func(n int) error {
		var err error
		out, spans, err = e.AppendRedact(out[:0], chunk[:n], spans[:0])
		st.Chunks++
		st.Spans += len(spans)
		if err != nil {
			st.Failed++
			if report != nil {
				report(offset, err)
			}
		}
		offset += int64(n)
		if _, werr := w.Write(out); werr != nil {
			return werr
		}
		chunk = append(chunk[:0], chunk[n:]...)
		return nil
	}

	for {
		line, err := r.ReadSlice('\n')
		st.Bytes += int64(len(line))
		chunk = append(chunk, line...)
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) && !errors.Is(err, io.EOF) {
			return st, err
		}
		lineDone := err == nil
		switch {
		case errors.Is(err, io.EOF):
			if len(chunk) > 0 {
				if ferr := flush(len(chunk)); ferr != nil {
					return st, ferr
				}
			}
			return st, w.Flush()
		case len(chunk) >= MaxChunk:
			if ferr := flush(safeCut(chunk)); ferr != nil {
				return st, ferr
			}
		case lineDone && len(chunk) >= ChunkTarget:
			if ferr := flush(len(chunk)); ferr != nil {
				return st, ferr
			}
		}
	}
}

// safeCut returns where to cut an overlong line: just after the last byte,
// within cutSearch of the end, that is neither a digit nor a card
// separator, nor part of a multi-byte character; failing that, at the last
// character boundary.
func safeCut(b []byte) int {
	for i := len(b); i > 0 && i > len(b)-cutSearch; i-- {
		c := b[i-1]
		if c < utf8.RuneSelf && (c < '0' || c > '9') && c != ' ' && c != '-' && c != '.' {
			return i
		}
	}
	i := len(b)
	for i > 0 && !utf8.RuneStart(b[i-1]) {
		i--
	}
	if i > 0 && !utf8.FullRune(b[i-1:]) {
		return i - 1
	}
	return len(b)
}
