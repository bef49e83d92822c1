package secure

import (
	"strings"
	"testing"
)

// FuzzParseReply: any reply either parses to accepted or declined from a
// document with an XML declaration and exactly one outcome, or is an error;
// it never panics.
func FuzzParseReply(f *testing.F) {
	f.Add(`<?xml version="1.0"?><outcome value="accepted" details="ok"/>`)
	f.Add(`<?xml version="1.0"?><r><outcome value="declined"/></r>`)
	f.Add(`<outcome value="accepted"/>`)
	f.Add(`<?xml version="1.0" encoding="ISO-8859-1"?><outcome value="accepted"/>`)
	f.Fuzz(func(t *testing.T, reply string) {
		status, _, err := parseReply([]byte(reply))
		if err != nil {
			return
		}
		if status != StatusAccepted && status != StatusDeclined {
			t.Fatalf("status %q without an error", status)
		}
		if !strings.Contains(reply, "<?xml") || strings.Count(reply, "outcome") < 1 {
			t.Fatalf("accepted a reply without declaration or outcome: %q", reply)
		}
	})
}
