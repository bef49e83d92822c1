package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/secureinput/gateway/store"
)

// TLS modes of an Endpoint.
const (
	TLSImplicit = "implicit" // IMAPS, usually port 993
	TLSStartTLS = "starttls" // STARTTLS on the plain port
	TLSPlain    = "plain"    // no TLS: only to a loopback address
)

// Defaults of MailboxConfig.
const (
	DefaultPoll          = time.Minute
	DefaultFailedKeyword = "$RedactionFailed"
	// SourceHeader names the header every delivered copy carries: it lets a
	// restarted ingest see that a copy was already delivered.
	SourceHeader = "X-Gateway-Redacted"
)

// Endpoint is an IMAP account.
type Endpoint struct {
	Addr      string // host:port
	TLS       string // implicit, starttls or plain
	Username  string
	Password  string
	TLSConfig *tls.Config // nil: system roots, ServerName from Addr
}

// MailboxConfig is one mailbox to ingest.
type MailboxConfig struct {
	// Name identifies the mailbox in the store and the log.
	Name string
	// Source is the account read from, SourceFolder its folder (INBOX).
	Source       Endpoint
	SourceFolder string
	// Dest is the account delivered to (nil: the source account) and
	// DestFolder the folder.
	Dest       *Endpoint
	DestFolder string
	// After says what happens to an original once its copy is delivered:
	// "move" (to MoveTo) or "delete" (flagged \Deleted and expunged).
	After  string
	MoveTo string
	// Poll is how often the source is checked when the server has no IDLE
	// (and at most how long an IDLE lasts). DefaultPoll if zero.
	Poll time.Duration
	// FailedKeyword flags a message that could not be redacted; it stays in
	// the source and is not tried again. DefaultFailedKeyword if empty.
	FailedKeyword string
}

// Progress is how far a pass over a mailbox got.
type Progress struct {
	Done, Failed, Total int
	Rate                float64       // messages a second
	Left                time.Duration // estimated
}

// Ingester moves the messages of one mailbox through redaction to their
// destination. Delivery is a transaction: fetch, redact, APPEND, and only
// once the server confirmed the APPEND is the original moved or deleted; the
// store records how far it got, so a crash at any point loses no message
// and delivers none twice.
type Ingester struct {
	cfg      MailboxConfig
	redactor MessageRedactor
	store    *store.Store
	log      *slog.Logger
	// OnProgress, if set, is called after each message.
	OnProgress func(Progress)
}

// MessageRedactor redacts one whole message; *Redactor is the one the
// gateway uses.
type MessageRedactor interface {
	Redact(src []byte) ([]byte, Report, error)
}

