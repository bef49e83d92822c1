package web

import (
	"slices"
	"testing"
)

// TestSocketSignalsEndAfterItsCleanups: Shutdown waits on a socket's ended
// signal, so the signal must come after every cleanup (the connection
// counts among them); before, the wait group was one more cleanup and ran
// first, and Shutdown could return with a socket still counted.
func TestSocketSignalsEndAfterItsCleanups(t *testing.T) {
	var order []string
	so := &socket{}
	so.onEnd(func() { order = append(order, "release counts") })
	so.ended = func() { order = append(order, "ended") }
	so.onEnd(func() { order = append(order, "stop timers") })
	so.end()
	so.end() // a second end runs nothing again
	want := []string{"stop timers", "release counts", "ended"}
	if !slices.Equal(order, want) {
		t.Fatalf("end ran %q, want %q", order, want)
	}
}
