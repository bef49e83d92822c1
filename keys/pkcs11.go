//go:build pkcs11

package keys

// The PKCS#11 provider: the KEK is an AES-256 key inside a token (an HSM,
// or SoftHSM2 in the tests) that never leaves it; wrapping a data key is
// one AES-GCM encryption in the token (CKM_AES_GCM) with a random 96-bit IV
// and the KEK's ID as associated data. It needs cgo, hence the build tag.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"
)

// PKCS11Built reports whether this binary can use a PKCS#11 token.
const PKCS11Built = true

// modules are the loaded PKCS#11 libraries, shared by the KEKs that use
// them: C_Initialize and C_Finalize are once per process and library.
var modules = struct {
	sync.Mutex
	m map[string]*module
}{m: map[string]*module{}}

type module struct {
	ctx  *pkcs11.Ctx
	refs int
}

func loadModule(path string) (*pkcs11.Ctx, error) {
	modules.Lock()
	defer modules.Unlock()
	if m := modules.m[path]; m != nil {
		m.refs++
		return m.ctx, nil
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("keys: PKCS#11 module %s does not load", path)
	}
	if err := ctx.Initialize(); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		ctx.Destroy()
		return nil, fmt.Errorf("keys: PKCS#11 module %s: initialize: %w", path, err)
	}
	modules.m[path] = &module{ctx: ctx, refs: 1}
	return ctx, nil
}

func releaseModule(path string) {
	modules.Lock()
	defer modules.Unlock()
	m := modules.m[path]
	if m == nil {
		return
	}
	if m.refs--; m.refs == 0 {
		m.ctx.Finalize()
		m.ctx.Destroy()
		delete(modules.m, path)
	}
}

// HSM is a KEK in a PKCS#11 token. Its session is used by one call at a
// time.
type HSM struct {
	module  string
	ctx     *pkcs11.Ctx
	mu      sync.Mutex
	session pkcs11.SessionHandle
	key     pkcs11.ObjectHandle
	id      string
	closed  bool
}

func openPKCS11(_ context.Context, cfg PKCS11Config, lookup func(string) (string, bool)) (_ KEK, err error) {
	if cfg.Module == "" || cfg.Token == "" || cfg.PINEnv == "" || cfg.KeyLabel == "" {
		return nil, errors.New("keys: PKCS#11 needs Module, Token, PINEnv and KeyLabel")
	}
	if lookup == nil {
		lookup = os.LookupEnv
	}
	pin, ok := lookup(cfg.PINEnv)
	if !ok {
		return nil, fmt.Errorf("keys: PKCS#11 PIN: environment variable %s is not set", cfg.PINEnv)
	}
	ctx, err := loadModule(cfg.Module)
	if err != nil {
		return nil, err
	}
	h := &HSM{module: cfg.Module, ctx: ctx, id: "pkcs11:" + cfg.Token + "/" + cfg.KeyLabel}
	defer func() {
		if err != nil {
			h.Close()
			err = redactPIN(err, pin)
		}
	}()
	slot, err := findToken(ctx, cfg.Token)
	if err != nil {
		return nil, err
	}
	if h.session, err = ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION); err != nil {
		return nil, fmt.Errorf("keys: PKCS#11 token %q: open session: %w", cfg.Token, err)
	}
	if err := ctx.Login(h.session, pkcs11.CKU_USER, pin); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		return nil, fmt.Errorf("keys: PKCS#11 token %q: log in (PIN from %s): %w", cfg.Token, cfg.PINEnv, err)
	}
	if h.key, err = h.findKey(cfg.KeyLabel); err != nil && cfg.Create && errors.Is(err, errNoKey) {
		h.key, err = h.createKey(cfg.KeyLabel)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: PKCS#11 token %q key %q: %w", cfg.Token, cfg.KeyLabel, err)
	}
	return h, nil
}

// findToken is the slot of the token labelled label.
func findToken(ctx *pkcs11.Ctx, label string) (uint, error) {
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("keys: PKCS#11 slots: %w", err)
	}
	for _, s := range slots {
		info, err := ctx.GetTokenInfo(s)
		if err == nil && strings.TrimRight(info.Label, " \x00") == label {
			return s, nil
		}
	}
	return 0, fmt.Errorf("keys: PKCS#11: no token labelled %q", label)
}