// NewIngester checks cfg.
func NewIngester(cfg MailboxConfig, r MessageRedactor, st *store.Store, log *slog.Logger) (*Ingester, error) {
	if cfg.Name == "" {
		return nil, errors.New("mail: mailbox has no name")
	}
	if cfg.SourceFolder == "" {
		cfg.SourceFolder = "INBOX"
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.FailedKeyword == "" {
		cfg.FailedKeyword = DefaultFailedKeyword
	}
	if cfg.DestFolder == "" {
		return nil, fmt.Errorf("mail: mailbox %s: no destination folder", cfg.Name)
	}
	switch cfg.After {
	case "move":
		if cfg.MoveTo == "" {
			return nil, fmt.Errorf("mail: mailbox %s: after: move needs move_to", cfg.Name)
		}
	case "delete":
	default:
		return nil, fmt.Errorf("mail: mailbox %s: after must be move or delete, not %q", cfg.Name, cfg.After)
	}
	if cfg.Dest == nil && cfg.DestFolder == cfg.SourceFolder {
		return nil, fmt.Errorf("mail: mailbox %s: destination is the source folder", cfg.Name)
	}
	for _, ep := range []*Endpoint{&cfg.Source, cfg.Dest} {
		if ep != nil {
			if err := checkEndpoint(*ep); err != nil {
				return nil, fmt.Errorf("mail: mailbox %s: %w", cfg.Name, err)
			}
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Ingester{cfg: cfg, redactor: r, store: st, log: log.With(slog.String("mailbox", cfg.Name))}, nil
}

func checkEndpoint(ep Endpoint) error {
	host, _, err := net.SplitHostPort(ep.Addr)
	if err != nil {
		return fmt.Errorf("address %q: %v", ep.Addr, err)
	}
	switch ep.TLS {
	case TLSImplicit, TLSStartTLS:
	case TLSPlain:
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("tls: plain is allowed only to a loopback address, not %s", host)
		}
	default:
		return fmt.Errorf("tls must be implicit, starttls or plain, not %q", ep.TLS)
	}
	return nil
}

// dial connects and logs in. newMail, if not nil, is signalled when the
// server announces new messages (EXISTS).
func dial(ep Endpoint, newMail chan<- struct{}) (*imapclient.Client, error) {
	opts := &imapclient.Options{TLSConfig: ep.TLSConfig, Dialer: &net.Dialer{Timeout: 30 * time.Second}}
	if newMail != nil {
		opts.UnilateralDataHandler = &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					select {
					case newMail <- struct{}{}:
					default:
					}
				}
			},
		}
	}
	var c *imapclient.Client
	var err error
	switch ep.TLS {
	case TLSImplicit:
		c, err = imapclient.DialTLS(ep.Addr, opts)
	case TLSStartTLS:
		c, err = imapclient.DialStartTLS(ep.Addr, opts)
	default:
		c, err = imapclient.DialInsecure(ep.Addr, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", ep.Addr, err)
	}
	if err := c.Login(ep.Username, ep.Password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("login to %s as %s: %w", ep.Addr, ep.Username, err)
	}
	return c, nil
}

// ensureFolder creates a folder unless it exists.
func ensureFolder(c *imapclient.Client, name string) error {
	list, err := c.List("", name, nil).Collect()
	if err != nil {
		return err
	}
	if len(list) > 0 {
		return nil
	}
	return c.Create(name, nil).Wait()
}

// Run ingests until ctx ends: one session after another, reconnecting with
// backoff after an error.
func (g *Ingester) Run(ctx context.Context) error {
	backoff := time.Second
	for {
		err := g.session(ctx, true)
		if ctx.Err() != nil {
			return nil
		}
		g.log.Warn("mail: session ended; reconnecting", slog.Any("err", err), slog.Duration("in", backoff))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Minute)
	}
}

// RunOnce handles every message waiting in the source and returns.
func (g *Ingester) RunOnce(ctx context.Context) (Progress, error) {
	var last Progress
	onProgress := g.OnProgress
	g.OnProgress = func(p Progress) {
		last = p
		if onProgress != nil {
			onProgress(p)
		}
	}
	defer func() { g.OnProgress = onProgress }()
	err := g.session(ctx, false)
	return last, err
}

