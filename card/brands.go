package card

import (
	"fmt"
	"strconv"
	"strings"
)

// Unknown is the brand name shown when no brand fits a number, so that a
// customer sees a mistyped number before submitting it.
const Unknown = "Unknown"

// MinLength and MaxLength bound the number of digits of any payment card
// number (ISO/IEC 7812 allows 8 to 19; every brand in Brands uses 12–19).
const (
	MinLength = 12
	MaxLength = 19
)

// A Range is an inclusive range of issuer identification number prefixes of
// one width: {"51", "55"} is every number starting 51, 52, 53, 54 or 55;
// {"622126", "622925"} every number whose first six digits fall in between.
type Range struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Brand describes one card scheme: which numbers belong to it and how its
// numbers and security codes look. Brands is the table of all of them.
type Brand struct {
	// ID is a stable lower-case identifier ("visa", "amex").
	ID string `json:"id"`
	// Name is the name shown to people ("American Express").
	Name string `json:"name"`
	// Ranges are the leading-digit ranges (IIN ranges) of the brand.
	Ranges []Range `json:"ranges"`
	// Lengths are the valid numbers of digits, ascending.
	Lengths []int `json:"lengths"`
	// Grouping is how the number is displayed for its most common length,
	// as group sizes: 4-4-4-4 for most, 4-6-5 for American Express. Other
	// lengths are shown in groups of four.
	Grouping []int `json:"grouping"`
	// CodeName is the brand's name for its security code (CVV, CVC, CID …);
	// empty when the brand has none.
	CodeName string `json:"codeName"`
	// CodeSize is the number of digits of the security code (0: none).
	CodeSize int `json:"codeSize"`
}

var (
	g4444 = []int{4, 4, 4, 4}
	g465  = []int{4, 6, 5}
	g464  = []int{4, 6, 4}
	g456  = []int{4, 5, 6}
)

func r(from, to string) Range { return Range{from, to} }
func p(prefix string) Range   { return Range{prefix, prefix} }

// Brands is the brand table: one entry a brand. Ranges may overlap between
// brands (Elo inside Visa's 4, Discover's 622126–622925 inside UnionPay's
// 62); Detect picks the most specific range. To add a brand, add an entry;
// the redactor, the as-you-type check and the widget all read this table.
var Brands = []Brand{
	{ID: "visa", Name: "Visa", Ranges: []Range{p("4")},
		Lengths: []int{13, 14, 15, 16, 17, 18, 19}, Grouping: g4444, CodeName: "CVV", CodeSize: 3},
	{ID: "mastercard", Name: "Mastercard", Ranges: []Range{r("51", "55"), r("2221", "2720")},
		Lengths: []int{16}, Grouping: g4444, CodeName: "CVC", CodeSize: 3},
	{ID: "amex", Name: "American Express", Ranges: []Range{p("34"), p("37")},
		Lengths: []int{15}, Grouping: g465, CodeName: "CID", CodeSize: 4},
	{ID: "discover", Name: "Discover", Ranges: []Range{p("6011"), r("644", "649"), p("65"), r("622126", "622925")},
		Lengths: []int{16, 17, 18, 19}, Grouping: g4444, CodeName: "CID", CodeSize: 3},
	{ID: "diners", Name: "Diners Club", Ranges: []Range{r("300", "305"), p("3095"), p("36"), r("38", "39")},
		Lengths: []int{14, 15, 16, 17, 18, 19}, Grouping: g464, CodeName: "CVV", CodeSize: 3},
	{ID: "jcb", Name: "JCB", Ranges: []Range{r("3528", "3589")},
		Lengths: []int{16, 17, 18, 19}, Grouping: g4444, CodeName: "CAV2", CodeSize: 3},
	{ID: "jcb15", Name: "JCB", Ranges: []Range{p("1800"), p("2131")},
		Lengths: []int{15}, Grouping: g465, CodeName: "CAV2", CodeSize: 3},
	{ID: "unionpay", Name: "UnionPay", Ranges: []Range{p("62"), r("8100", "8171")},
		Lengths: []int{14, 15, 16, 17, 18, 19}, Grouping: g4444, CodeName: "CVN2", CodeSize: 3},
	{ID: "mir", Name: "Mir", Ranges: []Range{r("2200", "2204")},
		Lengths: []int{16, 17, 18, 19}, Grouping: g4444, CodeName: "CVP2", CodeSize: 3},
	{ID: "elo", Name: "Elo", Ranges: []Range{p("401178"), p("401179"), p("438935"), p("457631"), p("457632"),
		p("431274"), p("451416"), p("457393"), p("504175"), r("506699", "506778"), r("509000", "509999"),
		p("627780"), p("636297"), p("636368"), r("650031", "650033"), r("650035", "650051"),
		r("650405", "650439"), r("650485", "650538"), r("650541", "650598"), r("650700", "650718"),
		r("650720", "650727"), r("650901", "650978"), r("651652", "651679"), r("655000", "655019"),
		r("655021", "655058")},
		Lengths: []int{16}, Grouping: g4444, CodeName: "CVE", CodeSize: 3},
	{ID: "hipercard", Name: "Hipercard", Ranges: []Range{p("606282"), p("384100"), p("384140"), p("384160"),
		p("637095"), p("637568"), p("637599"), p("637609"), p("637612")},
		Lengths: []int{16, 19}, Grouping: g4444, CodeName: "CVC", CodeSize: 3},
	{ID: "rupay", Name: "RuPay", Ranges: []Range{p("60"), p("65"), p("81"), p("82"), p("508"), p("353"), p("356")},
		Lengths: []int{16}, Grouping: g4444, CodeName: "CVV", CodeSize: 3},
	{ID: "dankort", Name: "Dankort", Ranges: []Range{p("5019")},
		Lengths: []int{16}, Grouping: g4444, CodeName: "CVV", CodeSize: 3},
	{ID: "verve", Name: "Verve", Ranges: []Range{r("506099", "506198"), r("650002", "650027"), r("507865", "507964")},
		Lengths: []int{16, 18, 19}, Grouping: g4444, CodeName: "CVV", CodeSize: 3},
	{ID: "troy", Name: "Troy", Ranges: []Range{p("9792")},
		Lengths: []int{16}, Grouping: g4444, CodeName: "CVV", CodeSize: 3},
	{ID: "interpayment", Name: "InterPayment", Ranges: []Range{p("636")},
		Lengths: []int{16, 17, 18, 19}, Grouping: g4444, CodeName: "CVV", CodeSize: 3},
	{ID: "uzcard", Name: "UzCard", Ranges: []Range{p("8600")},
		Lengths: []int{16}, Grouping: g4444, CodeName: "", CodeSize: 0},
	{ID: "humo", Name: "Humo", Ranges: []Range{p("9860")},
		Lengths: []int{16}, Grouping: g4444, CodeName: "", CodeSize: 0},
	// Maestro: the networks publish 50 and 56–69 (Mastercard's BIN table);
	// it comes after the brands it overlaps so that, at equal width, they
	// win Detect (UnionPay 62, Discover 65, RuPay 60).
	{ID: "maestro", Name: "Maestro", Ranges: []Range{p("493698"), p("50"), r("56", "69")},
		Lengths: []int{12, 13, 14, 15, 16, 17, 18, 19}, Grouping: g4444, CodeName: "CVC", CodeSize: 3},
	{ID: "uatp", Name: "UATP", Ranges: []Range{p("1")},
		Lengths: []int{15}, Grouping: g456, CodeName: "", CodeSize: 0},
}

