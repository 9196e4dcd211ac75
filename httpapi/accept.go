package httpapi

import (
	"mime"
	"sort"
	"strconv"
	"strings"
)

// mediaRange is one entry of an Accept header.
type mediaRange struct {
	mediaType string            // e.g. "multipart/related", "application/dicom+json", "*/*"
	params    map[string]string // lower-cased names: "type", "transfer-syntax", ...
	q         float64
}

// parseAccept splits an Accept header into media ranges, best first. An
// empty header accepts anything.
func parseAccept(h string) []mediaRange {
	if strings.TrimSpace(h) == "" {
		return []mediaRange{{mediaType: "*/*", q: 1}}
	}
	var out []mediaRange
	for _, part := range splitOutsideQuotes(h, ',') {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		mt, params, err := mime.ParseMediaType(part)
		if err != nil {
			// Be lenient: keep the bare type.
			mt = strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
			params = map[string]string{}
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if q <= 0 {
			continue
		}
		out = append(out, mediaRange{mediaType: mt, params: params, q: q})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].q > out[j].q })
	return out
}

func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	quoted := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case sep:
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// matches reports whether the range accepts media type mt ("a/b").
func (m mediaRange) matches(mt string) bool {
	if m.mediaType == "*/*" || m.mediaType == mt {
		return true
	}
	if strings.HasSuffix(m.mediaType, "/*") {
		return strings.HasPrefix(mt, strings.TrimSuffix(m.mediaType, "*"))
	}
	return false
}

// acceptsJSON reports whether DICOM JSON may be returned.
func acceptsJSON(ranges []mediaRange) bool {
	for _, r := range ranges {
		if r.matches("application/dicom+json") || r.matches("application/json") {
			return true
		}
	}
	return false
}
