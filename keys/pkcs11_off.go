//go:build !pkcs11

package keys

import "context"

// openPKCS11 without the pkcs11 build tag: PKCS#11 needs cgo.
func openPKCS11(context.Context, PKCS11Config, func(string) (string, bool)) (KEK, error) {
	return nil, ErrNoPKCS11
}

// PKCS11Built reports whether this binary can use a PKCS#11 token.
const PKCS11Built = false
