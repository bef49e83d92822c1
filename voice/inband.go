package voice

import "math"

// In-band DTMF detection in 8 kHz audio (G.711), with the Goertzel
// algorithm on blocks of blockSize samples. A key is reported when the same
// row and column tones dominate minBlocks consecutive blocks (≥ 40 ms) and
// again only after a block without it.
const (
	sampleRate = 8000
	blockSize  = 205 // 25.6 ms: bins about 39 Hz apart, fine enough for the DTMF grid
	minBlocks  = 2
	// Acceptance, as in ITU-T Q.24 practice.
	maxForwardTwist = 8.0  // dB: column tone weaker than row tone
	maxReverseTwist = 4.0  // dB: row tone weaker than column tone
	minPeakRatio    = 6.0  // dB: the chosen tone above the other tones of its group
	minToneShare    = 0.6  // the two tones carry at least this share of the block's energy
	minLevel        = 1e-4 // block energy per sample (full scale 1.0): silence is no key
	maxHarmonic     = -20  // dB: second harmonic of the tones (speech has strong ones)
)

// freqTolerance is how far a tone may be off its nominal frequency and still
// count (the usual ±1.5%): each tone is measured at its frequency and at
// both ends of the tolerance, and the strongest counts.
const freqTolerance = 0.015

var (
	rowFreqs              = [4]float64{697, 770, 852, 941}
	colFreqs              = [4]float64{1209, 1336, 1477, 1633}
	keypad                = [4][4]byte{{'1', '2', '3', 'A'}, {'4', '5', '6', 'B'}, {'7', '8', '9', 'C'}, {'*', '0', '#', 'D'}}
	rowCoef, colCoef      [4][3]float64
	harmCoef, harmColCoef [4]float64
)

func init() {
	coef := func(f float64) float64 { return 2 * math.Cos(2*math.Pi*f/sampleRate) }
	for i := range 4 {
		for j, m := range []float64{1 - freqTolerance, 1, 1 + freqTolerance} {
			rowCoef[i][j], colCoef[i][j] = coef(rowFreqs[i]*m), coef(colFreqs[i]*m)
		}
		harmCoef[i], harmColCoef[i] = coef(2*rowFreqs[i]), coef(2*colFreqs[i])
	}
}

// tonePower is the strongest of a tone's three measurements.
func tonePower(x *[blockSize]float64, c *[3]float64) float64 {
	return max(goertzel(x, c[0]), goertzel(x, c[1]), goertzel(x, c[2]))
}

// goertzel returns the power of one frequency bin over a block.
func goertzel(x *[blockSize]float64, coef float64) float64 {
	var s1, s2 float64
	for _, v := range x {
		s0 := v + coef*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - coef*s1*s2
}

// InbandDetector finds DTMF keys in a stream of 8 kHz samples. Audio is
// analysed block by block and not kept. Not safe for concurrent use.
type InbandDetector struct {
	block   [blockSize]float64
	n       int
	cur     byte // key seen in the last block (0: none)
	run     int  // consecutive blocks with cur
	emitted bool // cur was reported
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
	d.block[d.n] = v
	d.n++
	if d.n < blockSize {
		return
	}
	d.n = 0
	key := detectBlock(&d.block)
	clear(d.block[:])
	if key != 0 && key == d.cur {
		d.run++
	} else {
		d.cur, d.run, d.emitted = key, 1, false
	}
	if key != 0 && d.run >= minBlocks && !d.emitted {
		d.emitted = true
		emit(key)
	}
}

func db(ratio float64) float64 { return 10 * math.Log10(ratio) }

// detectBlock returns the key whose tones dominate the block, or 0.
func detectBlock(x *[blockSize]float64) byte {
	energy := 0.0
	for _, v := range x {
		energy += v * v
	}
	if energy/blockSize < minLevel {
		return 0
	}
	var rows, cols [4]float64
	r, c := 0, 0
	for i := range 4 {
		rows[i], cols[i] = tonePower(x, &rowCoef[i]), tonePower(x, &colCoef[i])
		if rows[i] > rows[r] {
			r = i
		}
		if cols[i] > cols[c] {
			c = i
		}
	}
	rp, cp := rows[r], cols[c]
	if rp <= 0 || cp <= 0 {
		return 0
	}
	// Twist: the two tones' levels must be close.
	if twist := db(rp / cp); twist > maxForwardTwist || -twist > maxReverseTwist {
		return 0
	}
	// Each chosen tone clearly above the others of its group.
	for i := range 4 {
		if i != r && db(rp/max(rows[i], 1e-30)) < minPeakRatio {
			return 0
		}
		if i != c && db(cp/max(cols[i], 1e-30)) < minPeakRatio {
			return 0
		}
	}
	// A pure tone pair carries nearly all the energy: for a sinusoid, the
	// bin power is (N/2)·(its energy)·… so normalise by N/2.
	share := 2 * (rp + cp) / (blockSize * energy)
	if share < minToneShare {
		return 0
	}
	// Speech has harmonics; a DTMF generator does not. (The row tone's
	// second harmonic is not checked where it lies next to the column tone,
	// whose leakage would fill its bin.)
	if math.Abs(2*rowFreqs[r]-colFreqs[c]) > 150 && db(goertzel(x, harmCoef[r])/rp) > maxHarmonic {
		return 0
	}
	if db(goertzel(x, harmColCoef[c])/cp) > maxHarmonic {
		return 0
	}
	return keypad[r][c]
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
