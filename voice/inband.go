package voice

import (
	"math"
	"math/cmplx"
)

// In-band DTMF detection in 8 kHz audio (G.711), to ITU-T Q.24.
//
// Why this shape: a classic detector runs the Goertzel algorithm on
// 205-sample blocks (25.6 ms) and wants two consecutive blocks, so it needs
// presses of at least 51 ms, while Q.24 asks for 40 ms presses with 40 ms
// pauses. A shorter block cannot tell 697 Hz from 770 Hz, so the window
// stays at about 25 ms but slides: the audio is cut into sub-blocks of
// subBlock samples (6.4 ms), the Goertzel filters run once per sample and
// sub-block, and each sub-block's complex bin values are kept, so the
// window of the last windowSubs sub-blocks is a sum of four numbers per
// tone instead of a new pass over 204 samples. A key needs two consecutive
// windows that pass, so a press of 38 ms is found at any alignment.
//
// The same complex values measure each tone's frequency: the phase a tone
// advances from one sub-block to the next is its frequency, so a tone
// within ±1.5% is accepted and one beyond ±2.5% refused (Q.24: operate
// within ±1.5%, non-operate beyond ±3.5%), and the bin's loss for a tone off
// its nominal frequency is undone before twist and energy shares are
// judged, so twist at the standard limits (high group minus low group
// between −8 and +4 dB) is measured as it is.
//
// Talk-off: speech, music and call-progress tones are refused because the
// two tones must carry most of the window's energy, each must stand 6 dB
// above the other tones of its group, neither may have a strong second
// harmonic, their frequencies must be exact, and the energy must be steady
// over the window's four sub-blocks (which also refuses presses shorter than
// about 28 ms). Tests hold real speech (espeak-ng), music and the call
// progress tones of several countries against these rules.
const (
	sampleRate = 8000
	subBlock   = 51 // samples: 6.4 ms, the hop of the sliding window
	windowSubs = 4  // sub-blocks in a window: 204 samples, 25.5 ms
	window     = subBlock * windowSubs
	onWindows  = 2 // consecutive passing windows for a key
	offWindows = 6 // consecutive windows without the key before a key counts again: bridges a dropout of 10 ms, ends at a pause of 20 ms

	maxForwardTwist = 5.0  // dB: high group stronger (the standard allows 4)
	maxReverseTwist = 9.0  // dB: low group stronger (the standard allows 8)
	minPeakRatio    = 6.0  // dB: the chosen tone above the other tones of its group
	minToneShare    = 0.75 // the two tones carry at least this share of the window's energy
	minLevel        = 1e-4 // window energy per sample (full scale 1.0): silence is no key
	maxHarmonic     = -20  // dB: second harmonic of the tones (speech has strong ones)
	maxFreqError    = 0.025
	minSteadiness   = 0.5 // each sub-block's energy, against the strongest of the window (the beat of the two tones moves it by up to ±21%)
)

var (
	rowFreqs = [4]float64{697, 770, 852, 941}
	colFreqs = [4]float64{1209, 1336, 1477, 1633}
	keypad   = [4][4]byte{{'1', '2', '3', 'A'}, {'4', '5', '6', 'B'}, {'7', '8', '9', 'C'}, {'*', '0', '#', 'D'}}
)

// The filters: 0–3 rows, 4–7 columns, 8–15 their second harmonics.
const nFilters = 16

var (
	filterFreq [nFilters]float64
	coef       [nFilters]float64    // Goertzel coefficient 2cos(ω)
	sinW       [nFilters]float64    // sin(ω)
	outRe      [nFilters]float64    // a sub-block's bin from its two last states:
	outIm      [nFilters]float64    // Y = e^{-jω(S-1)}·(s1 − e^{-jω}·s2)
	rotRe      [nFilters][4]float64 // e^{-jωiS}: sub-block i of a window, referred to its start
	rotIm      [nFilters][4]float64
)

func init() {
	for i := range 4 {
		filterFreq[i], filterFreq[4+i] = rowFreqs[i], colFreqs[i]
		filterFreq[8+i], filterFreq[12+i] = 2*rowFreqs[i], 2*colFreqs[i]
	}
	for f, hz := range filterFreq {
		w := 2 * math.Pi * hz / sampleRate
		coef[f], sinW[f] = 2*math.Cos(w), math.Sin(w)
		outRe[f], outIm[f] = math.Cos(w*(subBlock-1)), -math.Sin(w*(subBlock-1))
		for i := range windowSubs {
			rotRe[f][i], rotIm[f][i] = math.Cos(w*float64(i*subBlock)), -math.Sin(w*float64(i*subBlock))
		}
	}
}

// subResult is one sub-block: its energy and the complex bin of each filter.
type subResult struct {
	energy float64
	re, im [nFilters]float64
}

