package voice

import (
	"math"
	"math/rand"
	"testing"
)

// tones renders key presses: each tone pair for on seconds, then off seconds
// of silence, with row/column amplitudes, a frequency error and white noise.
type toneSpec struct {
	on, off      float64
	rowAmp, colA float64
	freqErr      float64 // relative, e.g. 0.015
	noise        float64 // noise amplitude
}

func render(keysStr string, s toneSpec, rng *rand.Rand) []float64 {
	var out []float64
	for _, k := range []byte(keysStr) {
		r, c := -1, -1
		for i := range 4 {
			for j := range 4 {
				if keypad[i][j] == k {
					r, c = i, j
				}
			}
		}
		fr, fc := rowFreqs[r]*(1+s.freqErr), colFreqs[c]*(1+s.freqErr)
		n := int(s.on * sampleRate)
		for i := range n {
			t := float64(i) / sampleRate
			out = append(out, s.rowAmp*math.Sin(2*math.Pi*fr*t)+s.colA*math.Sin(2*math.Pi*fc*t)+s.noise*rng.NormFloat64())
		}
		for range int(s.off * sampleRate) {
			out = append(out, s.noise*rng.NormFloat64())
		}
	}
	return out
}

func detect(samples []float64) string {
	var d InbandDetector
	got := ""
	d.WriteLinear(samples, func(k byte) { got += string(k) })
	return got
}

func TestInbandDetection(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	const all = "4111111111111111#0123456789*ABCD"
	base := toneSpec{on: 0.07, off: 0.06, rowAmp: 0.25, colA: 0.25}
	cases := []struct {
		name string
		spec toneSpec
		keys string
		want string
	}{
		{"clean", base, all, all},
		{"noise at 20 dB SNR", toneSpec{on: 0.07, off: 0.06, rowAmp: 0.25, colA: 0.25, noise: 0.025}, all, all},
		{"frequency off by +1.5%", toneSpec{on: 0.07, off: 0.06, rowAmp: 0.25, colA: 0.25, freqErr: 0.015}, all, all},
		{"frequency off by -1.5%", toneSpec{on: 0.07, off: 0.06, rowAmp: 0.25, colA: 0.25, freqErr: -0.015}, all, all},
		{"frequency off by 6%", toneSpec{on: 0.07, off: 0.06, rowAmp: 0.25, colA: 0.25, freqErr: 0.06}, all, ""},
		{"forward twist 6 dB", toneSpec{on: 0.07, off: 0.06, rowAmp: 0.3, colA: 0.3 / 2}, all, all},
		{"forward twist 10 dB", toneSpec{on: 0.07, off: 0.06, rowAmp: 0.3, colA: 0.3 / 3.16}, all, ""},
		{"reverse twist 6 dB", toneSpec{on: 0.07, off: 0.06, rowAmp: 0.3 / 2, colA: 0.3}, all, ""},
		{"too short (20 ms)", toneSpec{on: 0.02, off: 0.06, rowAmp: 0.25, colA: 0.25}, "123", ""},
		{"long press is one key", toneSpec{on: 1.5, off: 0.1, rowAmp: 0.25, colA: 0.25}, "55", "55"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := detect(render(tc.keys, tc.spec, rng)); got != tc.want {
				t.Errorf("detected %q, want %q", got, tc.want)
			}
		})
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

func TestInbandNoTalkOff(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	signals := map[string][]float64{}
	signals["vowel a"] = speechLike(2, 110, 140, []float64{730, 1090, 2440}, rng)
	signals["vowel i"] = speechLike(2, 200, 180, []float64{270, 2290, 3010}, rng)
	signals["vowel u"] = speechLike(2, 150, 120, []float64{300, 870, 2240}, rng)
	signals["vowel e, high voice"] = speechLike(2, 220, 260, []float64{530, 1840, 2480}, rng)
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
		if got := detect(s); got != "" {
			t.Errorf("%s: talk-off, detected %q", name, got)
		}
	}
}

// muLawEncode is the G.711 μ-law encoder, for the test.
func muLawEncode(v float64) byte {
	s := int(v * 32767)
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

func TestInbandMuLaw(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	samples := render("9876543210", toneSpec{on: 0.06, off: 0.05, rowAmp: 0.2, colA: 0.2}, rng)
	b := make([]byte, len(samples))
	for i, v := range samples {
		b[i] = muLawEncode(v)
	}
	var d InbandDetector
	got := ""
	for i := 0; i < len(b); i += 160 { // 20 ms RTP payloads
		d.WriteMuLaw(b[i:min(i+160, len(b))], func(k byte) { got += string(k) })
	}
	if got != "9876543210" {
		t.Errorf("μ-law: detected %q", got)
	}
}

// BenchmarkInband reports how many calls' worth of real-time audio one core
// analyses.
func BenchmarkInband(b *testing.B) {
	rng := rand.New(rand.NewSource(4))
	audio := speechLike(1, 120, 150, []float64{700, 1200, 2500}, rng)
	var d InbandDetector
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.WriteLinear(audio, func(byte) {})
	}
	seconds := float64(b.N) * float64(len(audio)) / sampleRate
	b.ReportMetric(seconds/b.Elapsed().Seconds(), "x-realtime")
}
