package main

import (
	"strings"
	"testing"
)

// FuzzParseConfig: any input either parses into a configuration that is
// valid, or gives errors, each naming the file, none in the YAML library's
// words ("cannot unmarshal … into main.…"); it never panics.
func FuzzParseConfig(f *testing.F) {
	f.Add(string(demoConfig))
	f.Add("listen: \":8080\"\nlimits:\n  idle_timeout: 5m\n")
	f.Add("workgroups: [{name: a}]\nservices: [{name: s, workgroup: a}]\n")
	f.Add("redaction:\n  expressions: ['(?<=x)\\d+']\n")
	f.Add("limits: {burst: [1], idle_timeout: 30, colour: red}\nagents: x\nforms: [{name: f, fields: a}]\n")
	f.Add("d: &d {burst: 1}\nlimits:\n  <<: *d\n  burst: 2\n")
	f.Add("agents:\n  - login: x\n    password_hash: \"$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\"\n")
	f.Add("mailboxes:\n  - name: m\n    source:\n      address: \"imap.gmail.com:993\"\n      tls: implicit\n      oauth2: {mechanism: oauthbearer, token_url: \"https://oauth2.googleapis.com/token\", client_id: c, refresh_token_env: R, scopes: [a]}\n    dest_folder: D\n    after: delete\n")
	f.Fuzz(func(t *testing.T, data string) {
		if len(data) > 4096 {
			return
		}
		cfg, err := parseConfig("f.yaml", []byte(data))
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "f.yaml") {
					t.Fatalf("error line %q does not name the file, in:\n%v", line, err)
				}
				if strings.Contains(line, "main.") || strings.Contains(line, "unmarshal") {
					t.Fatalf("error line %q is in the YAML library's words, not an operator's", line)
				}
			}
			return
		}
		if cfg == nil {
			t.Fatal("nil config without an error")
		}
	})
}
