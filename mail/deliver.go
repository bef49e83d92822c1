package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/secureinput/gateway/store"
)

// Bounds of one batch: the messages fetched, redacted, appended and removed
// together, with one state commit before and one after.
const (
	batchMessages = 100
	batchBytes    = 16 << 20
	// appendWindow is how many APPENDs may be in flight at once.
	appendWindow = 8
	// settle is how long the destination folder must keep its message count
	// before a recovering ingest looks for copies there, and settleMax how
	// long it waits at most.
	settle    = 250 * time.Millisecond
	settleMax = 10 * time.Second
)

// Delivery is the IMAP side of moving messages through, one batch a call
// each: the source is read and cleaned up, the destination receives copies.
// The ingest drives it; imapDelivery is the real one, and a test's fake can
// fail at any step.
type Delivery interface {
	// Fetch returns the messages of uids that are still in the source (one
	// UID FETCH of the set).
	Fetch(ctx context.Context, uids []imap.UID) ([]Fetched, error)
	// Append delivers copies to the destination folder; when it returns nil,
	// the server confirmed every one.
	Append(ctx context.Context, copies []Copy) error
	// Remove moves or deletes the originals uids (one UID MOVE of the set).
	Remove(ctx context.Context, uids []imap.UID) error
	// Flag adds keyword to originals that stay in the source.
	Flag(ctx context.Context, uids []imap.UID, keyword string) error
	// Delivered reports which of tags already have a copy in the destination
	// (after a crash between Append and the commit that follows Remove).
	Delivered(ctx context.Context, tags []string) (map[string]bool, error)
}

// Fetched is one message read from the source.
type Fetched struct {
	UID   imap.UID
	Body  []byte
	Flags []imap.Flag
	Date  time.Time
}

// Copy is one redacted copy to deliver; Tag is its SourceHeader value.
type Copy struct {
	Tag   string
	Body  []byte
	Flags []imap.Flag
	Date  time.Time
}

// StateStore keeps where each ingest stands; *store.Store is the one the
// gateway uses.
type StateStore interface {
	MailState(ctx context.Context, mailbox string) (store.MailState, error)
	Write(ctx context.Context, name string, fn func(*store.Tx) error) error
}

// batch moves one batch of messages through: fetch, redact, commit the
// batch as pending, append the copies, remove the originals, commit it as
// done. A message that cannot be redacted is flagged and stays. After a
// crash the pending mark makes the next run look for copies already
// delivered, so none is delivered twice and no original is removed before
// its copy was confirmed.
func (g *Ingester) batch(ctx context.Context, d Delivery, st *store.MailState, uids []imap.UID) (done, failed int, err error) {
	if len(uids) == 0 {
		return 0, 0, nil
	}
	recovering := st.PendingUID != 0
	msgs, err := d.Fetch(ctx, uids)
	if err != nil {
		return 0, 0, fmt.Errorf("fetch UIDs %d:%d: %w", uids[0], uids[len(uids)-1], err)
	}
	var copies []Copy
	var ok, bad []imap.UID
	for _, m := range msgs {
		c, err := g.redactOne(m, st.UIDValidity)
		if err != nil {
			g.log.Error("mail: message not delivered: it stays in the source, flagged", slog.Uint64("uid", uint64(m.UID)),
				slog.String("keyword", g.cfg.FailedKeyword), slog.Any("reason", err), slog.String("fail_closed", "redaction"))
			bad = append(bad, m.UID)
			continue
		}
		copies = append(copies, c)
		ok = append(ok, m.UID)
	}
	if len(bad) > 0 {
		if err := d.Flag(ctx, bad, g.cfg.FailedKeyword); err != nil {
			return 0, 0, fmt.Errorf("flag %d messages: %w", len(bad), err)
		}
	}
	last := uint32(uids[len(uids)-1])
	if recovering {
		tags := make([]string, len(copies))
		for i, c := range copies {
			tags[i] = c.Tag
		}
		there, err := d.Delivered(ctx, tags)
		if err != nil {
			return 0, 0, fmt.Errorf("look for copies delivered before a restart: %w", err)
		}
		if len(there) > 0 {
			g.log.Info("mail: copies already delivered before a restart; not delivering them again", slog.Int("copies", len(there)))
		}
		copies = slices.DeleteFunc(copies, func(c Copy) bool { return there[c.Tag] })
	} else {
		st.PendingUID = last
		if err := g.save(ctx, *st); err != nil {
			return 0, 0, err
		}
	}
	if err := d.Append(ctx, copies); err != nil {
		return 0, 0, fmt.Errorf("append %d copies: %w", len(copies), err)
	}
	// Only now, with every copy confirmed, the originals go.
	if len(ok) > 0 {
		if err := d.Remove(ctx, ok); err != nil {
			return 0, 0, fmt.Errorf("remove %d originals: %w", len(ok), err)
		}
	}
	st.LastUID, st.PendingUID = last, 0
	if err := g.save(ctx, *st); err != nil {
		return 0, 0, err
	}
	return len(ok), len(bad), nil
}

