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
	bad, _ := os.ReadFile("../../mail/testdata/corpus/malformed-boundary.eml")
	out, errs, code = runGateway(t, string(bad), "redact-mail")
	if code != exitFailure || out != "" || !strings.Contains(errs, "malformed message") || strings.Contains(errs, "4111") {
		t.Errorf("malformed: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if _, errs, code := runGateway(t, "", "redact-mail", "--expr", "(ab"); code != exitUsage || !strings.Contains(errs, "(ab") {
		t.Errorf("bad expression: exit %d, stderr %q", code, errs)
	}
	_, errs, code = runGateway(t, string(src), "redact-mail", "-max-size", "10")
	if code != exitFailure || !strings.Contains(errs, "too large") {
		t.Errorf("too large: exit %d, stderr %q", code, errs)
	}
}
