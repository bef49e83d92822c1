package card

import (
	"errors"
	"strings"
	"testing"
	"unicode"
)

// complete returns prefix padded with a fixed filler to n digits, with a
// Luhn check digit last.
func complete(prefix string, n int) string {
	body := prefix
	for i := 0; len(body) < n-1; i++ {
		body += string(rune('0' + (i*7+3)%10))
	}
	for d := '0'; d <= '9'; d++ {
		if Luhn(body + string(d)) {
			return body + string(d)
		}
	}
	panic("unreachable")
}

func TestLuhn(t *testing.T) {
	tests := []struct {
		digits string
		want   bool
	}{
		{"4111111111111111", true},
		{"4111111111111112", false},
		{"378282246310005", true},
		{"79927398713", true},
		{"79927398710", false},
		{"", false},
		{"4111 1111", false}, // not digits only
		{"0", true},
	}
	for _, tc := range tests {
		if got := Luhn(tc.digits); got != tc.want {
			t.Errorf("Luhn(%q) = %v, want %v", tc.digits, got, tc.want)
		}
		if tc.digits != "" && strings.Trim(tc.digits, "0123456789") == "" {
			vals := []byte(tc.digits)
			for i := range vals {
				vals[i] -= '0'
			}
			if got := LuhnValues(vals); got != tc.want {
				t.Errorf("LuhnValues(%q) = %v, want %v", tc.digits, got, tc.want)
			}
		}
	}
}

// Published test numbers of the schemes and gateways, one or more a brand.
var published = []struct{ number, brand string }{
	{"4111111111111111", "visa"},
	{"4012888888881881", "visa"},
	{"4222222222222", "visa"},
	{"4111111111111111003", "visa"},
	{"5555555555554444", "mastercard"},
	{"5105105105105100", "mastercard"},
	{"2223003122003222", "mastercard"},
	{"2720992720992729", "mastercard"},
	{"378282246310005", "amex"},
	{"371449635398431", "amex"},
	{"6011111111111117", "discover"},
	{"6011000990139424", "discover"},
	{"6445644564456445", "discover"},
	{"6221260000000000", "discover"},
	{"30569309025904", "diners"},
	{"38520000023237", "diners"},
	{"36227206271667", "diners"},
	{"3530111333300000", "jcb"},
	{"3566002020360505", "jcb"},
	{"6200000000000005", "unionpay"},
	{"6205500000000000004", "unionpay"},
	{"6759649826438453", "maestro"},
	{"6799990100000000019", "maestro"},
	{"2200000000000004", "mir"},
	{"5066991111111118", "elo"},
	{"6362970000457013", "elo"},
	{"6062826786276634", "hipercard"},
	{"5019717010103742", "dankort"},
	{"9792030000000000", "troy"},
	{"122000000000003", "uatp"},
}

func TestDetectPublished(t *testing.T) {
	for _, tc := range published {
		t.Run(tc.brand+"/"+tc.number, func(t *testing.T) {
			if !Luhn(tc.number) {
				t.Fatalf("test number %s fails Luhn", tc.number)
			}
			b, ok := Detect(tc.number)
			if !ok || b.ID != tc.brand {
				t.Fatalf("Detect(%s) = %q, %v; want %q", tc.number, b.ID, ok, tc.brand)
			}
			if _, err := Validate(Format(tc.number)); err != nil {
				t.Fatalf("Validate(%q) = %v, want nil", Format(tc.number), err)
			}
		})
	}
}

// TestEveryBrandEveryLength builds a number for each range and each length
// of every brand and checks detection and ValidLength agree with the table.
func TestEveryBrandEveryLength(t *testing.T) {
	for _, b := range Brands {
		for _, rg := range b.Ranges {
			for _, prefix := range []string{rg.From, rg.To} {
				for n := MinLength; n <= MaxLength; n++ {
					num := complete(prefix, n)
					uses := false
					for _, l := range b.Lengths {
						uses = uses || l == n
					}
					if got := ValidLength(num); uses && !got {
						t.Errorf("%s %d digits (%s): ValidLength = false, want true", b.ID, n, num)
					}
					if uses {
						d, ok := Detect(num)
						if !ok {
							t.Errorf("%s %d digits (%s): Detect found no brand", b.ID, n, num)
						}
						// A more specific range of another brand may win; it must use this length.
						if ok && d.ID != b.ID && !containsInt(d.Lengths, n) {
							t.Errorf("%s %d digits: Detect chose %s which has no such length", b.ID, n, d.ID)
						}
						poss := Possible(num[:len(prefix)])
						if !containsBrand(poss, b.ID) {
							t.Errorf("Possible(%s) lacks %s", num[:len(prefix)], b.ID)
						}
					}
				}
			}
		}
	}
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func containsBrand(bs []Brand, id string) bool {
	for _, b := range bs {
		if b.ID == id {
			return true
		}
	}
	return false
}

func TestMastercard2Series(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		want   bool
	}{
		{"2220", false}, {"2221", true}, {"2500", true}, {"2720", true}, {"2721", false},
		{"50", false}, {"51", true}, {"55", true}, {"56", false},
	} {
		b, ok := Detect(complete(tc.prefix, 16))
		if got := ok && b.ID == "mastercard"; got != tc.want {
			t.Errorf("prefix %s: Mastercard = %v (%s), want %v", tc.prefix, got, b.ID, tc.want)
		}
	}
}

