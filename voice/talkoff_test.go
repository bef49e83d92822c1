package voice

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/secureinput/gateway/internal/testenv"
)

// talkOffSentences are spoken by espeak-ng in several voices, speeds and
// pitches: ordinary speech, numbers read aloud (what a caller says while
// keying) and a pangram for every phoneme.
var talkOffSentences = []struct{ voice, text string }{
	{"en", "Hello, thank you for calling. Please hold while I transfer you to the payment line."},
	{"en", "My card number is four one one one, one one one one, one one one one, one one one one."},
	{"en", "The quick brown fox jumps over the lazy dog, while seven excited zebras quietly vex the judge."},
	{"en-us", "Could you repeat that? I think I pressed the wrong key. Sorry, one moment please, nine eight seven six."},
	{"en+f3", "She sells sea shells by the sea shore; the shells she sells are surely sea shells."},
	{"en+m3", "Yes, the expiry date is December twenty thirty, and the security code is one two three."},
	{"en+f5", "Eeeeh, ooooh, aaaah, mmmmmm, sssssss, wheeeee! Hmm, right, okay, okay, okay."},
	{"de", "Guten Tag, ich möchte meine Rechnung bezahlen. Die Kartennummer lautet vier eins eins eins."},
	{"fr", "Bonjour, je voudrais payer ma facture. Le numéro de ma carte est quatre un un un."},
	{"es", "Buenos días, quisiera pagar mi factura con la tarjeta que termina en uno uno uno uno."},
	{"it", "Buongiorno, vorrei pagare la bolletta; il numero della carta è quattro uno uno uno."},
	{"nl", "Goedemiddag, ik wil graag betalen met mijn creditcard, een twee drie vier."},
}

// talkOffMusic are sox synth recipes: melodies and chords of plucked
// strings, square and sawtooth waves (rich in harmonics), and a sweep.
var talkOffMusic = [][]string{
	{"synth", "4", "pluck", "C4", "pluck", "E4", "pluck", "G4", "pluck", "C5"},
	{"synth", "3", "square", "A3", "square", "C#4", "square", "E4"},
	{"synth", "3", "sawtooth", "D4", "sawtooth", "F#4", "sawtooth", "A4", "sawtooth", "D5"},
	{"synth", "4", "sine", "600-1700"}, // a sweep through both groups
	{"synth", "3", "pluck", "F4", "pluck", "A4", "pluck", "C5", "pluck", "E5", "tremolo", "6", "40"},
	{"synth", "3", "trapezium", "G3", "trapezium", "B3", "trapezium", "D4"},
	{"synth", "3", "pinknoise"},
	{"synth", "3", "brownnoise"},
}

// TestInbandTalkOff: real speech (espeak-ng, several languages, voices,
// speeds and pitches) and music (sox synth), converted by sox to 8 kHz
// μ-law and A-law as a telephone line carries them, give no digit. The
// fixtures are made here, in the test's own directory.
func TestInbandTalkOff(t *testing.T) {
	espeak, err := exec.LookPath("espeak-ng")
	if err != nil {
		testenv.Missing(t, "espeak-ng")
	}
	sox, err := exec.LookPath("sox")
	if err != nil {
		testenv.Missing(t, "sox")
	}
	dir := t.TempDir()
	// encode converts a WAV to raw 8 kHz G.711 and returns it.
	encode := func(wav, enc string) []byte {
		t.Helper()
		out := filepath.Join(dir, "line.raw")
		// A telephone band-pass, as the network does, then 8 kHz G.711.
		cmd := exec.Command(sox, wav, "-r", "8000", "-c", "1", "-e", enc, "-t", "raw", out, "sinc", "300-3400", "norm", "-3")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sox %s: %v: %s", wav, err, b)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	check := func(name, wav string) {
		t.Helper()
		for _, enc := range []string{"u-law", "a-law"} {
			audio := encode(wav, enc)
			var d InbandDetector
			got := ""
			emit := func(k byte) { got += string(k) }
			for i := 0; i < len(audio); i += 160 {
				p := audio[i:min(i+160, len(audio))]
				if enc == "u-law" {
					d.WriteMuLaw(p, emit)
				} else {
					d.WriteALaw(p, emit)
				}
			}
			if got != "" {
				t.Errorf("%s (%s): talk-off, detected %q", name, enc, got)
			}
		}
	}
	seconds := 0.0
	for i, s := range talkOffSentences {
		voices := []struct{ speed, pitch string }{{"120", "30"}, {"175", "50"}, {"260", "80"}}
		if testing.Short() {
			voices = voices[1:2]
		}
		for _, v := range voices {
			wav := filepath.Join(dir, "speech.wav")
			cmd := exec.Command(espeak, "-v", s.voice, "-s", v.speed, "-p", v.pitch, "-w", wav, s.text)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("espeak-ng: %v: %s", err, b)
			}
			if fi, err := os.Stat(wav); err == nil {
				seconds += float64(fi.Size()) / 2 / 22050
			}
			check(fmt.Sprintf("sentence %d (%s, speed %s, pitch %s)", i, s.voice, v.speed, v.pitch), wav)
		}
	}
	for i, recipe := range talkOffMusic {
		wav := filepath.Join(dir, "music.wav")
		args := append([]string{"-n", "-r", "16000", "-b", "16", wav}, recipe...)
		if b, err := exec.Command(sox, args...).CombinedOutput(); err != nil {
			t.Fatalf("sox %v: %v: %s", recipe, err, b)
		}
		seconds += 3
		check(fmt.Sprintf("music %d %v", i, recipe), wav)
	}
	t.Logf("%.0f s of speech and music, μ-law and A-law: no digit", seconds)
}
