package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/secureinput/gateway/store"
)

// page is how many records Verify and Export read at a time.
const page = 1000

// Report is what Verify found.
type Report struct {
	Records int   // records checked
	First   int64 // seq of the first record (later than 1 once old ones were pruned)
	Last    int64
	// Head is the hash of the last record: an operator who notes it
	// (or a SIEM that received it) can tell later that nothing after it was
	// rewritten.
	Head string
	// Broken is the seq of the first record that does not hold, 0 if all
	// do; Problem says what is wrong with it.
	Broken  int64
	Problem string
}

// OK reports whether the whole chain holds.
func (r Report) OK() bool { return r.Broken == 0 }

// Verify walks the whole trail and checks every record's hash, that each
// holds the hash of the one before and that the seqs follow one another.
// The first record's own predecessor cannot be checked once older records
// were pruned (First > 1).
func Verify(ctx context.Context, st Store) (Report, error) {
	var rep Report
	var prevHash []byte
	var prevSeq int64
	for after := int64(0); ; {
		recs, err := st.AuditRecords(ctx, after, page)
		if err != nil {
			return rep, fmt.Errorf("audit: verify: %w", err)
		}
		for _, r := range recs {
			if rep.Records == 0 {
				rep.First = r.Seq
				if r.Seq == 1 && !bytes.Equal(r.Prev, make([]byte, len(r.Prev))) {
					rep.Broken, rep.Problem = r.Seq, "the first record does not start the chain"
					return rep, nil
				}
			} else {
				switch {
				case r.Seq != prevSeq+1:
					rep.Broken, rep.Problem = r.Seq, fmt.Sprintf("records %d to %d are missing", prevSeq+1, r.Seq-1)
					return rep, nil
				case !bytes.Equal(r.Prev, prevHash):
					rep.Broken, rep.Problem = r.Seq, fmt.Sprintf("it does not hold the hash of record %d", prevSeq)
					return rep, nil
				}
			}
			if !bytes.Equal(r.Sum(), r.Hash) {
				rep.Broken, rep.Problem = r.Seq, "its content does not match its hash: it was changed"
				return rep, nil
			}
			rep.Records++
			rep.Last, prevSeq, prevHash = r.Seq, r.Seq, r.Hash
			rep.Head = hex.EncodeToString(r.Hash)
		}
		if len(recs) < page {
			return rep, nil
		}
		after = recs[len(recs)-1].Seq
	}
}

// ExportRecord is one line of Export.
type ExportRecord struct {
	Seq     int64  `json:"seq"`
	Time    string `json:"time"` // RFC 3339, UTC, milliseconds
	Actor   string `json:"actor"`
	Action  string `json:"action"`
	Outcome string `json:"outcome"`
	Source  string `json:"source"`
	Target  string `json:"target,omitempty"`
	Detail  string `json:"detail,omitempty"`
	Prev    string `json:"prev"`
	Hash    string `json:"hash"`
}

// Export writes the records with seq > after, one JSON object a line, in
// order, and returns the last seq written (after, if none): a SIEM
// collector passes it back to fetch only what is new.
func Export(ctx context.Context, st Store, w io.Writer, after int64) (int64, error) {
	enc := json.NewEncoder(w)
	for {
		recs, err := st.AuditRecords(ctx, after, page)
		if err != nil {
			return after, fmt.Errorf("audit: export: %w", err)
		}
		for _, r := range recs {
			if err := enc.Encode(exportOf(r)); err != nil {
				return after, fmt.Errorf("audit: export: %w", err)
			}
			after = r.Seq
		}
		if len(recs) < page {
			return after, nil
		}
	}
}

func exportOf(r store.AuditRecord) ExportRecord {
	return ExportRecord{Seq: r.Seq, Time: r.At.UTC().Format("2006-01-02T15:04:05.000Z07:00"), Actor: r.Actor, Action: r.Action,
		Outcome: r.Outcome, Source: r.Source, Target: r.Target, Detail: r.Detail,
		Prev: hex.EncodeToString(r.Prev), Hash: hex.EncodeToString(r.Hash)}
}
