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
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

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
	// UnparsableDegrade and UnparsableFlag are the choices of
	// MailboxConfig.Unparsable.
	UnparsableDegrade = "degrade"
	UnparsableFlag    = "flag"
	// SourceHeader names the header every delivered copy carries: it lets a
	// restarted ingest see that a copy was already delivered.
	SourceHeader = "X-Gateway-Redacted"
)

// Endpoint is an IMAP account. It logs in with Password, or, when
// Mechanism is MechXOAUTH2 or MechOAUTHBEARER, with a bearer token from
// Tokens.
type Endpoint struct {
	Addr      string // host:port
	TLS       string // implicit, starttls or plain
	Username  string
	Password  string
	Mechanism string      // "" (LOGIN with Password), XOAUTH2 or OAUTHBEARER
	Tokens    TokenSource // with Mechanism
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
	// Unparsable says what happens to a message that cannot be read
	// (ErrMalformed: beyond the nesting or part limits): "degrade" (the
	// default) delivers Degrade's copy, "flag" leaves it flagged in the
	// source like a message whose redaction failed.
	Unparsable string
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
	store    StateStore
	log      *slog.Logger
	// OnProgress, if set, is called after each message.
	OnProgress func(Progress)
}

// MessageRedactor redacts one whole message, and renders a degraded copy of
// one it cannot read; *Redactor is the one the gateway uses.
type MessageRedactor interface {
	Redact(src []byte) ([]byte, Report, error)
	Degrade(src []byte, reason string) ([]byte, Report, error)
}

