package vault

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Role is what a client may do.
type Role string

// Roles of clients.
const (
	// RoleTokenize may keep cards and drop them: the gateway.
	RoleTokenize Role = "tokenize"
	// RoleDetokenize may read a card back: a payment processor.
	RoleDetokenize Role = "detokenize"
)

// Client is one caller the vault accepts: a certificate the vault's client
// CA signed, with its common name, and an API key, known to the vault only
// by its SHA-256.
type Client struct {
	Name       string   // for the audit trail
	Subject    string   // the common name its certificate must carry
	APIKeyHash [32]byte // SHA-256 of its API key
	Roles      []Role
}

// HashAPIKey is the SHA-256 of an API key, as Client.APIKeyHash holds it.
func HashAPIKey(key string) [32]byte { return sha256.Sum256([]byte(key)) }

func checkClients(clients []Client) error {
	if len(clients) == 0 {
		return errors.New("vault: Config.Clients is empty: nobody could call the vault")
	}
	names, keys := map[string]bool{}, map[[32]byte]bool{}
	for i, c := range clients {
		switch {
		case c.Name == "" || c.Subject == "":
			return fmt.Errorf("vault: client %d: Name and Subject are required", i)
		case names[c.Name]:
			return fmt.Errorf("vault: client %q is listed twice", c.Name)
		case keys[c.APIKeyHash]:
			return fmt.Errorf("vault: clients share an API key (client %q)", c.Name)
		case c.APIKeyHash == [32]byte{}:
			return fmt.Errorf("vault: client %q has no API key", c.Name)
		case len(c.Roles) == 0:
			return fmt.Errorf("vault: client %q has no role", c.Name)
		}
		for _, r := range c.Roles {
			if r != RoleTokenize && r != RoleDetokenize {
				return fmt.Errorf("vault: client %q: unknown role %q", c.Name, r)
			}
		}
		names[c.Name], keys[c.APIKeyHash] = true, true
	}
	return nil
}

var (
	errUnauthorized = errors.New("a client certificate of a configured client and its API key are required")
	errForbidden    = errors.New("this client may not do that")
)

// authenticate finds the client of r: a verified client certificate whose
// common name is the client's subject, and the client's API key as a
// bearer token. who names the caller for the audit trail, known or not.
func (s *Server) authenticate(r *http.Request, role Role) (c *Client, who string, err error) {
	who = "unknown"
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, who, errUnauthorized
	}
	subject := r.TLS.VerifiedChains[0][0].Subject.CommonName
	who = "certificate " + subject
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || key == "" {
		return nil, who, errUnauthorized
	}
	sum := HashAPIKey(key)
	for i := range s.cfg.Clients {
		cl := &s.cfg.Clients[i]
		if subtle.ConstantTimeCompare(sum[:], cl.APIKeyHash[:]) == 1 {
			c = cl
		}
	}
	if c == nil || c.Subject != subject {
		return nil, who, errUnauthorized
	}
	if !slices.Contains(c.Roles, role) {
		return c, c.Name, errForbidden
	}
	return c, c.Name, nil
}
