package main

import (
	"strings"
	"testing"
)

// FuzzParseConfig: any input either parses into a configuration that is
// valid, or gives an error naming the file; it never panics.
func FuzzParseConfig(f *testing.F) {
	f.Add(string(demoConfig))
	f.Add("listen: \":8080\"\nlimits:\n  idle_timeout: 5m\n")
	f.Add("workgroups: [{name: a}]\nservices: [{name: s, workgroup: a}]\n")
	f.Add("redaction:\n  expressions: ['(?<=x)\\d+']\n")
	f.Add("agents:\n  - login: x\n    password_hash: \"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\"\n")
	f.Fuzz(func(t *testing.T, data string) {
		if len(data) > 4096 {
			return
		}
		cfg, err := parseConfig("f.yaml", []byte(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if cfg == nil {
			t.Fatal("nil config without an error")
		}
	})
}