// NewIngester checks cfg.
func NewIngester(cfg MailboxConfig, r MessageRedactor, st StateStore, log *slog.Logger) (*Ingester, error) {
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
	switch cfg.Unparsable {
	case "":
		cfg.Unparsable = UnparsableDegrade
	case UnparsableDegrade, UnparsableFlag:
	default:
		return nil, fmt.Errorf("mail: mailbox %s: unparsable must be degrade or flag, not %q", cfg.Name, cfg.Unparsable)
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
	if _, err := mechanismName(ep.Mechanism); err != nil {
		return err
	}
	return nil
}

// dial connects and logs in. newMail, if not nil, is signalled when the
// server announces new messages (EXISTS). log (nil: none) hears of a
// refused OAuth2 token.
func dial(ctx context.Context, ep Endpoint, newMail chan<- struct{}, log *slog.Logger) (*imapclient.Client, error) {
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
	if ep.Mechanism != "" {
		if err := authenticate(ctx, c.Authenticate, ep, log); err != nil {
			c.Close()
			return nil, fmt.Errorf("login to %s as %s: %w", ep.Addr, ep.Username, err)
		}
		return c, nil
	}
	if err := c.Login(ep.Username, ep.Password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("login to %s as %s: %w", ep.Addr, ep.Username, err)
	}
	return c, nil
}

// authenticate logs in with a bearer token. A refused token is dropped and
// the login tried once more with a fresh one: a token the server says has
// expired is replaced without the ingest stopping. auth runs one exchange
// on the session (go-imap's client or an appender).
func authenticate(ctx context.Context, auth func(sasl.Client) error, ep Endpoint, log *slog.Logger) error {
	mech, err := mechanismName(ep.Mechanism)
	if err != nil {
		return err
	}
	if ep.Tokens == nil {
		return fmt.Errorf("%s: no token source", mech)
	}
	host, portStr, _ := net.SplitHostPort(ep.Addr)
	port, _ := strconv.Atoi(portStr)
	for attempt := 0; ; attempt++ {
		tok, err := ep.Tokens.Token(ctx)
		if err != nil {
			return err
		}
		sc := &bearerClient{mech: mech, user: ep.Username, token: tok, host: host, port: port}
		err = auth(sc)
		if err == nil {
			return nil
		}
		if !tokenRefused(sc, err) {
			return fmt.Errorf("%s: %w", mech, err)
		}
		ep.Tokens.Refused(tok)
		if attempt == 0 && log != nil {
			log.Info("mail: the server refused the OAuth2 token (expired or revoked); logging in again with a new one",
				slog.String("server", ep.Addr), slog.String("mechanism", mech), slog.String("status", sc.status))
		}
		if attempt == 1 {
			status := sc.status
			if status == "" {
				status = "none"
			}
			return fmt.Errorf("%w (%s, twice, status %s): revoked, or the application lacks the mail permission: %v", ErrTokenRefused, mech, status, err)
		}
	}
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
	src, err := dial(ctx, g.cfg.Source, newMail, g.log)
	if err != nil {
		return err
	}
	defer src.Close()
	dstEP := g.cfg.Source
	if g.cfg.Dest != nil {
		dstEP = *g.cfg.Dest
	}
	dst, err := dial(ctx, dstEP, nil, g.log)
	if err != nil {
		return err
	}
	defer dst.Close()
	multi, err := dialAppender(ctx, dstEP, g.log)
	if err != nil {
		return err
	}
	mode := "pipelined"
	if multi != nil {
		defer multi.Close()
		mode = multi.mode()
	}
	g.log.Info("mail: connected", slog.String("source", g.cfg.Source.Addr), slog.String("destination", dstEP.Addr), slog.String("append", mode))
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
		if multi != nil {
			if err := multi.check(); err != nil {
				return fmt.Errorf("destination session: %w", err)
			}
		}
		if err := g.pass(ctx, src, dst, multi, sel.UIDValidity); err != nil {
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
// UID handled. multi (nil if the destination has no MULTIAPPEND) appends.
func (g *Ingester) pass(ctx context.Context, src, dst *imapclient.Client, multi *appender, uidValidity uint32) error {
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
	batches, err := g.batches(src, uids, st.PendingUID)
	if err != nil {
		return err
	}
	d := &imapDelivery{src: src, dst: dst, multi: multi, destFolder: g.cfg.DestFolder, after: g.cfg.After, moveTo: g.cfg.MoveTo}
	prog := Progress{Total: len(uids)}
	start := time.Now()
	lastLog := start
	for _, b := range batches {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		done, failed, err := g.batch(ctx, d, &st, b)
		if err != nil {
			return err
		}
		prog.Done += done
		prog.Failed += failed
		elapsed := time.Since(start)
		handled := prog.Done + prog.Failed
		prog.Rate = float64(handled) / max(elapsed.Seconds(), 1e-9)
		prog.Left = time.Duration(float64(prog.Total-handled) / max(prog.Rate, 1e-9) * float64(time.Second))
		if g.OnProgress != nil {
			g.OnProgress(prog)
		}
		if time.Since(lastLog) >= 5*time.Second || len(b) > 0 && b[len(b)-1] == uids[len(uids)-1] && prog.Total >= 100 {
			lastLog = time.Now()
			g.log.Info("mail: progress", slog.Int("done", prog.Done), slog.Int("failed", prog.Failed), slog.Int("total", prog.Total),
				slog.String("rate", fmt.Sprintf("%.1f/s", prog.Rate)), slog.Duration("left", prog.Left.Round(time.Second)))
		}
	}
	return nil
}

// batches cuts uids into batches of at most batchMessages messages and
// about batchBytes bytes (sizes from one UID FETCH RFC822.SIZE). UIDs up to
// pending (a batch in flight when the last run stopped) form the first
// batches on their own, so that only they are checked for copies already
// delivered.
func (g *Ingester) batches(src *imapclient.Client, uids []imap.UID, pending uint32) ([][]imap.UID, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	sizes := map[imap.UID]int64{}
	msgs, err := src.Fetch(uidSet(uids), &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
	if err != nil {
		return nil, fmt.Errorf("fetch sizes: %w", err)
	}
	for _, m := range msgs {
		sizes[m.UID] = m.RFC822Size
	}
	return cutBatches(uids, sizes, pending), nil
}

// cutBatches is the cutting of batches.
func cutBatches(uids []imap.UID, sizes map[imap.UID]int64, pending uint32) [][]imap.UID {
	var out [][]imap.UID
	var cur []imap.UID
	var n int64
	for _, u := range uids {
		boundary := len(cur) > 0 && uint32(cur[len(cur)-1]) <= pending && uint32(u) > pending
		if len(cur) > 0 && (len(cur) >= batchMessages || n+sizes[u] > batchBytes || boundary) {
			out = append(out, cur)
			cur, n = nil, 0
		}
		cur = append(cur, u)
		n += sizes[u]
	}
	return append(out, cur)
}

func (g *Ingester) save(ctx context.Context, st store.MailState) error {
	return g.store.Write(ctx, "mail state", func(tx *store.Tx) error { return tx.SetMailState(st) })
}

// withoutEnvelope drops an mbox "From " envelope line: in a mailbox it
// would be read as a broken header line.
func withoutEnvelope(msg []byte) []byte {
	if bytes.HasPrefix(msg, []byte("From ")) {
		if _, rest, ok := bytes.Cut(msg, []byte("\n")); ok {
			return rest
		}
	}
	return msg
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
