package store

// sealBody turns a (redacted) message text into what is stored. It is the one
// place a body is written, where encryption at rest (AES-256-GCM with wrapped
// data keys) will sit; today it stores the text as is.
func sealBody(text string) []byte { return []byte(text) }

// openBody is the inverse of sealBody, the one place a body is read.
func openBody(b []byte) string { return string(b) }
