package redact

import (
	"strings"
	"testing"
)

// TestSpellings: each spelling of issue 15 that reached an agent unmasked is
// masked now, digit for digit, and keeps its length in characters.
func TestSpellings(t *testing.T) {
	e := mustNew(t, DefaultConfig())
	tests := []struct{ name, in, card string }{
		// Separators between groups.
		{"newline", "card\n", "4111\n1111\n1111\n1111"},
		{"crlf", "card ", "4111\r\n1111\r\n1111\r\n1111"},
		{"tab", "card ", "4111\t1111\t1111\t1111"},
		{"underscore", "card ", "4111_1111_1111_1111"},
		{"slash", "card ", "4111/1111/1111/1111"},
		{"comma", "card ", "4111,1111,1111,1111"},
		{"comma space", "card ", "4111, 1111, 1111, 1111"},
		{"mixed", "card ", "4111 / 1111,\n1111_-_1111"},
		{"slash amex", "card ", "3782/822463/10005"},
		// A uniform 12-digit card inside a longer one with another
		// separator: the longer one, so six digits do not stay visible.
		{"longer than the uniform part", "card ", "6614-7036-9256 000000"},
		{"single digits", "card ", "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"},
		{"single digits dashed", "card ", "4-0-1-2-8-8-8-8-8-8-8-8-1-8-8-1"},
		{"lrm", "card ", "4111\u200e1111\u200e1111\u200e1111"},
		{"rlm inside groups", "card ", "41\u200f11 11\u200f11 1111 1111"},
		{"word joiner", "card ", "4\u20601\u20601\u20601 1111 1111 1111"},
		{"arabic letter mark", "card ", "4111\u061c1111\u061c1111\u061c1111"},
		{"bidi isolate", "card ", "\u20664111 1111 1111 1111"},
		{"many format chars", "card ", "4111\u200b\u200c\u200d\u2060\ufeff1111 1111 1111"},
		// Compatibility digits.
		{"superscript", "card ", "⁴¹¹¹ ¹¹¹¹ ¹¹¹¹ ¹¹¹¹"},
		{"subscript", "card ", "₄₁₁₁₁₁₁₁₁₁₁₁₁₁₁₁"},
		{"circled", "card ", "④①①① ①①①① ①①①① ①①①①"},
		{"parenthesised", "card ", "⑷⑴⑴⑴⑴⑴⑴⑴⑴⑴⑴⑴⑴⑴⑴⑴"},
		{"full stop digits", "card ", "⒋⒈⒈⒈⒈⒈⒈⒈⒈⒈⒈⒈⒈⒈⒈⒈"},
		{"math bold", "card ", "𝟒𝟏𝟏𝟏 𝟏𝟏𝟏𝟏 𝟏𝟏𝟏𝟏 𝟏𝟏𝟏𝟏"},
		{"math monospace", "card ", "𝟺𝟷𝟷𝟷𝟷𝟷𝟷𝟷𝟷𝟷𝟷𝟷𝟷𝟷𝟷𝟷"},
		{"mixed forms", "card ", "4¹①₁ 𝟏1１⑴ 1111 1111"},
		// Glued to letters.
		{"glued word", "card", "4111 1111 1111 1111"},
		{"glued CC", "CC", "4987-9390-7302-1006"},
		{"glued both sides", "x", "4111-1111-1111-1111"},
		{"glued Visa", "Visa", "4137 8113 7424 1865"},
		{"glued two letters not a registry country", "ZZ", "4111 1111 1111 1111"},
		{"glued registry country, no IBAN", "DE", "4111 1111 1111 1111"},
		// After '+'.
		{"plus 16", "+", "4111111111111111"},
		{"plus grouped", "+", "4111 1111 1111 1111"},
		// Brands the table now has.
		{"maestro 66", "card ", writeGrouped(luhnComplete("66", 16), []int{4, 4, 4, 4}, " ")},
		{"maestro 58 19 digits", "card ", luhnComplete("58", 19)},
		{"visa 17", "card ", luhnComplete("4", 17)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in + tc.card
			if tc.name == "glued both sides" {
				in += "y"
			}
			r, err := e.Redact(in)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(r.Text, strings.Repeat("#", 4)) || leaksDigits(r.Text) {
				t.Errorf("Redact(%q) = %q: card not masked", in, r.Text)
			}
			if got, want := len([]rune(r.Text)), len([]rune(in)); got != want {
				t.Errorf("Redact(%q) = %q: %d characters, want %d", in, r.Text, got, want)
			}
			if !strings.HasPrefix(r.Text, tc.in) {
				t.Errorf("Redact(%q) = %q: the text before the card changed", in, r.Text)
			}
		})
	}
}

// leaksDigits reports whether more than four digits of any form remain.
func leaksDigits(s string) bool {
	n := 0
	for _, r := range s {
		if _, v, _ := decode([]byte(string(r)), 0); v >= 0 {
			n++
		}
	}
	return n > 4
}

// TestSpellingDecoys: what the new spellings must not catch.
func TestSpellingDecoys(t *testing.T) {
	e := mustNew(t, DefaultConfig())
	for _, in := range []string{
		"IBAN DE89 3704 0044 0532 0130 00",
		"iban de89370400440532013000",
		"DE89370400440532013000",
		"GB82 WEST 1234 5698 7654 32",
		"BE68 5390 0754 7034",
		"NO93 8601 1117 947",
		"FR14 2004 1010 0505 0001 3M02 606",
		"NL91ABNA0417164300",
		"+44 20 7946 0958",
		"+1 415 555 2671",
		"+441234567890123",
		"orders 12345, 67890, 11111, 22222",
		"servers 10.10.10.10, 172.16.0.11",
		"10.0.0.1/24, 192.168.1.0/24",
		"dates 12/27/2024, 01/02/2025",
		"line 1\nline 2\n3\n4",
		"1,234,567,890.12 EUR",
		"files a_1234_5678_9012.txt",
		"4111 1111 1111 1112",
		"4111/1111/1111/1112",
		"41111111111111110000",
		"order number 12345678",
		"x4111-1111-1111-1112y",
	} {
		r, err := e.Redact(in)
		if err != nil {
			t.Fatal(err)
		}
		if r.Text != in {
			t.Errorf("Redact(%q) = %q, spans %v; want it untouched", in, r.Text, r.Spans)
		}
	}
}