// redactOne makes the copy of one message: redacted (or, if it cannot be
// read and the mailbox says so, degraded) and tagged.
func (g *Ingester) redactOne(m Fetched, uidValidity uint32) (Copy, error) {
	out, _, err := g.redactor.Redact(m.Body)
	if errors.Is(err, ErrMalformed) && g.cfg.Unparsable == UnparsableDegrade {
		g.log.Warn("mail: message not readable: delivering a degraded copy", slog.Uint64("uid", uint64(m.UID)), slog.Any("reason", err))
		out, _, err = g.redactor.Degrade(m.Body, err.Error())
	}
	if err != nil {
		return Copy{}, err
	}
	tag := fmt.Sprintf("%s/%d/%d", g.cfg.Name, uidValidity, m.UID)
	var flags []imap.Flag
	for _, f := range m.Flags {
		switch {
		case strings.EqualFold(string(f), `\Recent`), f == imap.Flag(g.cfg.FailedKeyword):
		case !validFlag(string(f)):
			g.log.Warn("mail: a flag that is not an IMAP atom is not copied", slog.Uint64("uid", uint64(m.UID)))
		default:
			flags = append(flags, f)
		}
	}
	body := append([]byte(SourceHeader+": "+tag+"\r\n"), withoutEnvelope(out)...)
	return Copy{Tag: tag, Body: body, Flags: flags, Date: m.Date}, nil
}