// rangeEntry is one row of the compiled range table.
type rangeEntry struct {
	width    int    // number of leading digits compared
	from, to int    // inclusive, as integers of width digits
	brand    int    // index into Brands
	lengths  uint32 // bit n set: length n valid for the brand
}

var table = compile(Brands)

func compile(brands []Brand) []rangeEntry {
	var t []rangeEntry
	for bi, b := range brands {
		var lengths uint32
		for _, n := range b.Lengths {
			if n < MinLength || n > MaxLength {
				panic(fmt.Sprintf("card: brand %s: length %d outside %d–%d", b.ID, n, MinLength, MaxLength))
			}
			lengths |= 1 << n
		}
		for _, rg := range b.Ranges {
			from, err1 := strconv.Atoi(rg.From)
			to, err2 := strconv.Atoi(rg.To)
			if err1 != nil || err2 != nil || len(rg.From) != len(rg.To) || from > to || len(rg.From) > 8 {
				panic(fmt.Sprintf("card: brand %s: bad range %q–%q", b.ID, rg.From, rg.To))
			}
			t = append(t, rangeEntry{width: len(rg.From), from: from, to: to, brand: bi, lengths: lengths})
		}
	}
	return t
}

// prefixValue returns the first width digits of d (bytes from zero to
// zero+9) as an integer.
func prefixValue(d []byte, width int, zero byte) int {
	v := 0
	for i := 0; i < width; i++ {
		v = v*10 + int(d[i]-zero)
	}
	return v
}

// Detect returns the brand of a complete card number (digits only, or any
// separators: it is passed through Digits). The most specific matching range
// wins, and a brand is only chosen for a length it uses. ok is false when no
// brand fits; the number's Luhn check is not part of Detect.
func Detect(number string) (b Brand, ok bool) {
	return detect([]byte(Digits(number)), '0')
}

// DetectValues is Detect over digit values 0–9. It does not allocate.
func DetectValues(values []byte) (Brand, bool) { return detect(values, 0) }

func detect(digits []byte, zero byte) (b Brand, ok bool) {
	if len(digits) > MaxLength {
		return Brand{}, false
	}
	best, bestWidth := -1, 0
	for _, e := range table {
		if e.width > len(digits) || e.lengths&(1<<len(digits)) == 0 || e.width <= bestWidth {
			continue
		}
		if v := prefixValue(digits, e.width, zero); e.from <= v && v <= e.to {
			best, bestWidth = e.brand, e.width
		}
	}
	if best < 0 {
		return Brand{}, false
	}
	return Brands[best], true
}

