package voice

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"
)

// toneSpec renders key presses: each tone pair for on seconds, then off
// seconds of pause, with row and column amplitudes, frequency errors, white
// noise and a lead-in that moves the presses against the detector's
// sub-blocks.
type toneSpec struct {
	on, off        float64
	rowAmp, colAmp float64
	rowErr, colErr float64 // relative, e.g. 0.015
	noise          float64 // noise amplitude (standard deviation)
	lead           int     // samples of pause before the first press
}

func render(keysStr string, s toneSpec, rng *rand.Rand) []float64 {
	var out []float64
	for range s.lead {
		out = append(out, s.noise*rng.NormFloat64())
	}
	for _, k := range []byte(keysStr) {
		r, c := -1, -1
		for i := range 4 {
			for j := range 4 {
				if keypad[i][j] == k {
					r, c = i, j
				}
			}
		}
		fr, fc := rowFreqs[r]*(1+s.rowErr), colFreqs[c]*(1+s.colErr)
		pr, pc := rng.Float64()*2*math.Pi, rng.Float64()*2*math.Pi
		n := int(math.Round(s.on * sampleRate))
		for i := range n {
			t := float64(i) / sampleRate
			out = append(out, s.rowAmp*math.Sin(2*math.Pi*fr*t+pr)+s.colAmp*math.Sin(2*math.Pi*fc*t+pc)+s.noise*rng.NormFloat64())
		}
		for range int(math.Round(s.off * sampleRate)) {
			out = append(out, s.noise*rng.NormFloat64())
		}
	}
	return out
}

// codec is how audio reaches the detector.
type codec string

const (
	linear codec = "linear"
	pcmu   codec = "PCMU"
	pcma   codec = "PCMA"
)

// detectAs feeds samples through codec c in 20 ms RTP payloads.
func detectAs(c codec, samples []float64) string {
	var d InbandDetector
	var got strings.Builder
	emit := func(k byte) { got.WriteByte(k) }
	switch c {
	case linear:
		d.WriteLinear(samples, emit)
	default:
		b := make([]byte, len(samples))
		for i, v := range samples {
			if c == pcmu {
				b[i] = muLawEncode(v)
			} else {
				b[i] = aLawEncode(v)
			}
		}
		for i := 0; i < len(b); i += 160 {
			if c == pcmu {
				d.WriteMuLaw(b[i:min(i+160, len(b))], emit)
			} else {
				d.WriteALaw(b[i:min(i+160, len(b))], emit)
			}
		}
	}
	return got.String()
}

func detect(samples []float64) string { return detectAs(linear, samples) }

// dbAmp is the amplitude ratio of dB.
func dbAmp(d float64) float64 { return math.Pow(10, d/20) }

// TestInbandQ24 holds the detector to the operate limits of ITU-T Q.24:
// presses of 40, 45 and 50 ms with 40 ms pauses, at the nominal
// frequencies and ±1.5% off, at the twist limits (high minus low −8 and
// +4 dB), with noise at 20 dB below the tones, through μ-law and A-law,
// at every alignment against the detector's sub-blocks. Every key must
// come, once, in order.
func TestInbandQ24(t *testing.T) {
	const keys = "0123456789*#ABCD1155##99"
	rng := rand.New(rand.NewSource(17))
	freqs := []struct {
		name     string
		row, col float64
	}{{"nominal", 0, 0}, {"+1.5%", 0.015, 0.015}, {"-1.5%", -0.015, -0.015}, {"row +1.5% col -1.5%", 0.015, -0.015}, {"row -1.5% col +1.5%", -0.015, 0.015}}
	twists := []float64{0, -8, 4} // high group minus low group, dB
	step := 13                    // alignments against the sub-blocks
	if testing.Short() {
		step = 29
	}
	for _, on := range []float64{0.040, 0.045, 0.050} {
		for _, f := range freqs {
			for _, twist := range twists {
				for _, c := range []codec{linear, pcmu, pcma} {
					name := fmt.Sprintf("%.0fms/%s/twist%+.0fdB/%s", on*1000, f.name, twist, c)
					t.Run(name, func(t *testing.T) {
						// The stronger tone at -7 dBFS-ish, the weaker by the twist.
						rowAmp, colAmp := 0.3, 0.3*dbAmp(twist)
						if twist > 0 {
							rowAmp, colAmp = 0.3*dbAmp(-twist), 0.3
						}
						// Noise 20 dB below the weaker tone's power.
						noise := min(rowAmp, colAmp) / math.Sqrt2 * dbAmp(-20)
						for lead := 0; lead < subBlock; lead += step {
							spec := toneSpec{on: on, off: 0.040, rowAmp: rowAmp, colAmp: colAmp, rowErr: f.row, colErr: f.col, noise: noise, lead: lead}
							if got := detectAs(c, render(keys, spec, rng)); got != keys {
								t.Fatalf("lead %d samples: detected %q, want %q", lead, got, keys)
							}
						}
					})
				}
			}
		}
	}
}