func TestDiscoverRanges(t *testing.T) {
	for _, tc := range []struct {
		prefix, want string
	}{
		{"622125", "unionpay"}, {"622126", "discover"}, {"622925", "discover"}, {"622926", "unionpay"},
		{"643", "maestro"}, {"644", "discover"}, {"649", "discover"}, {"65", "discover"}, {"6011", "discover"},
	} {
		b, _ := Detect(complete(tc.prefix, 16))
		if b.ID != tc.want {
			t.Errorf("prefix %s: Detect = %q, %v; want %q", tc.prefix, b.ID, b.ID != "", tc.want)
		}
	}
}

func TestPossibleAsYouType(t *testing.T) {
	tests := []struct {
		prefix   string
		want     []string // must be present
		wantNone bool
		name     string
	}{
		{prefix: "4", want: []string{"visa"}, name: "Visa"},
		{prefix: "41", want: []string{"visa"}, name: "Visa"},
		{prefix: "3", want: []string{"amex", "diners", "jcb"}},
		{prefix: "34", want: []string{"amex"}, name: "American Express"},
		{prefix: "37", want: []string{"amex"}, name: "American Express"},
		{prefix: "2", want: []string{"mastercard", "mir"}},
		{prefix: "22", want: []string{"mastercard", "mir"}},
		{prefix: "2200", want: []string{"mir"}, name: "Mir"},
		{prefix: "2221", want: []string{"mastercard"}, name: "Mastercard"},
		{prefix: "6", want: []string{"discover", "unionpay", "maestro"}},
		{prefix: "6221", want: []string{"unionpay", "discover"}},
		{prefix: "62212", want: []string{"unionpay", "discover"}},
		{prefix: "622120", want: []string{"unionpay"}, name: "UnionPay"},
		{prefix: "4011 78", want: []string{"elo", "visa"}, name: "Elo"},
		{prefix: "7", wantNone: true, name: Unknown},
		{prefix: "0", wantNone: true, name: Unknown},
		{prefix: "2800", wantNone: true, name: Unknown},
		{prefix: "3000 0000 0000 0000 0000", wantNone: true, name: Unknown}, // 20 digits
		{prefix: "３４", want: []string{"amex"}, name: "American Express"},
	}
	for _, tc := range tests {
		t.Run(tc.prefix, func(t *testing.T) {
			got := Possible(tc.prefix)
			if tc.wantNone && len(got) != 0 {
				t.Fatalf("Possible(%q) = %v, want none", tc.prefix, ids(got))
			}
			for _, id := range tc.want {
				if !containsBrand(got, id) {
					t.Errorf("Possible(%q) = %v, want it to include %s", tc.prefix, ids(got), id)
				}
			}
			if tc.name != "" {
				if n := BrandName(tc.prefix); n != tc.name {
					t.Errorf("BrandName(%q) = %q, want %q", tc.prefix, n, tc.name)
				}
			}
		})
	}
	for _, undecided := range []string{"", "3", "6"} {
		if n := BrandName(undecided); n != "" {
			t.Errorf("BrandName(%q) = %q, want \"\" (not yet decided)", undecided, n)
		}
	}
}

func ids(bs []Brand) []string {
	var s []string
	for _, b := range bs {
		s = append(s, b.ID)
	}
	return s
}

