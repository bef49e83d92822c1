package main

import (
	"os"
	"strings"
	"testing"
)

func TestRedactMailCommand(t *testing.T) {
	src, err := os.ReadFile("../../mail/testdata/corpus/plain-7bit.eml")
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := runGateway(t, string(src), "redact-mail")
	if code != exitOK || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	if strings.Contains(out, "4111") || !strings.Contains(out, "charge my card ###################, expiry 09/28.") {
		t.Errorf("output:\n%s", out)
	}
	// A multipart without boundary is read as text.
	lenient, _ := os.ReadFile("../../mail/testdata/corpus/malformed-boundary.eml")
	out, errs, code = runGateway(t, string(lenient), "redact-mail")
	if code != exitOK || !strings.Contains(out, "card ###################\r\n") || strings.Contains(out, "4111") {
		t.Errorf("lenient: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// Beyond the limits: a degraded copy by default, nothing with -unparsable fail.
	deep, _ := os.ReadFile("../../mail/testdata/corpus/too-deep.eml")
	out, errs, code = runGateway(t, string(deep), "redact-mail")
	if code != exitOK || !strings.Contains(out, "X-Gateway-Degraded: ") || strings.Contains(out, "4111") || strings.Contains(out, "5555") ||
		!strings.Contains(errs, "degraded copy") {
		t.Errorf("degraded: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	out, errs, code = runGateway(t, string(deep), "redact-mail", "-unparsable", "fail")
	if code != exitFailure || out != "" || !strings.Contains(errs, "malformed message") || strings.Contains(errs, "4111") {
		t.Errorf("-unparsable fail: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if _, errs, code := runGateway(t, "", "redact-mail", "--expr", "(ab"); code != exitUsage || !strings.Contains(errs, "(ab") {
		t.Errorf("bad expression: exit %d, stderr %q", code, errs)
	}
	_, errs, code = runGateway(t, string(src), "redact-mail", "-max-size", "10")
	if code != exitFailure || !strings.Contains(errs, "too large") {
		t.Errorf("too large: exit %d, stderr %q", code, errs)
	}
}