// TestSecurityCodes: a code right after a card or after its word is masked;
// the expiry and other short numbers stay.
func TestSecurityCodes(t *testing.T) {
	e := mustNew(t, DefaultConfig())
	for _, tc := range []struct{ in, want string }{
		{"4111 1111 1111 1111 exp 12/27 cvv 123", "################### exp 12/27 cvv ###"},
		{"4111 1111 1111 1111 123", "################### ###"},
		{"4111 1111 1111 1111, 12/27, 123", "###################, 12/27, ###"},
		{"4111111111111111 12/27 123 thanks", "################ 12/27 ### thanks"},
		{"4111111111111111 (exp 12/2027) 1234", "################ (exp 12/2027) ####"},
		{"3782 822463 10005 1234", "################# ####"},
		{"number 4111111111111111 expires 12/2027 code 123", "number ################ expires 12/2027 code ###"},
		{"ccv 123", "ccv ###"},
		{"security number: 1234", "security number: ####"},
		// Words glued to the numbers after a card.
		{"4111 1111 1111 1111cvv123", "###################cvv###"},
		{"4111111111111111exp1227cvv123", "################exp1227cvv###"},
		{"4111111111111111 exp12/27 cvc:123", "################ exp12/27 cvc:###"},
		// An expiry written MMYY, then the code.
		{"4111 1111 1111 1111 1227 123", "################### 1227 ###"},
		{"4111111111111111 1227 123", "################ 1227 ###"},
		{"4111 1111 1111 1111 exp 1227 cvv 123", "################### exp 1227 cvv ###"},
		{"4111-1111-1111-1111 0930", "################### ####"}, // an expiry or a CID: masked either way
		{"cvv: 123", "cvv: ###"},
		{"my CVV is 123", "my CVV is ###"},
		{"CVC2=4567", "CVC2=####"},
		{"security code 123.", "security code ###."},
		{"Security code number: 123", "Security code number: ###"},
		{"código de seguridad 123", "código de seguridad ###"},
		{"Prüfnummer: 123", "Prüfnummer: ###"},
		{"cryptogramme visuel 123", "cryptogramme visuel ###"},
		{"CID ４３２１", "CID ####"},
		// A card after a code word is a card, commas between its groups.
		{"4147-0369-2581-1cvv 6214,7036,9250", "################cvv ##############"},
		{"cvv 6214,7036,9250 ok", "cvv ############## ok"},
		{"4147-0369-2581-1cvv 3528 / 1470 / 3692 / 5814 / 704", "################cvv ###############################"},
		{"4111 1111 1111 1111 cvv 123, 4567", "################### cvv ###, 4567"},
		// A code ends its line, whatever the next line holds.
		{"4111 1111 1111 1111 exp 12/27 cvv 123\n5555 5555 5555 4444", "################### exp 12/27 cvv ###\n###################"},
		{"Card: 4111 1111 1111 1111\nExp: 12/27\nCVV: 123\n2024-05-01 order", "Card: ###################\nExp: 12/27\nCVV: ###\n2024-05-01 order"},
		{"cvv: 123\r\n4567 8901", "cvv: ###\r\n4567 8901"},
		{"cvv: 123\n4111 1111 1111 1111", "cvv: ###\n###################"},
		{"cvv: 123; order 4567 8901", "cvv: ###; order 4567 8901"},
		// Decoys.
		{"the card ending in 4907", "the card ending in 4907"},
		{"order 123", "order 123"},
		{"order number 123", "order number 123"},
		{"phone number: 5551", "phone number: 5551"},
		{"4111 1111 1111 1111 exp 12/27", "################### exp 12/27"},
		{"cvv123abc", "cvv123abc"},
		{"decided 123 things", "decided 123 things"},
		{"cvv 12345", "cvv 12345"},
		{"4111111111111111 1234 5678 9012", "################ 1234 5678 9012"},
		{"4111111111111111 123-45-6789", "################ 123-45-6789"},
	} {
		r, err := e.Redact(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if r.Text != tc.want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", tc.in, r.Text, tc.want)
		}
	}
}

// TestIBANPrefixDoesNotHideACard: an IBAN's digits glued to its country
// code stay, but digits after a letter of its BBAN are scanned again, so a
// card written after an IBAN-shaped prefix is masked.
func TestIBANPrefixDoesNotHideACard(t *testing.T) {
	e := mustNew(t, DefaultConfig())
	for _, tc := range []struct{ in, want string }{
		{"aD36533E3528 1470 3692 5814 704", "aD36533E#######################"},
		// Letters before the country code make it a word, not an IBAN,
		// an invisible character between them or not.
		{"a\ufeffaD3528 1470 3692 5814 704aaD", "a\ufeffaD#######################aaD"},
		{"IBAN DE89 3704 0044 0532 0130 00", "IBAN DE89 3704 0044 0532 0130 00"},
		{"IBAN GB82 WEST 1234 5698 7654 32", "IBAN GB82 WEST 1234 5698 7654 32"},
	} {
		r, err := e.Redact(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if r.Text != tc.want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", tc.in, r.Text, tc.want)
		}
	}
}
