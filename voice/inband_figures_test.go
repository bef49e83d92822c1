package voice

import (
	"fmt"
	"math/rand"
	"os"
	"strings"
	"testing"
)

// inbandFigures measures the detector's limits over every key, ten
// alignments against its sub-blocks and random tone phases: the shortest
// press found every time and the longest never found (40 ms pauses), the
// frequency error accepted every time and the one never accepted (both
// tones off, either way), and the twist accepted every time (high group
// minus low group), on clean G.711-level tones.
type inbandFigures struct {
	minOnMs, maxOffMs      int     // found from, never found up to
	freqOK, freqNever      float64 // percent
	twistForward, twistRev float64 // dB accepted every time
}

// always reports whether every press of every key is found, once, at
// every alignment; never whether none is.
func pressesFound(spec toneSpec, rng *rand.Rand) (always, never bool) {
	const keys = "0123456789*#ABCD"
	always, never = true, true
	for lead := 0; lead < subBlock; lead += 5 {
		spec.lead = lead
		got := detect(render(keys, spec, rng))
		always = always && got == keys
		never = never && got == ""
	}
	return always, never
}

func measureInband() inbandFigures {
	rng := rand.New(rand.NewSource(24))
	base := toneSpec{on: 0.06, off: 0.04, rowAmp: 0.25, colAmp: 0.25}
	var f inbandFigures
	for ms := 10; ms <= 60; ms++ {
		s := base
		s.on = float64(ms) / 1000
		always, never := pressesFound(s, rng)
		if never {
			f.maxOffMs = ms
		}
		if always && f.minOnMs == 0 {
			f.minOnMs = ms
		}
		if !always {
			f.minOnMs = 0
		}
	}
	for tenths := 0; tenths <= 60; tenths++ {
		okAll, neverAll := true, true
		for _, sign := range []float64{1, -1} {
			s := base
			s.rowErr, s.colErr = sign*float64(tenths)/1000, sign*float64(tenths)/1000
			always, never := pressesFound(s, rng)
			okAll, neverAll = okAll && always, neverAll && never
		}
		if okAll {
			f.freqOK = float64(tenths) / 10
		}
		if neverAll && f.freqNever == 0 {
			f.freqNever = float64(tenths) / 10
		}
	}
	for halves := 0; halves <= 30; halves++ {
		db := float64(halves) / 2
		s := base
		s.rowAmp = 0.3 * dbAmp(-db) // high group stronger: forward twist
		s.colAmp = 0.3
		if always, _ := pressesFound(s, rng); always && f.twistForward == db-0.5*btof(halves > 0) {
			f.twistForward = db
		}
		s.rowAmp, s.colAmp = 0.3, 0.3*dbAmp(-db)
		if always, _ := pressesFound(s, rng); always && f.twistRev == db-0.5*btof(halves > 0) {
			f.twistRev = db
		}
	}
	return f
}

func btof(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// readmeLine is how the README states the figures.
func (f inbandFigures) readmeLine() string {
	return fmt.Sprintf("presses of %d ms and longer are found and of %d ms and shorter never; "+
		"tones within ±%.1f%% of their frequency are found and %.1f%% off never; "+
		"twist from −%.1f dB to +%.1f dB (high group minus low group) is accepted",
		f.minOnMs, f.maxOffMs, f.freqOK, f.freqNever, f.twistRev, f.twistForward)
}

// TestInbandFigures measures the detector's limits, checks them against
// ITU-T Q.24 (40 ms found, 23 ms not; ±1.5% found, ±3.5% not; twist −8 to
// +4 dB accepted) and checks that the README states them as measured.
func TestInbandFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("the measurement runs in the full (non -short) pass")
	}
	f := measureInband()
	t.Logf("measured: %+v", f)
	if f.minOnMs == 0 || f.minOnMs > 40 || f.maxOffMs < 23 {
		t.Errorf("durations: found from %d ms, never up to %d ms; Q.24 wants 40 ms found and 23 ms not", f.minOnMs, f.maxOffMs)
	}
	if f.freqOK < 1.5 || f.freqNever == 0 || f.freqNever > 3.5 {
		t.Errorf("frequency: found within ±%.1f%%, never at %.1f%%; Q.24 wants ±1.5%% found and ±3.5%% not", f.freqOK, f.freqNever)
	}
	if f.twistForward < 4 || f.twistRev < 8 {
		t.Errorf("twist accepted −%.1f to +%.1f dB; the standard limits are −8 and +4", f.twistRev, f.twistForward)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if line := f.readmeLine(); !strings.Contains(strings.Join(strings.Fields(string(readme)), " "), line) {
		t.Errorf("README.md does not state the measured figures; write:\n%s", line)
	}
}