// InbandDetector finds DTMF keys in a stream of 8 kHz samples. Audio is
// analysed sub-block by sub-block and not kept. Not safe for concurrent
// use.
type InbandDetector struct {
	s1, s2 [nFilters]float64 // Goertzel states of the current sub-block
	energy float64
	n      int // samples in the current sub-block
	subs   [windowSubs]subResult
	nsubs  int // sub-blocks seen (up to windowSubs)
	next   int // ring index of the oldest sub-block

	cand    byte // key of the last windows (0: none)
	run     int  // consecutive windows with cand
	off     int  // consecutive windows without the emitted key
	emitted byte // key reported and not yet released
}

// WriteMuLaw feeds G.711 μ-law bytes (payload type 0) and calls emit for
// each key found.
func (d *InbandDetector) WriteMuLaw(b []byte, emit func(key byte)) {
	for _, c := range b {
		d.sample(float64(muLaw[c])/32768, emit)
	}
}

// WriteALaw feeds G.711 A-law bytes (payload type 8).
func (d *InbandDetector) WriteALaw(b []byte, emit func(key byte)) {
	for _, c := range b {
		d.sample(float64(aLaw[c])/32768, emit)
	}
}

// WriteLinear feeds samples scaled to [-1, 1].
func (d *InbandDetector) WriteLinear(s []float64, emit func(key byte)) {
	for _, v := range s {
		d.sample(v, emit)
	}
}

func (d *InbandDetector) sample(v float64, emit func(key byte)) {
	for f := range nFilters {
		s0 := v + coef[f]*d.s1[f] - d.s2[f]
		d.s2[f], d.s1[f] = d.s1[f], s0
	}
	d.energy += v * v
	d.n++
	if d.n < subBlock {
		return
	}
	r := &d.subs[d.next]
	for f := range nFilters {
		// s1 − e^{-jω}·s2, turned to refer to the sub-block's first sample.
		a, b := d.s1[f]-coef[f]/2*d.s2[f], sinW[f]*d.s2[f]
		r.re[f] = a*outRe[f] - b*outIm[f]
		r.im[f] = a*outIm[f] + b*outRe[f]
	}
	r.energy = d.energy
	d.s1, d.s2, d.energy, d.n = [nFilters]float64{}, [nFilters]float64{}, 0, 0
	d.next = (d.next + 1) % windowSubs
	if d.nsubs < windowSubs {
		d.nsubs++
		if d.nsubs < windowSubs {
			return
		}
	}
	d.decide(d.detectWindow(), emit)
}

// decide applies the timing rules to the key of the last window.
func (d *InbandDetector) decide(key byte, emit func(key byte)) {
	if key != 0 && key == d.cand {
		d.run++
	} else {
		d.cand, d.run = key, 1
	}
	if d.emitted != 0 {
		if key == d.emitted {
			d.off = 0
			return
		}
		d.off++
		if d.off < offWindows {
			return
		}
		d.emitted = 0
	}
	if key != 0 && d.run >= onWindows {
		d.emitted, d.off = key, 0
		emit(key)
	}
}

func db(ratio float64) float64 { return 10 * math.Log10(ratio) }

func sq(x float64) float64 { return x * x }

func sqAbs(x complex128) float64 { return real(x)*real(x) + imag(x)*imag(x) }

// windowBin is the complex bin of filter f over the window's sub-blocks
// from..to-1 (0 the oldest), referred to sub-block from.
func (d *InbandDetector) windowBin(f, from, to int) complex128 {
	var x complex128
	for i := from; i < to; i++ {
		s := &d.subs[(d.next+i)%windowSubs]
		k := i - from
		x += complex(s.re[f], s.im[f]) * complex(rotRe[f][k], rotIm[f][k])
	}
	return x
}

// kernel is Σ e^{jΔn} for n in [0, n): the bin of a window of n samples for
// a unit complex tone delta rad/sample off the bin.
func kernel(delta float64, n int) complex128 {
	if math.Abs(delta) < 1e-9 {
		return complex(float64(n), 0)
	}
	return (1 - cmplx.Exp(complex(0, delta*float64(n)))) / (1 - cmplx.Exp(complex(0, delta)))
}

// pair resolves the two tones of a key from their two bins over a window
// of n samples: each bin holds its tone, off by its offset, and the other
// tone's leakage. It returns each tone's complex amplitude (half its real
// amplitude, with its phase at the window's start).
func pair(xr, xc complex128, wr, wc, dr, dc float64, n int) (cr, cc complex128) {
	krr, kcc := kernel(dr, n), kernel(dc, n)
	kcr := kernel(wc+dc-wr, n) // the column tone in the row bin
	krc := kernel(wr+dr-wc, n) // the row tone in the column bin
	det := krr*kcc - kcr*krc
	if det == 0 {
		return 0, 0
	}
	return (xr*kcc - xc*kcr) / det, (xc*krr - xr*krc) / det
}