// validFlag reports whether f can be written in an APPEND's flag list: an
// atom, or "\" and an atom (RFC 3501 9: no space, control, non-ASCII byte or
// any of (){%*"\]).
func validFlag(f string) bool {
	f = strings.TrimPrefix(f, `\`)
	if f == "" {
		return false
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// imapDelivery is Delivery over two IMAP sessions, src with the source
// folder selected, and an appender on the destination when it has
// MULTIAPPEND or LITERAL+.
type imapDelivery struct {
	src, dst   *imapclient.Client
	multi      *appender
	destFolder string
	after      string // move or delete
	moveTo     string
}

// settle waits until the destination's message count stays the same for
// settle (at most settleMax).
func (d *imapDelivery) settle(ctx context.Context) error {
	count := func() (uint32, error) {
		data, err := d.dst.Status(d.destFolder, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			return 0, fmt.Errorf("status %s: %w", d.destFolder, err)
		}
		return *data.NumMessages, nil
	}
	prev, err := count()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(settleMax)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(settle):
		}
		n, err := count()
		if err != nil {
			return err
		}
		if n == prev {
			return nil
		}
		prev = n
	}
	return nil
}

func uidSet(uids []imap.UID) imap.UIDSet {
	var s imap.UIDSet
	for _, u := range uids {
		s.AddNum(u)
	}
	return s
}

func (d *imapDelivery) Fetch(_ context.Context, uids []imap.UID) ([]Fetched, error) {
	msgs, err := d.src.Fetch(uidSet(uids), &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		return nil, err
	}
	out := make([]Fetched, 0, len(msgs))
	for _, m := range msgs {
		if len(m.BodySection) == 0 {
			continue
		}
		out = append(out, Fetched{UID: m.UID, Body: m.BodySection[0].Bytes, Flags: m.Flags, Date: m.InternalDate})
	}
	slices.SortFunc(out, func(a, b Fetched) int { return int(a.UID) - int(b.UID) })
	return out, nil
}

// Append sends the batch through the appender when there is one (one
// MULTIAPPEND: the server saves all or none; or LITERAL+ APPENDs). Else it
// pipelines go-imap's APPENDs, at most appendWindow in flight: a command is
// sent before the replies to the ones before it came. The window bounds
// what a server may still carry out after the gateway died (see
// Delivered).
func (d *imapDelivery) Append(ctx context.Context, copies []Copy) error {
	if d.multi != nil {
		return d.multi.appendAll(ctx, d.destFolder, copies)
	}
	return pipelined(len(copies), func(i int) (func() error, error) {
		c := copies[i]
		cmd := d.dst.Append(d.destFolder, int64(len(c.Body)), &imap.AppendOptions{Flags: c.Flags, Time: c.Date})
		_, err := cmd.Write(c.Body)
		if cerr := cmd.Close(); err == nil {
			err = cerr
		}
		return func() error { _, err := cmd.Wait(); return err }, err
	})
}

// pipelined sends n commands, send(i) sending the i-th and returning how to
// await its answer, with at most appendWindow sent and unanswered. It stops
// sending at the first error, awaits what is in flight and returns that
// error.
func pipelined(n int, send func(i int) (wait func() error, err error)) error {
	var inFlight []func() error
	var first error
	await := func() {
		if err := inFlight[0](); err != nil && first == nil {
			first = err
		}
		inFlight = inFlight[1:]
	}
	for i := 0; i < n && first == nil; i++ {
		if len(inFlight) == appendWindow {
			await()
			if first != nil {
				break
			}
		}
		wait, err := send(i)
		if wait != nil {
			inFlight = append(inFlight, wait)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	for len(inFlight) > 0 {
		await()
	}
	return first
}

func (d *imapDelivery) Remove(_ context.Context, uids []imap.UID) error {
	set := uidSet(uids)
	if d.after == "move" {
		if d.src.Caps().Has(imap.CapMove) {
			_, err := d.src.Move(set, d.moveTo).Wait()
			return err
		}
		if _, err := d.src.Copy(set, d.moveTo).Wait(); err != nil {
			return err
		}
	}
	if err := d.src.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		return err
	}
	if d.src.Caps().Has(imap.CapUIDPlus) {
		return d.src.UIDExpunge(set).Close()
	}
	return d.src.Expunge().Close()
}

func (d *imapDelivery) Flag(_ context.Context, uids []imap.UID, keyword string) error {
	return d.src.Store(uidSet(uids), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.Flag(keyword)}}, nil).Close()
}

// Delivered searches the destination for each tag (pipelined) and reads the
// header of what matched, since IMAP's header search matches substrings.
// First it waits until the folder's message count holds still for settle:
// APPENDs a killed gateway had in flight may still be carried out by the
// server after its death, and the search must see them.
func (d *imapDelivery) Delivered(ctx context.Context, tags []string) (map[string]bool, error) {
	if err := d.settle(ctx); err != nil {
		return nil, err
	}
	if _, err := d.dst.Select(d.destFolder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return nil, fmt.Errorf("select %s: %w", d.destFolder, err)
	}
	defer func() { d.dst.Unselect().Wait() }()
	cmds := make([]*imapclient.SearchCommand, len(tags))
	for i, tag := range tags {
		cmds[i] = d.dst.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: SourceHeader, Value: tag}}}, nil)
	}
	var found imap.UIDSet
	for _, cmd := range cmds {
		data, err := cmd.Wait()
		if err != nil {
			return nil, fmt.Errorf("search %s: %w", d.destFolder, err)
		}
		for _, u := range data.AllUIDs() {
			found.AddNum(u)
		}
	}
	there := map[string]bool{}
	if len(found) == 0 {
		return there, nil
	}
	section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{SourceHeader}, Peek: true}
	msgs, err := d.dst.Fetch(found, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", d.destFolder, err)
	}
	for _, m := range msgs {
		for _, b := range m.BodySection {
			if tag := tagOf(bytes.TrimLeft(b.Bytes, "\r\n")); tag != "" {
				there[tag] = true
			}
		}
	}
	return there, nil
}
