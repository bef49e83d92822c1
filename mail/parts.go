package mail

import (
	"bytes"
	"path"
	"strings"
)

// How a leaf part is read.
const (
	kindBinary  = iota // passed through byte for byte
	kindPlain          // text as it is (format=flowed joined)
	kindHTML           // text as the page renders it, attributes and comments too
	kindFolded         // iCalendar and vCard: folded lines joined (RFC 5545 §3.1)
	kindHeaders        // header blocks (delivery reports, text/rfc822-headers): unfolded, encoded words decoded
	kindURL            // application/x-www-form-urlencoded
)

// textTypes are the media types outside text/* that hold text a person
// reads or a system indexes.
var textTypes = map[string]int{
	"application/xhtml+xml":                    kindHTML,
	"text/calendar":                            kindFolded,
	"application/ics":                          kindFolded,
	"text/vcard":                               kindFolded,
	"text/x-vcard":                             kindFolded,
	"text/directory":                           kindFolded,
	"text/rfc822-headers":                      kindHeaders,
	"message/delivery-status":                  kindHeaders,
	"message/global-delivery-status":           kindHeaders,
	"message/disposition-notification":         kindHeaders,
	"message/global-disposition-notification":  kindHeaders,
	"message/global-headers":                   kindHeaders,
	"message/feedback-report":                  kindHeaders,
	"message/partial":                          kindPlain,
	"message/external-body":                    kindHeaders,
	"application/x-www-form-urlencoded":        kindURL,
	"application/json":                         kindPlain,
	"application/x-ndjson":                     kindPlain,
	"application/xml":                          kindPlain,
	"application/csv":                          kindPlain,
	"application/javascript":                   kindPlain,
	"application/x-javascript":                 kindPlain,
	"application/ecmascript":                   kindPlain,
	"application/yaml":                         kindPlain,
	"application/x-yaml":                       kindPlain,
	"application/rtf":                          kindPlain,
	"application/x-sh":                         kindPlain,
	"application/sql":                          kindPlain,
	"application/mbox":                         kindPlain,
	"application/vnd.ms-outlook-text-calendar": kindFolded,
}

// textExtensions make an attachment of a generic type (application/octet-
// stream and the like) text-like by its file name.
var textExtensions = map[string]int{
	".txt": kindPlain, ".csv": kindPlain, ".tsv": kindPlain, ".json": kindPlain, ".xml": kindPlain,
	".log": kindPlain, ".md": kindPlain, ".yaml": kindPlain, ".yml": kindPlain, ".rtf": kindPlain,
	".ini": kindPlain, ".sql": kindPlain, ".ndjson": kindPlain,
	".ics": kindFolded, ".ical": kindFolded, ".ifb": kindFolded, ".vcf": kindFolded, ".vcard": kindFolded,
	".htm": kindHTML, ".html": kindHTML,
}

// textKind says how a leaf part is read.
func textKind(mediaType string, params []param, filename string) int {
	if k, ok := textTypes[mediaType]; ok {
		return k
	}
	switch {
	case mediaType == "text/html":
		return kindHTML
	case strings.HasPrefix(mediaType, "text/"):
		return kindPlain
	case strings.HasSuffix(mediaType, "+json"), strings.HasSuffix(mediaType, "+xml"):
		return kindPlain
	}
	if genericType(mediaType) {
		if k, ok := textExtensions[strings.ToLower(path.Ext(strings.TrimSpace(filename)))]; ok {
			return k
		}
	}
	return kindBinary
}

// genericType: types a sender uses when it does not know the file's type.
func genericType(mediaType string) bool {
	switch mediaType {
	case "application/octet-stream", "application/x-unknown", "application/unknown", "application/download",
		"application/force-download", "application/binary", "application/x-download":
		return true
	}
	return false
}

// multipartBody is a multipart body split at its delimiters (RFC 2046
// §5.1.1). Each delimiter holds the line break before it (which belongs to
// it), its line and that line's break, so that writing the pieces back in
// order gives the body byte for byte.
type multipartBody struct {
	preamble []byte
	delims   [][]byte
	parts    [][]byte
	closing  []byte // nil when the message ends without one
	epilogue []byte
}

// splitMultipart finds the delimiters of boundary in body: a line that is
// "--" boundary, optionally "--", then only white space. A line that merely
// starts with the delimiter ("--b.X-1" for boundary "b.X") is not one. ok is
// false when there is no delimiter at all.
func splitMultipart(body []byte, boundary string) (*multipartBody, bool) {
	if boundary == "" {
		return nil, false
	}
	dash := []byte("--" + boundary)
	mp := &multipartBody{}
	prevEnd := -1 // end of the last delimiter line
	for from := 0; from < len(body); {
		k := bytes.Index(body[from:], dash)
		if k < 0 {
			break
		}
		i := from + k
		from = i + len(dash)
		if i > 0 && body[i-1] != '\n' {
			continue
		}
		next, brk := lineEnd(body, i)
		rest := body[i+len(dash) : brk]
		closing := bytes.HasPrefix(rest, []byte("--"))
		if closing {
			rest = rest[2:]
		}
		if len(bytes.Trim(rest, " \t")) != 0 {
			continue
		}
		lb := i
		if i > 0 {
			lb = i - 1
			if lb > 0 && body[lb-1] == '\r' {
				lb--
			}
		}
		lb = max(lb, prevEnd, 0)
		if prevEnd < 0 {
			mp.preamble = body[:lb]
		} else {
			mp.parts = append(mp.parts, body[prevEnd:lb])
		}
		if closing {
			if prevEnd < 0 {
				// A closing delimiter with no part before it: no part at all.
				return nil, false
			}
			mp.closing = body[lb:next]
			mp.epilogue = body[next:]
			return mp, true
		}
		mp.delims = append(mp.delims, body[lb:next])
		prevEnd = next
		from = next
	}
	if prevEnd < 0 {
		return nil, false
	}
	mp.parts = append(mp.parts, body[prevEnd:]) // no closing delimiter: the part ends with the message
	return mp, true
}