// ValidLength reports whether some brand whose ranges match the leading digits
// of the ASCII digit string digits uses its length. Unlike Detect it accepts a
// number when any of several overlapping brands fits, which is what a
// redactor wants. It does not allocate.
func ValidLength(digits string) bool { return validLength([]byte(digits), '0') }

// ValidLengthValues is ValidLength over digit values 0–9.
func ValidLengthValues(values []byte) bool { return validLength(values, 0) }

func validLength(d []byte, zero byte) bool {
	n := len(d)
	if n < MinLength || n > MaxLength {
		return false
	}
	for _, e := range table {
		if e.lengths&(1<<n) == 0 {
			continue
		}
		if v := prefixValue(d, e.width, zero); e.from <= v && v <= e.to {
			return true
		}
	}
	return false
}

// Possible returns the brands that a partly typed number may still become:
// first those whose range the typed digits already fall in, most specific
// first, then those that more digits could still reach. It is empty when
// none can (show Unknown then). The prefix is passed through Digits; an
// empty prefix gives every brand.
func Possible(prefix string) []Brand {
	hits := possible(Digits(prefix))
	out := make([]Brand, len(hits))
	for i, h := range hits {
		out[i] = Brands[h.brand]
	}
	return out
}

// possibleHit is a brand a prefix may become; width is the widest of its
// ranges that the prefix already decides (0 if none yet).
type possibleHit struct{ brand, width int }

func possible(digits string) []possibleHit {
	if len(digits) > MaxLength {
		return nil
	}
	ascii := []byte(digits)
	var hits []possibleHit
	for _, e := range table {
		if !mayBecome(ascii, e) || e.lengths>>len(digits) == 0 {
			continue
		}
		w := 0
		if len(digits) >= e.width {
			w = e.width
		}
		found := false
		for i := range hits {
			if hits[i].brand == e.brand {
				hits[i].width = max(hits[i].width, w)
				found = true
			}
		}
		if !found {
			hits = append(hits, possibleHit{e.brand, w})
		}
	}
	// Decided and most specific first; stable otherwise.
	for i := 1; i < len(hits); i++ {
		for j := i; j > 0 && hits[j].width > hits[j-1].width; j-- {
			hits[j], hits[j-1] = hits[j-1], hits[j]
		}
	}
	return hits
}

// BrandName returns the name to show while a number is typed: the most
// specific brand the typed digits already belong to; "" while the digits
// could still become several brands and none is decided ("3" may be
// American Express, Diners Club or JCB), or when nothing is typed; and
// Unknown when no brand fits.
func BrandName(prefix string) string {
	digits := Digits(prefix)
	if digits == "" {
		return ""
	}
	hits := possible(digits)
	switch {
	case len(hits) == 0:
		return Unknown
	case hits[0].width > 0 || len(hits) == 1:
		return Brands[hits[0].brand].Name
	}
	return ""
}

// CanGrowValues reports whether the digit values 0–9 of values can be the
// start of a longer card number: some brand's range covers them (or may,
// once more digits come) and uses a length greater than len(values). It
// does not allocate.
func CanGrowValues(values []byte) bool {
	if len(values) == 0 || len(values) >= MaxLength {
		return false
	}
	for _, e := range table {
		if e.lengths>>(len(values)+1) != 0 && mayBecomeZero(values, e, 0) {
			return true
		}
	}
	return false
}

// mayBecome reports whether a number starting with digits can fall in e.
func mayBecome(digits []byte, e rangeEntry) bool { return mayBecomeZero(digits, e, '0') }

func mayBecomeZero(digits []byte, e rangeEntry, zero byte) bool {
	if len(digits) >= e.width {
		v := prefixValue(digits, e.width, zero)
		return e.from <= v && v <= e.to
	}
	// The prefix covers [v·10^k, v·10^k + 10^k − 1] at width e.width.
	v := prefixValue(digits, len(digits), zero)
	scale := 1
	for i := len(digits); i < e.width; i++ {
		scale *= 10
	}
	lo, hi := v*scale, v*scale+scale-1
	return lo <= e.to && e.from <= hi
}

// Format returns the digits of number grouped for display with single
// spaces, following the brand's grouping ("3782 822463 10005").
func Format(number string) string {
	digits := Digits(number)
	groups := []int{4, 4, 4, 4, 4}
	if b, ok := Detect(digits); ok {
		sum := 0
		for _, g := range b.Grouping {
			sum += g
		}
		if sum == len(digits) {
			groups = b.Grouping
		}
	}
	var sb strings.Builder
	i := 0
	for gi := 0; i < len(digits); gi++ {
		size := 4
		if gi < len(groups) {
			size = groups[gi]
		}
		end := min(i+size, len(digits))
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(digits[i:end])
		i = end
	}
	return sb.String()
}
