package redact

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestProbeExpression(t *testing.T) {
	bad := []string{`(a+)+$`, `(\d+)*x`, `(a|aa)+$`, `(x+x+)+y`}
	for _, src := range bad {
		err := ProbeExpression(src, DefaultTimeout)
		if !errors.Is(err, ErrCatastrophic) || !strings.Contains(err.Error(), fmt.Sprintf("%q", src)) {
			t.Errorf("ProbeExpression(%q) = %v, want ErrCatastrophic naming it", src, err)
		}
	}
	good := []string{`\b\d{3}-\d{2}-\d{4}\b`, `(?i)\bsecret\b`, `[A-Z]{2}\d{2}[A-Z0-9]{10,30}`, `\d+`, `(?<=pin )\d{4}`, `a|b|c`}
	for _, src := range good {
		if err := ProbeExpression(src, DefaultTimeout); err != nil {
			t.Errorf("ProbeExpression(%q) = %v, want nil", src, err)
		}
	}
}
