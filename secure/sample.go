package secure

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/secureinput/gateway/card"
)

// SampleService is a stand-in for an organisation's validation web service,
// for demos and tests only: it accepts a request whose card_number parameter
// is a Luhn-valid number of a known brand and whose expiry parameter (if
// present) is not in the past, and declines the rest, and the two
// well-known "decline" test cards (SampleDeclines). It never logs or echoes
// what it receives. Not for production.
type SampleService struct {
	// Now returns the current time; time.Now if nil.
	Now func() time.Time
}

// SampleDeclines are test card numbers the sample service declines although
// they are valid, with the reason it gives (the test cards payment
// processors use for declines).
var SampleDeclines = map[string]string{
	"4000000000000002": "card declined",
	"4000000000009995": "insufficient funds",
}

type sampleParams struct {
	Params []struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	} `xml:"param"`
}

// ServeHTTP implements http.Handler.
func (s SampleService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var req sampleParams
	if err := xml.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		reply(w, StatusDeclined, "malformed request")
		return
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	values := map[string]string{}
	for _, p := range req.Params {
		values[p.Name] = p.Value
	}
	number, ok := values["card_number"]
	switch {
	case !ok:
		reply(w, StatusDeclined, "no card_number parameter")
	case func() bool { _, err := card.Validate(number); return err != nil }():
		reply(w, StatusDeclined, "card number not valid")
	case values["expiry"] != "" && checkExpiry(values["expiry"], now) != nil:
		reply(w, StatusDeclined, "card expired")
	case SampleDeclines[card.Digits(number)] != "":
		reply(w, StatusDeclined, SampleDeclines[card.Digits(number)])
	default:
		reply(w, StatusAccepted, fmt.Sprintf("approved %s", values["transactionId"]))
	}
	for k := range values {
		delete(values, k)
	}
}

func reply(w http.ResponseWriter, status, details string) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<outcome value="%s" details="`, status)
	xml.EscapeText(w, []byte(details))
	fmt.Fprint(w, `"/>`+"\n")
}