// TestInbandRejects holds the detector to the non-operate limits: tones
// more than 3.5% off, presses of 23 ms and less, and twist beyond the
// limits give no key.
func TestInbandRejects(t *testing.T) {
	const keys = "0123456789*#ABCD"
	rng := rand.New(rand.NewSource(18))
	base := toneSpec{on: 0.07, off: 0.06, rowAmp: 0.25, colAmp: 0.25}
	with := func(edit func(*toneSpec)) toneSpec { s := base; edit(&s); return s }
	cases := []struct {
		name string
		spec toneSpec
	}{
		{"both tones +3.5%", with(func(s *toneSpec) { s.rowErr, s.colErr = 0.035, 0.035 })},
		{"both tones -3.5%", with(func(s *toneSpec) { s.rowErr, s.colErr = -0.035, -0.035 })},
		{"row tone +3.5%", with(func(s *toneSpec) { s.rowErr = 0.035 })},
		{"column tone -3.5%", with(func(s *toneSpec) { s.colErr = -0.035 })},
		{"both tones +6%", with(func(s *toneSpec) { s.rowErr, s.colErr = 0.06, 0.06 })},
		{"23 ms", with(func(s *toneSpec) { s.on = 0.023 })},
		{"20 ms", with(func(s *toneSpec) { s.on = 0.020 })},
		{"10 ms", with(func(s *toneSpec) { s.on = 0.010 })},
		{"high group 10 dB weaker", with(func(s *toneSpec) { s.colAmp = 0.25 * dbAmp(-10) })},
		{"high group 6 dB stronger", with(func(s *toneSpec) { s.rowAmp = 0.25 * dbAmp(-6) })},
		{"a single tone (row)", with(func(s *toneSpec) { s.colAmp = 0 })},
		{"a single tone (column)", with(func(s *toneSpec) { s.rowAmp = 0 })},
		{"too quiet", with(func(s *toneSpec) { s.rowAmp, s.colAmp = 0.003, 0.003 })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for lead := 0; lead < subBlock; lead += 17 {
				tc.spec.lead = lead
				for _, c := range []codec{linear, pcma} {
					if got := detectAs(c, render(keys, tc.spec, rng)); got != "" {
						t.Fatalf("lead %d, %s: detected %q, want nothing", lead, c, got)
					}
				}
			}
		})
	}
}

// TestInbandPresses: a long press is one key; presses of the same key
// with 40 ms pauses are as many keys; a short dropout inside a press does
// not split it.
func TestInbandPresses(t *testing.T) {
	rng := rand.New(rand.NewSource(19))
	if got := detect(render("55", toneSpec{on: 1.5, off: 0.1, rowAmp: 0.25, colAmp: 0.25}, rng)); got != "55" {
		t.Errorf("long presses: %q", got)
	}
	if got := detect(render("7777777777", toneSpec{on: 0.04, off: 0.04, rowAmp: 0.25, colAmp: 0.25, noise: 0.01}, rng)); got != "7777777777" {
		t.Errorf("ten presses of 7: %q", got)
	}
	for _, ms := range []int{5, 10} {
		press := render("8", toneSpec{on: 0.2, rowAmp: 0.25, colAmp: 0.25}, rng)
		clear(press[800 : 800+ms*8]) // a dropout in the middle
		if got := detect(press); got != "8" {
			t.Errorf("a press with a %d ms dropout: %q", ms, got)
		}
	}
}

// speechLike renders a vowel-like signal: a glottal pulse train (rich in
// harmonics) with a gliding pitch, shaped by formants.
func speechLike(seconds, f0From, f0To float64, formants []float64, rng *rand.Rand) []float64 {
	n := int(seconds * sampleRate)
	out := make([]float64, n)
	phase := 0.0
	for i := range n {
		f0 := f0From + (f0To-f0From)*float64(i)/float64(n)
		phase += 2 * math.Pi * f0 / sampleRate
		v := 0.0
		for h := 1; float64(h)*f0 < 3800; h++ {
			f := float64(h) * f0
			gain := 0.0
			for _, fm := range formants {
				gain += 1 / (1 + math.Pow((f-fm)/120, 2))
			}
			v += gain / float64(h) * math.Sin(float64(h)*phase)
		}
		out[i] = 0.15*v + 0.005*rng.NormFloat64()
	}
	return out
}

// tonesOf renders the sum of sine tones (Hz) at amplitude each, with a
// cadence: on seconds, off seconds, for total seconds.
func tonesOf(freqs []float64, amp, on, off, total float64) []float64 {
	n := int(total * sampleRate)
	out := make([]float64, n)
	for i := range n {
		t := float64(i) / sampleRate
		if off > 0 && math.Mod(t, on+off) >= on {
			continue
		}
		for _, f := range freqs {
			out[i] += amp * math.Sin(2*math.Pi*f*t)
		}
	}
	return out
}