// session connects, handles what waits, and (if wait) waits for more.
func (g *Ingester) session(ctx context.Context, wait bool) error {
	newMail := make(chan struct{}, 1)
	src, err := dial(g.cfg.Source, newMail)
	if err != nil {
		return err
	}
	defer src.Close()
	dstEP := g.cfg.Source
	if g.cfg.Dest != nil {
		dstEP = *g.cfg.Dest
	}
	dst, err := dial(dstEP, nil)
	if err != nil {
		return err
	}
	defer dst.Close()
	if err := ensureFolder(dst, g.cfg.DestFolder); err != nil {
		return fmt.Errorf("destination folder %s: %w", g.cfg.DestFolder, err)
	}
	if g.cfg.After == "move" {
		if err := ensureFolder(src, g.cfg.MoveTo); err != nil {
			return fmt.Errorf("folder %s: %w", g.cfg.MoveTo, err)
		}
	}
	for {
		sel, err := src.Select(g.cfg.SourceFolder, nil).Wait()
		if err != nil {
			return fmt.Errorf("select %s: %w", g.cfg.SourceFolder, err)
		}
		if err := g.pass(ctx, src, dst, sel.UIDValidity); err != nil {
			return err
		}
		if !wait {
			return nil
		}
		if err := g.waitForMail(ctx, src, newMail); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// waitForMail returns when the server announces new mail (IDLE), when the
// poll interval has passed, or when ctx ends.
func (g *Ingester) waitForMail(ctx context.Context, src *imapclient.Client, newMail <-chan struct{}) error {
	timer := time.NewTimer(g.cfg.Poll)
	defer timer.Stop()
	if !src.Caps().Has(imap.CapIdle) {
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
		return nil
	}
	idle, err := src.Idle()
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	select {
	case <-ctx.Done():
	case <-timer.C:
	case <-newMail:
	}
	if err := idle.Close(); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	return idle.Wait()
}

// pass handles every message of the selected source folder above the last
// UID handled.
func (g *Ingester) pass(ctx context.Context, src, dst *imapclient.Client, uidValidity uint32) error {
	st, err := g.store.MailState(ctx, g.cfg.Name)
	if err != nil {
		return err
	}
	if st.UIDValidity != uidValidity {
		if st.UIDValidity != 0 {
			g.log.Warn("mail: UIDVALIDITY changed; scanning the whole folder", slog.Uint64("old", uint64(st.UIDValidity)), slog.Uint64("new", uint64(uidValidity)))
		}
		st = store.MailState{Mailbox: g.cfg.Name, UIDValidity: uidValidity}
		if err := g.save(ctx, st); err != nil {
			return err
		}
	}
	criteria := &imap.SearchCriteria{
		UID:     []imap.UIDSet{{imap.UIDRange{Start: imap.UID(st.LastUID + 1), Stop: 0}}},
		NotFlag: []imap.Flag{imap.Flag(g.cfg.FailedKeyword), imap.FlagDeleted},
	}
	data, err := src.UIDSearch(criteria, nil).Wait()
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	var uids []imap.UID
	for _, u := range data.AllUIDs() {
		if uint32(u) > st.LastUID { // "n:*" always matches the highest UID
			uids = append(uids, u)
		}
	}
	slices.Sort(uids)
	prog := Progress{Total: len(uids)}
	start := time.Now()
	lastLog := start
	for _, uid := range uids {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ok, err := g.handle(ctx, src, dst, &st, uid)
		if err != nil {
			return err
		}
		if ok {
			prog.Done++
		} else {
			prog.Failed++
		}
		elapsed := time.Since(start)
		handled := prog.Done + prog.Failed
		prog.Rate = float64(handled) / max(elapsed.Seconds(), 1e-9)
		prog.Left = time.Duration(float64(prog.Total-handled) / max(prog.Rate, 1e-9) * float64(time.Second))
		if g.OnProgress != nil {
			g.OnProgress(prog)
		}
		if time.Since(lastLog) >= 5*time.Second || handled == prog.Total && prog.Total >= 100 {
			lastLog = time.Now()
			g.log.Info("mail: progress", slog.Int("done", prog.Done), slog.Int("failed", prog.Failed), slog.Int("total", prog.Total),
				slog.String("rate", fmt.Sprintf("%.1f/s", prog.Rate)), slog.Duration("left", prog.Left.Round(time.Second)))
		}
	}
	return nil
}

func (g *Ingester) save(ctx context.Context, st store.MailState) error {
	return g.store.Write(ctx, "mail state", func(tx *store.Tx) error { return tx.SetMailState(st) })
}

// handle moves one message through. It reports false for a message that
// could not be redacted (flagged and left in the source). Any IMAP error
// ends the session; the store says where to resume.
func (g *Ingester) handle(ctx context.Context, src, dst *imapclient.Client, st *store.MailState, uid imap.UID) (bool, error) {
	uidSet := imap.UIDSetNum(uid)
	msgs, err := src.Fetch(uidSet, &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		return false, fmt.Errorf("fetch UID %d: %w", uid, err)
	}
	if len(msgs) == 0 || len(msgs[0].BodySection) == 0 {
		// Gone meanwhile (expunged by someone else): nothing to deliver.
		st.LastUID, st.PendingUID = uint32(uid), 0
		return true, g.save(ctx, *st)
	}
	msg := msgs[0]
	tag := fmt.Sprintf("%s/%d/%d", g.cfg.Name, st.UIDValidity, uid)
	out, rep, rerr := g.redactor.Redact(msg.BodySection[0].Bytes)
	if rerr != nil {
		g.log.Error("mail: message not delivered: it stays in the source, flagged", slog.Uint64("uid", uint64(uid)),
			slog.String("keyword", g.cfg.FailedKeyword), slog.Any("reason", rerr), slog.String("fail_closed", "redaction"))
		if err := src.Store(uidSet, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.Flag(g.cfg.FailedKeyword)}}, nil).Close(); err != nil {
			return false, fmt.Errorf("flag UID %d: %w", uid, err)
		}
		st.LastUID, st.PendingUID = uint32(uid), 0
		return false, g.save(ctx, *st)
	}

	delivered := false
	if st.PendingUID == uint32(uid) {
		// A copy may be there already: the last run stopped between APPEND
		// and removing the original.
		if delivered, err = g.alreadyDelivered(dst, tag); err != nil {
			return false, err
		}
	}
	if !delivered {
		st.PendingUID = uint32(uid)
		if err := g.save(ctx, *st); err != nil {
			return false, err
		}
		copyMsg := append([]byte(SourceHeader+": "+tag+"\r\n"), out...)
		var flags []imap.Flag
		for _, f := range msg.Flags {
			if !strings.EqualFold(string(f), `\Recent`) && f != imap.Flag(g.cfg.FailedKeyword) {
				flags = append(flags, f)
			}
		}
		app := dst.Append(g.cfg.DestFolder, int64(len(copyMsg)), &imap.AppendOptions{Flags: flags, Time: msg.InternalDate})
		if _, err := app.Write(copyMsg); err != nil {
			app.Close()
			return false, fmt.Errorf("append UID %d: %w", uid, err)
		}
		if err := app.Close(); err != nil {
			return false, fmt.Errorf("append UID %d: %w", uid, err)
		}
		if _, err := app.Wait(); err != nil {
			return false, fmt.Errorf("append UID %d: %w", uid, err)
		}
	}
	// Only now, with the copy confirmed, the original goes.
	if err := g.removeOriginal(src, uidSet); err != nil {
		return false, fmt.Errorf("remove UID %d: %w", uid, err)
	}
	st.LastUID, st.PendingUID = uint32(uid), 0
	if err := g.save(ctx, *st); err != nil {
		return false, err
	}
	g.log.Debug("mail: delivered", slog.Uint64("uid", uint64(uid)), slog.Int("masked", rep.Spans), slog.Int("parts", rep.Parts))
	return true, nil
}