func TestValidate(t *testing.T) {
	tests := []struct {
		in      string
		wantErr error
		brand   string
	}{
		{"4111 1111 1111 1111", nil, "visa"},
		{"4111-1111-1111-1111", nil, "visa"},
		{"3782 822463 10005", nil, "amex"},
		{"４１１１１１１１１１１１１１１１", nil, "visa"},
		{"4111 1111 1111 1112", ErrLuhn, ""},
		{"5555 5555 5555 444", ErrLength, ""},
		{"7111 1111 1111 1111", ErrBrand, ""},
		{"", ErrEmpty, ""},
		{"4111a1111", ErrCharset, ""},
	}
	for _, tc := range tests {
		b, err := Validate(tc.in)
		if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && b.ID != tc.brand) {
			t.Errorf("Validate(%q) = %q, %v; want %q, %v", tc.in, b.ID, err, tc.brand, tc.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), Digits(tc.in)) && Digits(tc.in) != "" {
			t.Errorf("Validate(%q) error %q contains the number", tc.in, err)
		}
	}
}

func TestFormat(t *testing.T) {
	tests := map[string]string{
		"4111111111111111":    "4111 1111 1111 1111",
		"378282246310005":     "3782 822463 10005",
		"30569309025904":      "3056 930902 5904",
		"4111111111111111003": "4111 1111 1111 1111 003",
		"4222222222222":       "4222 2222 2222 2",
		"4111-1111 1111.1111": "4111 1111 1111 1111",
	}
	for in, want := range tests {
		if got := Format(in); got != want {
			t.Errorf("Format(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMask(t *testing.T) {
	if got, want := Mask("4111 ４１１１"), "#########"; got != want {
		t.Errorf("Mask = %q, want %q", got, want)
	}
	tests := map[string]string{
		"4111 1111 1111 1111": "#### #### #### 1111",
		"378282246310005":     "###########0005",
		"1234":                "####",
		"４１１１ 1111 1111 1234": "#### #### #### 1234",
	}
	for in, want := range tests {
		if got := MaskKeepLast4(in); got != want {
			t.Errorf("MaskKeepLast4(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Last4("4111 1111 1111 1234"); got != "1234" {
		t.Errorf("Last4 = %q, want 1234", got)
	}
	if got := Last4("12345"); got != "" {
		t.Errorf("Last4 of a short number = %q, want empty", got)
	}
}

// TestNdRangesStartAtZero checks the assumption DigitValue rests on.
func TestNdRangesStartAtZero(t *testing.T) {
	for _, rg := range unicode.Nd.R16 {
		if rg.Stride != 1 || (rg.Hi-rg.Lo+1)%10 != 0 {
			t.Errorf("Nd range %U–%U stride %d is not whole blocks of ten", rg.Lo, rg.Hi, rg.Stride)
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if rg.Stride != 1 || (rg.Hi-rg.Lo+1)%10 != 0 {
			t.Errorf("Nd range %U–%U stride %d is not whole blocks of ten", rg.Lo, rg.Hi, rg.Stride)
		}
	}
}

func TestDigitValue(t *testing.T) {
	tests := map[rune]int{
		'0': 0, '9': 9, 'a': -1, ' ': -1,
		'０': 0, '４': 4, '９': 9, // full-width
		'٣': 3,                    // Arabic-Indic
		'۷': 7,                    // Extended Arabic-Indic
		'५': 5,                    // Devanagari
		'𝟗': 9,                    // mathematical bold
		'½': -1, 'Ⅳ': -1, '⑩': -1, // numbers that are not one decimal digit
		'²': 2, '₇': 7, '①': 1, '⓪': 0, '⑼': 9, '⒊': 3, '🄃': 2, // NFKC folds these to a digit
	}
	for r, want := range tests {
		if got := DigitValue(r); got != want {
			t.Errorf("DigitValue(%q) = %d, want %d", r, got, want)
		}
	}
	if got := Digits("４１-1 1"); got != "4111" {
		t.Errorf("Digits = %q, want 4111", got)
	}
}

func TestBrandTableWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, b := range Brands {
		if seen[b.ID] || b.ID == "" || b.Name == "" || len(b.Ranges) == 0 || len(b.Lengths) == 0 {
			t.Errorf("brand %+v: empty or duplicate field", b)
		}
		seen[b.ID] = true
		sum := 0
		for _, g := range b.Grouping {
			sum += g
		}
		if !containsInt(b.Lengths, sum) {
			t.Errorf("brand %s: grouping %v sums to %d, not one of its lengths %v", b.ID, b.Grouping, sum, b.Lengths)
		}
		if (b.CodeSize == 0) != (b.CodeName == "") {
			t.Errorf("brand %s: code name %q with size %d", b.ID, b.CodeName, b.CodeSize)
		}
	}
	for _, id := range []string{"visa", "mastercard", "amex", "discover", "diners", "jcb", "unionpay", "maestro", "mir", "elo", "hipercard"} {
		if !seen[id] {
			t.Errorf("brand %s missing from the table", id)
		}
	}
}