// TestInbandNoTalkOffSynthetic: vowels, a chord, noise and the call
// progress tones of several countries give no key.
func TestInbandNoTalkOffSynthetic(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	signals := map[string][]float64{
		"vowel a":             speechLike(2, 110, 140, []float64{730, 1090, 2440}, rng),
		"vowel i":             speechLike(2, 200, 180, []float64{270, 2290, 3010}, rng),
		"vowel u":             speechLike(2, 150, 120, []float64{300, 870, 2240}, rng),
		"vowel e, high voice": speechLike(2, 220, 260, []float64{530, 1840, 2480}, rng),
		// Call progress tones (ITU-T E.180 and national plans).
		"US dial tone 350+440":        tonesOf([]float64{350, 440}, 0.2, 1, 0, 3),
		"US ringback 440+480":         tonesOf([]float64{440, 480}, 0.2, 2, 4, 6),
		"US busy 480+620":             tonesOf([]float64{480, 620}, 0.2, 0.5, 0.5, 4),
		"US reorder 480+620":          tonesOf([]float64{480, 620}, 0.2, 0.25, 0.25, 4),
		"UK dial tone 350+450":        tonesOf([]float64{350, 450}, 0.2, 1, 0, 3),
		"UK ringing 400+450":          tonesOf([]float64{400, 450}, 0.2, 0.4, 0.2, 3),
		"Europe dial tone 425":        tonesOf([]float64{425}, 0.3, 1, 0, 3),
		"Europe busy 425":             tonesOf([]float64{425}, 0.3, 0.5, 0.5, 3),
		"Japan ringback 400+416":      tonesOf([]float64{400, 416}, 0.2, 1, 2, 4),
		"SIT 950/1400/1800":           append(append(tonesOf([]float64{950}, 0.3, 1, 0, 0.33), tonesOf([]float64{1400}, 0.3, 1, 0, 0.33)...), tonesOf([]float64{1800}, 0.3, 1, 0, 0.33)...),
		"call waiting 440":            tonesOf([]float64{440}, 0.3, 0.3, 0.2, 2),
		"recall dial 350+440 stutter": tonesOf([]float64{350, 440}, 0.2, 0.1, 0.1, 2),
		"fax CNG 1100":                tonesOf([]float64{1100}, 0.3, 0.5, 3, 4),
		"fax CED 2100":                tonesOf([]float64{2100}, 0.3, 3, 0, 3),
	}
	var chord, noise []float64
	for i := range 2 * sampleRate {
		tt := float64(i) / sampleRate
		v := 0.0
		for _, f := range []float64{440, 554.37, 659.25, 880} { // A major with the octave
			for h := 1; h <= 4; h++ {
				v += 0.08 / float64(h) * math.Sin(2*math.Pi*f*float64(h)*tt)
			}
		}
		chord = append(chord, v)
		noise = append(noise, 0.2*rng.NormFloat64())
	}
	signals["music chord"] = chord
	signals["white noise"] = noise
	for name, s := range signals {
		for _, c := range []codec{linear, pcmu, pcma} {
			if got := detectAs(c, s); got != "" {
				t.Errorf("%s (%s): talk-off, detected %q", name, c, got)
			}
		}
	}
}

// muLawEncode is the G.711 μ-law encoder, for the test.
func muLawEncode(v float64) byte {
	s := int(max(-1, min(1, v)) * 32767)
	sign := 0
	if s < 0 {
		s, sign = -s, 0x80
	}
	s = min(s+0x84, 32635+0x84)
	exp := 7
	for mask := 0x4000; s&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (s >> (exp + 3)) & 0x0f
	return ^byte(sign | exp<<4 | mant)
}

// aLawEncode is the G.711 A-law encoder (as the reference g711.c), for the
// test.
func aLawEncode(v float64) byte {
	pcm := int(max(-1, min(1, v))*32767) >> 3
	mask := byte(0xd5)
	if pcm < 0 {
		mask, pcm = 0x55, -pcm-1
	}
	seg := 0
	for seg < 8 && pcm > (0x20<<seg)-1 {
		seg++
	}
	if seg >= 8 {
		return 0x7f ^ mask
	}
	a := byte(seg << 4)
	if seg < 2 {
		a |= byte(pcm>>1) & 0x0f
	} else {
		a |= byte(pcm>>seg) & 0x0f
	}
	return a ^ mask
}

func TestG711Encoders(t *testing.T) {
	for _, v := range []float64{0, 0.001, -0.001, 0.01, 0.1, -0.3, 0.5, -0.9, 0.99} {
		if got := float64(muLaw[muLawEncode(v)]) / 32768; math.Abs(got-v) > 0.04*math.Abs(v)+0.001 {
			t.Errorf("μ-law %v → %v", v, got)
		}
		if got := float64(aLaw[aLawEncode(v)]) / 32768; math.Abs(got-v) > 0.04*math.Abs(v)+0.001 {
			t.Errorf("A-law %v → %v", v, got)
		}
	}
}

// BenchmarkInband reports how many calls' worth of real-time audio one core
// analyses.
func BenchmarkInband(b *testing.B) {
	rng := rand.New(rand.NewSource(4))
	audio := speechLike(1, 120, 150, []float64{700, 1200, 2500}, rng)
	var d InbandDetector
	b.SetBytes(int64(len(audio))) // one byte a sample, as G.711
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.WriteLinear(audio, func(byte) {})
	}
	seconds := float64(b.N) * float64(len(audio)) / sampleRate
	b.ReportMetric(seconds/b.Elapsed().Seconds(), "x-realtime")
}
