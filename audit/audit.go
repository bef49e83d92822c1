// Package audit keeps the gateway's audit trail (PCI DSS 10.2, 10.3, 10.5):
// who did what, when, from where and with what outcome, for sign-ins,
// lockouts, denied actions, sign-outs, secure inputs and changes to
// accounts and keys.
//
// Every text of a record (the login, the target, the detail) passes the
// redaction engine first, like every client string; one that cannot be
// redacted is stored fully masked. Records are appended in one order, each
// holding the SHA-256 of the one before, so Verify finds a record changed,
// removed or inserted; the database refuses to change a record or remove
// one younger than 12 months. Export writes JSON Lines for a SIEM.
package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/secureinput/gateway/redact"
	"github.com/secureinput/gateway/store"
)

// Actions of records.
const (
	ActionSignIn             = "sign_in"
	ActionSignOut            = "sign_out"
	ActionLockout            = "lockout"
	ActionSessionEnd         = "session_end"
	ActionDenied             = "denied"
	ActionSecureInputStart   = "secure_input_start"
	ActionSecureInputOutcome = "secure_input_outcome"
	ActionAccountAdd         = "account_add"
	ActionAccountPassword    = "account_password"
	ActionAccountDisable     = "account_disable"
	ActionAccountEnable      = "account_enable"
	ActionAccountUnlock      = "account_unlock"
	ActionKeyChange          = "key_change"
	ActionAuditPrune         = "audit_prune"
	// The card vault's (package vault): a card kept or found, kept for
	// good after its acceptance, erased, read back by a payment processor,
	// and expired cards purged.
	ActionCardTokenize   = "card_tokenize"
	ActionCardConfirm    = "card_confirm"
	ActionCardDelete     = "card_delete"
	ActionCardDetokenize = "card_detokenize"
	ActionCardPurge      = "card_purge"
)

// Outcomes of records.
const (
	Success = "success"
	Failure = "failure"
	Denied  = "denied"
)

// Actors that are not a login.
const (
	ActorSystem = "system" // the gateway itself
	ActorCLI    = "cli"    // an administrator at the gateway's command line
)

// SourceLocal is the source of what an administrator does on the host.
const SourceLocal = "local"

// MinRetention is the least time records are kept (PCI DSS 10.5.1);
// DefaultRetention adds a month of slack.
const (
	MinRetention     = 365 * 24 * time.Hour
	DefaultRetention = 400 * 24 * time.Hour
)

// maxText bounds each text of a record.
const maxText = 512

// Event is what happened; Record adds the time and the chain.
type Event struct {
	Actor   string // the login, ActorSystem or ActorCLI
	Action  string
	Outcome string
	Source  string // the source address, or SourceLocal
	Target  string // what it was done to: an account, a conversation, a call
	Detail  string
}

// Store is what the audit trail needs of a store; *store.Store is one.
type Store interface {
	Write(ctx context.Context, name string, fn func(*store.Tx) error) error
	AuditRecords(ctx context.Context, after int64, limit int) ([]store.AuditRecord, error)
}

// Config configures a Log.
type Config struct {
	Store  Store          // required
	Engine *redact.Engine // required: redacts every text
	// Retention is how long records are kept (DefaultRetention if zero; at
	// least MinRetention).
	Retention time.Duration
	Logger    *slog.Logger
	// Now returns the current time; time.Now if nil.
	Now func() time.Time
}

// Log appends records to the audit trail. It is safe for concurrent use.
type Log struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
}

// New returns a Log.
func New(cfg Config) (*Log, error) {
	if cfg.Store == nil || cfg.Engine == nil {
		return nil, errors.New("audit: Config.Store and Config.Engine are required")
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Retention < MinRetention {
		return nil, fmt.Errorf("audit: Config.Retention %v is under the 12 months PCI DSS 10.5.1 asks", cfg.Retention)
	}
	l := &Log{cfg: cfg, log: cfg.Logger, now: cfg.Now}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l, nil
}

// Redact returns s redacted, cut to a bounded length, for a record or a
// log line: fully masked if the engine could not finish.
func (l *Log) Redact(s string) string {
	if len(s) > maxText {
		s = s[:maxText]
		for len(s) > 0 && s[len(s)-1]&0xC0 == 0x80 {
			s = s[:len(s)-1]
		}
	}
	res, err := l.cfg.Engine.Redact(s)
	if err != nil {
		return strings.Repeat("#", len(s))
	}
	return res.Text
}

// Record appends e to the trail and returns once it is committed. If it
// cannot be, the error is logged (as a fail-closed event, which alerts)
// and returned: a caller that must not act unrecorded refuses.
func (l *Log) Record(ctx context.Context, e Event) error {
	r := l.Prepare(e)
	err := l.cfg.Store.Write(ctx, "audit record", func(tx *store.Tx) error { return tx.AppendChained(r) })
	if err != nil {
		l.log.Error("audit: record not written", slog.String("action", e.Action), slog.String("fail_closed", "audit"), slog.Any("err", err))
		return fmt.Errorf("audit: %s: %w", e.Action, err)
	}
	return nil
}

// Prepare is the record of e as Record writes it, its time now and every
// text redacted, for a caller that appends it in a transaction of its own
// (store.Tx.AppendChained), so that what it records and what it does
// commit together.
func (l *Log) Prepare(e Event) store.AuditRecord {
	return store.AuditRecord{At: l.now(), Actor: l.Redact(e.Actor), Action: e.Action, Outcome: e.Outcome,
		Source: l.Redact(e.Source), Target: l.Redact(e.Target), Detail: l.Redact(e.Detail)}
}

// Prune removes the records older than the retention time and records
// that it did.
func (l *Log) Prune(ctx context.Context) error {
	before := l.now().Add(-l.cfg.Retention)
	if err := l.cfg.Store.Write(ctx, "audit prune", func(tx *store.Tx) error { return tx.PruneAudit(before) }); err != nil {
		return fmt.Errorf("audit: prune: %w", err)
	}
	return nil
}
