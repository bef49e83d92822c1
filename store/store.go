// Package store persists conversations, participants and events in SQLite
// (modernc.org/sqlite, pure Go) on disk, in WAL mode, with the schema
// migrations embedded in the binary.
//
// Writes go through one goroutine that gathers whatever is pending into one
// transaction (group commit): a caller's write returns only once it is
// committed, and many concurrent writers share one fsync. Reads run in
// parallel on their own connections.
//
// Message bodies are written and read only in body.go: each is sealed with
// AES-256-GCM under a data key bound to its row, and the data keys are
// wrapped by a key-encryption key the store is given (keyring.go); nothing
// above the store sees ciphertext or keys. The store never receives
// unredacted text: its callers redact before they write. The files it
// creates are the owner's only (0600).
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Errors of the store.
var (
	ErrClosed   = errors.New("store: closed")
	ErrNotFound = errors.New("store: not found")
)

// maxBatch bounds how many writes share one transaction; maxConns bounds
// the SQLite connections (one writer, the rest readers).
const (
	maxBatch = 512
	maxConns = 4
)

// Store is an open database. It is safe for concurrent use.
type Store struct {
	db     *sql.DB
	log    *slog.Logger
	writes chan *write
	stop   chan struct{}
	done   chan struct{}
	mu     sync.RWMutex // held for writing only by Close
	closed bool
	// prepared holds the writer's statements, prepared once; only the
	// writer goroutine touches it.
	prepared map[string]*sql.Stmt
	ring     *ring
	path     string

	commits, writesDone atomic.Int64
}

// Stats counts the store's work since Open.
type Stats struct {
	Commits int64 // transactions committed
	Writes  int64 // Write calls that ran in them
}

// Stats returns what the store did so far.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), Writes: s.writesDone.Load()}
}

type write struct {
	fn   func(*Tx) error
	err  chan error
	name string
}

// Config configures Open.
type Config struct {
	// Path is the SQLite file; it is created if missing.
	Path string
	// Durability says what a committed write survives (SurvivesPowerLoss
	// if zero).
	Durability Durability
	// Logger receives errors of the writer; nil discards them.
	Logger *slog.Logger
	// KEK wraps the data keys that seal every body (required: the store
	// never keeps a body in the clear).
	KEK KeyWrapper
	// PreviousKEKs unwrap data keys wrapped before the KEK changed; Rotate
	// re-wraps those under KEK.
	PreviousKEKs []KeyWrapper
	// Rotation bounds the life of a data key.
	Rotation Rotation
	// Now is the clock of key ages and retention (time.Now if nil).
	Now func() time.Time
}

// Durability says what a committed write, and so an acknowledged message,
// survives.
type Durability int

const (
	// SurvivesPowerLoss fsyncs the WAL at every commit (SQLite
	// synchronous=FULL): a power cut or a kernel crash loses nothing
	// acknowledged.
	SurvivesPowerLoss Durability = iota
	// SurvivesProcessCrash hands every commit to the operating system and
	// fsyncs only at checkpoints (synchronous=NORMAL): a crashed or killed
	// gateway loses nothing acknowledged, a power cut or a kernel crash
	// may lose the latest commits. Commits cost less, so latency is lower.
	SurvivesProcessCrash
)

// synchronous is the SQLite setting for d.
func (d Durability) synchronous() string {
	if d == SurvivesProcessCrash {
		return "NORMAL"
	}
	return "FULL"
}

// Open opens (creating if need be) the database at cfg.Path and brings its
// schema up to date.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("store: Config.Path is empty")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ring, err := newRing(cfg)
	if err != nil {
		return nil, err
	}
	if err := privateFiles(cfg.Path); err != nil {
		return nil, err
	}
	q := url.Values{}
	// Every write transaction takes the write lock at BEGIN: the ring reads
	// the current data key first, and must see one another process added.
	q.Set("_txlock", "immediate")
	for _, p := range []string{
		"journal_mode(WAL)",
		"synchronous(" + cfg.Durability.synchronous() + ")",
		"busy_timeout(10000)",
		"foreign_keys(1)",
		"secure_delete(1)",   // overwritten bodies do not linger in free pages
		"temp_store(MEMORY)", // statement journals need no file (nor a file descriptor)
	} {
		q.Add("_pragma", p)
	}
	// Transactions take the write lock when they begin: a write that reads
	// first (the audit chain's last hash) sees the latest commit even when
	// another process (gateway users) writes the same file.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+cfg.Path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", cfg.Path, err)
	}
	// Each SQLite connection has its own page cache (2 MiB by default):
	// a few connections serve the reads, the writer uses one.
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", cfg.Path, err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: migrate %s: %w", cfg.Path, err)
	}
	if err := ring.loadAll(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", cfg.Path, err)
	}
	s := &Store{
		db:       db,
		log:      log,
		writes:   make(chan *write, maxBatch),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		prepared: map[string]*sql.Stmt{},
		ring:     ring,
		path:     cfg.Path,
	}
	go s.writer()
	if err := s.sealLegacy(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: open %s: seal the bodies written before encryption: %w", cfg.Path, err)
	}
	return s, nil
}

