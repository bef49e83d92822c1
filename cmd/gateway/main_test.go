package main

import (
	"os"
	"testing"

	"github.com/secureinput/gateway/internal/testenv"
)

// TestMain removes the gateway binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveGatewayBinary()
	os.Exit(code)
}
