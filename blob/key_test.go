package blob

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/radmark/radmark"
)

func TestCheckKey(t *testing.T) {
	seg255 := strings.Repeat("s", MaxSegmentLen)
	// 255+255+255+254+1 bytes of segments and 4 slashes: 1024 bytes exactly.
	key1024 := strings.Join([]string{seg255, seg255, seg255, seg255[1:], "x"}, "/")
	if len(key1024) != MaxKeyLen {
		t.Fatalf("test key has %d bytes", len(key1024))
	}
	valid := []string{
		"a",
		"A/b/C",
		"x-y_z.0",
		"a.",
		"a..b",
		"1.2.840.10008.5.1.4.1.1.2/1.2.3.4.dcm",
		"instances/ab/abcdef0123456789",
		seg255,
		key1024,
	}
	for _, key := range valid {
		if err := CheckKey(key); err != nil {
			t.Errorf("CheckKey(%.40q) = %v, want nil", key, err)
		}
	}

	invalid := []struct {
		key    string
		reason string // a fragment of the message
	}{
		{"", "empty"},
		{"/", "starts with '/'"},
		{"/a", "starts with '/'"},
		{"a/", "ends with '/'"},
		{"a//b", "empty segment"},
		{".", `"." segment`},
		{"..", `".." segment`},
		{"./a", `"." segment`},
		{"a/.", `"." segment`},
		{"a/./b", `"." segment`},
		{"a/../b", `".." segment`},
		{"../a", `".." segment`},
		{"a/..", `".." segment`},
		{".tmp", "starts with '.'"},
		{"a/.hidden/b", "starts with '.'"},
		{`a\b`, "backslash"},
		{"a\x00b", "NUL"},
		{"a b", "' '"},
		{"a:b", "':'"},
		{"a*b", "'*'"},
		{"a+b", "'+'"},
		{"a%2Fb", "'%'"},
		{"caf\u00e9", "byte 0xc3"},
		{"\xff", "byte 0xff"},
		{"a\nb", "byte 0x0a"},
		{seg255 + "s", "segment longer than 255"},
		{key1024 + "x", "longer than 1024"},
	}
	for _, tc := range invalid {
		err := CheckKey(tc.key)
		if radmark.ErrorCode(err) != radmark.EINVALID {
			t.Errorf("CheckKey(%.40q) = %v, want code %s", tc.key, err, radmark.EINVALID)
			continue
		}
		msg := radmark.ErrorMessage(err)
		if !strings.Contains(msg, tc.reason) {
			t.Errorf("CheckKey(%.40q) message %q does not say %q", tc.key, msg, tc.reason)
		}
		if named := keyNamePrefix(tc.key); !strings.Contains(msg, named) {
			t.Errorf("CheckKey(%.40q) message %q does not name the key", tc.key, msg)
		}
	}
}

func TestQuoteKey(t *testing.T) {
	if got := QuoteKey("a\x00b"); got != `"a\x00b"` {
		t.Errorf("QuoteKey = %s", got)
	}
	long := strings.Repeat("k", 5000)
	got := QuoteKey(long)
	if len(got) > 100 || !strings.Contains(got, "5000 bytes") {
		t.Errorf("QuoteKey(5000 bytes) = %s, want a short quote that gives the length", got)
	}
}

// keyNamePrefix is how much of key an error message must repeat: its quoted
// first 32 bytes, cut back to a character boundary so the quoting matches.
func keyNamePrefix(key string) string {
	n := min(len(key), 32)
	for n > 0 && n < len(key) && !utf8.RuneStart(key[n]) {
		n--
	}
	return strings.TrimSuffix(strconv.Quote(key[:n]), `"`)
}