// migrate applies the embedded migrations newer than PRAGMA user_version.
func migrate(ctx context.Context, db *sql.DB) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	var version int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		n, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: no number", base)
		}
		if n <= version {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", base, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", n)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
	}
	return nil
}

// Close stops the writer after the pending writes and closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	s.mu.Unlock()
	<-s.done
	for _, st := range s.prepared {
		st.Close()
	}
	return s.db.Close()
}

// Write runs fn in a transaction shared with other concurrent writes and
// returns once that transaction is committed. fn runs inside a savepoint: if
// it returns an error, its changes are rolled back and the others commit.
// fn must not block; name says what it does in the log (never any text).
func (s *Store) Write(ctx context.Context, name string, fn func(*Tx) error) error {
	w := &write{fn: fn, err: make(chan error, 1), name: name}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.writes <- w:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	// Once queued, the write will be committed or failed; wait for the
	// outcome even if ctx ends, so the caller never acts on an unknown state.
	return <-w.err
}

// writer owns the write connection: it takes every pending write, runs them
// in one transaction and commits.
func (s *Store) writer() {
	defer close(s.done)
	batch := make([]*write, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case w := <-s.writes:
			batch = append(batch, w)
		case <-s.stop:
			// Drain what was queued before the stop.
			for {
				select {
				case w := <-s.writes:
					batch = append(batch, w)
					continue
				default:
				}
				break
			}
			if len(batch) > 0 {
				s.commit(batch)
			}
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case w := <-s.writes:
				batch = append(batch, w)
			default:
				break more
			}
		}
		s.commit(batch)
	}
}

func (s *Store) commit(batch []*write) {
	ctx := context.Background()
	fail := func(err error) {
		for _, w := range batch {
			w.err <- err
		}
	}
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		s.log.Error("store: begin", slog.Any("err", err))
		fail(fmt.Errorf("store: begin: %w", err))
		return
	}
	tx := &Tx{tx: sqlTx, ctx: ctx, store: s}
	if err := s.ring.prepare(tx); err != nil {
		sqlTx.Rollback()
		s.ring.abandon()
		s.log.Error("store: data key", slog.Any("err", err))
		fail(err)
		return
	}
	results := make([]error, len(batch))
	for i, w := range batch {
		results[i] = tx.savepoint(w.fn)
		if results[i] != nil {
			s.log.Warn("store: write failed", slog.String("write", w.name), slog.Any("err", results[i]))
		}
	}
	if err := sqlTx.Commit(); err != nil {
		s.ring.abandon()
		s.log.Error("store: commit", slog.Any("err", err))
		fail(fmt.Errorf("store: commit: %w", err))
		return
	}
	s.ring.committed()
	s.commits.Add(1)
	s.writesDone.Add(int64(len(batch)))
	for i, w := range batch {
		w.err <- results[i]
	}
}

// Tx is a transaction handed to a Write function.
type Tx struct {
	tx    *sql.Tx
	ctx   context.Context
	store *Store
	stmts map[string]*sql.Stmt // the store's prepared statements, bound to tx
}

func (tx *Tx) savepoint(fn func(*Tx) error) (err error) {
	if _, err := tx.exec("SAVEPOINT w"); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store: write panicked: %v", r)
		}
		if err != nil {
			tx.exec("ROLLBACK TO w")
		}
		tx.exec("RELEASE w")
	}()
	return fn(tx)
}

// exec runs query with a statement prepared once for the store's life:
// parsing the SQL of every write was a tenth of the server's CPU under
// chat load.
func (tx *Tx) exec(query string, args ...any) (sql.Result, error) {
	st, err := tx.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(tx.ctx, args...)
}

// queryRow is exec for a query of one row.
func (tx *Tx) queryRow(query string, args ...any) *sql.Row {
	st, err := tx.stmt(query)
	if err != nil {
		// sql.Row carries no error of its own: run the query unprepared,
		// which fails the same way.
		return tx.tx.QueryRowContext(tx.ctx, query, args...)
	}
	return st.QueryRowContext(tx.ctx, args...)
}

// query is exec for a query of rows.
func (tx *Tx) query(query string, args ...any) (*sql.Rows, error) {
	st, err := tx.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(tx.ctx, args...)
}

// stmt is the statement of query, prepared once and bound to tx.
func (tx *Tx) stmt(query string) (*sql.Stmt, error) {
	st, ok := tx.stmts[query]
	if !ok {
		prepared, ok := tx.store.prepared[query]
		if !ok {
			var err error
			if prepared, err = tx.store.db.PrepareContext(tx.ctx, query); err != nil {
				return nil, err
			}
			tx.store.prepared[query] = prepared
		}
		st = tx.tx.StmtContext(tx.ctx, prepared)
		if tx.stmts == nil {
			tx.stmts = map[string]*sql.Stmt{}
		}
		tx.stmts[query] = st
	}
	return st, nil
}
