package card

import "testing"

// FuzzPossible checks the as-you-type answer is consistent with Detect: any
// brand Detect gives for a full number must have been possible for each of
// its prefixes.
func FuzzPossible(f *testing.F) {
	for _, tc := range published {
		f.Add(tc.number)
	}
	f.Add("７")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		b, ok := Detect(s)
		d := Digits(s)
		if !ok {
			return
		}
		for i := 1; i <= len(d); i++ {
			if !containsBrand(Possible(d[:i]), b.ID) {
				t.Fatalf("Detect(%q) = %s but Possible(%q) lacks it", d, b.ID, d[:i])
			}
		}
		if !ValidLength(d) {
			t.Fatalf("Detect(%q) = %s but ValidLength is false", d, b.ID)
		}
	})
}