// alreadyDelivered looks for the copy carrying tag in the destination.
func (g *Ingester) alreadyDelivered(dst *imapclient.Client, tag string) (bool, error) {
	if _, err := dst.Select(g.cfg.DestFolder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return false, fmt.Errorf("select %s: %w", g.cfg.DestFolder, err)
	}
	data, err := dst.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: SourceHeader, Value: tag}}}, nil).Wait()
	if err != nil {
		return false, fmt.Errorf("search %s: %w", g.cfg.DestFolder, err)
	}
	found := len(data.AllUIDs()) > 0
	if found {
		g.log.Info("mail: copy already delivered before a restart; not delivering it again", slog.String("tag", tag))
	}
	return found, nil
}

func (g *Ingester) removeOriginal(src *imapclient.Client, uidSet imap.UIDSet) error {
	if g.cfg.After == "move" {
		if src.Caps().Has(imap.CapMove) {
			_, err := src.Move(uidSet, g.cfg.MoveTo).Wait()
			return err
		}
		if _, err := src.Copy(uidSet, g.cfg.MoveTo).Wait(); err != nil {
			return err
		}
	}
	if err := src.Store(uidSet, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		return err
	}
	if src.Caps().Has(imap.CapUIDPlus) {
		return src.UIDExpunge(uidSet).Close()
	}
	return src.Expunge().Close()
}

// tagOf returns the source tag a delivered copy carries, if any.
func tagOf(msg []byte) string {
	prefix := []byte(SourceHeader + ": ")
	if !bytes.HasPrefix(msg, prefix) {
		return ""
	}
	line, _, _ := bytes.Cut(msg[len(prefix):], []byte("\r\n"))
	return strings.TrimSpace(string(line))
}