var errNoKey = errors.New("no such key in the token (make it with the token's tools, or set create)")

func (h *HSM) findKey(label string) (pkcs11.ObjectHandle, error) {
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	if err := h.ctx.FindObjectsInit(h.session, tmpl); err != nil {
		return 0, err
	}
	objs, _, err := h.ctx.FindObjects(h.session, 2)
	h.ctx.FindObjectsFinal(h.session)
	if err != nil {
		return 0, err
	}
	switch len(objs) {
	case 0:
		return 0, errNoKey
	case 2:
		return 0, errors.New("two keys have this label")
	}
	attrs, err := h.ctx.GetAttributeValue(h.session, objs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, nil)})
	if err != nil || len(attrs) != 1 || bytesToUint(attrs[0].Value) != Size {
		return 0, fmt.Errorf("not an AES-256 key")
	}
	return objs[0], nil
}

func bytesToUint(b []byte) uint64 {
	var n uint64
	for i := len(b) - 1; i >= 0; i-- { // CK_ULONG in the host's order: little-endian here
		n = n<<8 | uint64(b[i])
	}
	return n
}

// createKey makes a persistent AES-256 key that cannot leave the token.
func (h *HSM) createKey(label string) (pkcs11.ObjectHandle, error) {
	return h.ctx.GenerateKey(h.session, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, Size),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	})
}

// ID is "pkcs11:TOKEN/LABEL".
func (h *HSM) ID() string { return h.id }

// String is the ID.
func (h *HSM) String() string { return h.id }

func (h *HSM) ad() []byte { return []byte("secureinput gateway data key v1|" + h.id) }

// Wrap encrypts dataKey in the token with AES-GCM: version, IV, ciphertext
// and tag.
func (h *HSM) Wrap(_ context.Context, dataKey []byte) ([]byte, error) {
	iv := make([]byte, 12)
	if _, err := rand.Read(iv); err != nil {
		return nil, fmt.Errorf("keys: wrap: random IV: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errors.New("keys: PKCS#11 key closed")
	}
	params := pkcs11.NewGCMParams(iv, h.ad(), 128)
	defer params.Free()
	if err := h.ctx.EncryptInit(h.session, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, h.key); err != nil {
		return nil, fmt.Errorf("keys: PKCS#11 wrap with %s: %w", h.id, err)
	}
	ct, err := h.ctx.Encrypt(h.session, dataKey)
	if err != nil {
		return nil, fmt.Errorf("keys: PKCS#11 wrap with %s: %w", h.id, err)
	}
	if got := params.IV(); len(got) == 12 { // a token may choose the IV itself
		iv = got
	}
	return append(append([]byte{wrapVersion}, iv...), ct...), nil
}

// Unwrap decrypts what Wrap returned, in the token.
func (h *HSM) Unwrap(_ context.Context, wrapped []byte) ([]byte, error) {
	if len(wrapped) < 1+12+16 || wrapped[0] != wrapVersion {
		return nil, ErrUnwrap
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errors.New("keys: PKCS#11 key closed")
	}
	params := pkcs11.NewGCMParams(append([]byte(nil), wrapped[1:13]...), h.ad(), 128)
	defer params.Free()
	if err := h.ctx.DecryptInit(h.session, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, h.key); err != nil {
		return nil, fmt.Errorf("keys: PKCS#11 unwrap with %s: %w", h.id, err)
	}
	dk, err := h.ctx.Decrypt(h.session, wrapped[13:])
	if err != nil {
		return nil, ErrUnwrap
	}
	return dk, nil
}

// Close logs out, closes the session and releases the module.
func (h *HSM) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	if h.session != 0 {
		h.ctx.Logout(h.session)
		h.ctx.CloseSession(h.session)
	}
	releaseModule(h.module)
	return nil
}

// redactPIN keeps a PIN out of an error a PKCS#11 library might build.
func redactPIN(err error, pin string) error {
	if err == nil || pin == "" || !strings.Contains(err.Error(), pin) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), pin, "[redacted]"))
}