// tones measures the row tone r and column tone c of the window: their
// offsets from the filters' frequencies (rad/sample), from the phase each
// advances over a sub-block, and their amplitudes, with the other tone's
// leakage and the bin's loss for the offset undone.
func (d *InbandDetector) tones(r, c int) (dr, dc, ar, ac float64) {
	wr, wc := 2*math.Pi*filterFreq[r]/sampleRate, 2*math.Pi*filterFreq[c]/sampleRate
	const n3 = (windowSubs - 1) * subBlock
	xar, xac := d.windowBin(r, 0, windowSubs-1), d.windowBin(c, 0, windowSubs-1)
	xbr, xbc := d.windowBin(r, 1, windowSubs), d.windowBin(c, 1, windowSubs)
	offset := func(a, b complex128, w float64) float64 {
		// b ≈ a·e^{jω'S} for a tone at ω' (each referred to its own start).
		return math.Remainder(cmplx.Phase(b*cmplx.Conj(a))-w*subBlock, 2*math.Pi) / subBlock
	}
	dr, dc = offset(xar, xbr, wr), offset(xac, xbc, wc)
	for range 2 { // the offsets again, from the tones without each other's leakage
		ar1, ac1 := pair(xar, xac, wr, wc, dr, dc, n3)
		br1, bc1 := pair(xbr, xbc, wr, wc, dr, dc, n3)
		dr, dc = offset(ar1, br1, wr), offset(ac1, bc1, wc)
	}
	cr, cc := pair(d.windowBin(r, 0, windowSubs), d.windowBin(c, 0, windowSubs), wr, wc, dr, dc, window)
	return dr, dc, 2 * cmplx.Abs(cr), 2 * cmplx.Abs(cc)
}

// detectWindow returns the key whose tones dominate the window, or 0.
func (d *InbandDetector) detectWindow() byte {
	energy, most := 0.0, 0.0
	for _, s := range d.subs {
		energy += s.energy
		most = max(most, s.energy)
	}
	if energy/window < minLevel {
		return 0
	}
	for _, s := range d.subs {
		if s.energy < minSteadiness*most {
			return 0
		}
	}
	var pow [8]float64
	r, c := 0, 4
	for f := range 8 {
		pow[f] = sqAbs(d.windowBin(f, 0, windowSubs))
		if f < 4 && pow[f] > pow[r] {
			r = f
		}
		if f >= 4 && pow[f] > pow[c] {
			c = f
		}
	}
	if pow[r] <= 0 || pow[c] <= 0 {
		return 0
	}
	for f := range 8 {
		if f != r && f < 4 && db(pow[r]/max(pow[f], 1e-30)) < minPeakRatio {
			return 0
		}
		if f != c && f >= 4 && db(pow[c]/max(pow[f], 1e-30)) < minPeakRatio {
			return 0
		}
	}
	// Frequencies: each tone within maxFreqError of its nominal frequency.
	dr, dc, ar, ac := d.tones(r, c)
	wr, wc := 2*math.Pi*filterFreq[r]/sampleRate, 2*math.Pi*filterFreq[c]/sampleRate
	if math.Abs(dr) > maxFreqError*wr || math.Abs(dc) > maxFreqError*wc {
		return 0
	}
	// Twist, high group minus low group.
	if twist := 20 * math.Log10(ac/ar); twist > maxForwardTwist || -twist > maxReverseTwist {
		return 0
	}
	// A pure tone pair carries nearly all the energy: a tone of amplitude A
	// has A²/2 per sample.
	if share := (ar*ar + ac*ac) / 2 / (energy / window); share < minToneShare {
		return 0
	}
	// Speech has harmonics; a DTMF generator does not. (The row tone's
	// second harmonic lies near a column tone, whose leakage fills its bin:
	// it is judged against the stronger tone, and not at all where it lies
	// next to the column tone.)
	harm := func(f int) float64 { return sqAbs(d.windowBin(8+f, 0, windowSubs)) }
	binR, binC := sq(ar*window/2), sq(ac*window/2) // each tone's bin power, were it on its bin
	if math.Abs(2*filterFreq[r]-filterFreq[c]) > 150 && db(harm(r)/max(binR, binC)) > maxHarmonic {
		return 0
	}
	if db(harm(c)/binC) > maxHarmonic {
		return 0
	}
	return keypad[r][c-4]
}

// G.711 decoding tables.
var muLaw, aLaw [256]int16

func init() {
	for i := range 256 {
		u := ^byte(i)
		t := (int16(u&0x0f) << 3) + 0x84
		t <<= (u & 0x70) >> 4
		if u&0x80 != 0 {
			muLaw[i] = 0x84 - t
		} else {
			muLaw[i] = t - 0x84
		}
		a := byte(i) ^ 0x55
		v := int16(a&0x0f) << 4
		seg := (a & 0x70) >> 4
		switch seg {
		case 0:
			v += 8
		case 1:
			v += 0x108
		default:
			v += 0x108
			v <<= seg - 1
		}
		if a&0x80 != 0 {
			aLaw[i] = v
		} else {
			aLaw[i] = -v
		}
	}
}
