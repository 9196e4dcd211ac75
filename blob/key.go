// Package blob owns what every radmark.BlobStore driver shares: the syntax of
// a blob key. The drivers themselves live in sub-packages (fsblob for a local
// folder, an S3 driver to follow) and the conformance suite they all pass is
// blobtest.
//
// One key syntax for every backend means an archive can move from a folder to
// object storage without renaming anything, so the rule is deliberately the
// intersection of what is safe everywhere: on POSIX and Windows file systems,
// in S3 object names, in URLs and in shell scripts an operator may write.
package blob

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/radmark/radmark"
)

const (
	// MaxKeyLen is the longest key in bytes: S3's limit, and short enough
	// that root+key stays far below PATH_MAX on a file system.
	MaxKeyLen = 1024
	// MaxSegmentLen is the longest '/'-separated segment: NAME_MAX on the
	// common file systems, since a segment becomes a file or folder name.
	MaxSegmentLen = 255
)

// CheckKey reports whether key is a valid blob key and, if not, returns a
// radmark.EINVALID error whose message names the key and says what is wrong.
//
// A key is one or more segments separated by single '/'. A segment is
// 1..MaxSegmentLen bytes of ASCII letters, digits, '-', '_' and '.', and does
// not start with '.'. That rules out "." and "..", so a key can never climb
// out of a driver's root; it also reserves dot-names for drivers' own files
// (fsblob keeps its temp folder at ".tmp"), so no key can collide with them.
func CheckKey(key string) error {
	if reason := keyProblem(key); reason != "" {
		return radmark.Errorf(radmark.EINVALID, "invalid blob key %s: %s", QuoteKey(key), reason)
	}
	return nil
}

// keyProblem returns why key is invalid, or "" if it is valid.
func keyProblem(key string) string {
	switch {
	case key == "":
		return "empty"
	case len(key) > MaxKeyLen:
		return fmt.Sprintf("longer than %d bytes", MaxKeyLen)
	case key[0] == '/':
		return "starts with '/' (keys are relative)"
	case key[len(key)-1] == '/':
		return "ends with '/'"
	}
	// Check the characters first so a NUL or backslash gets its own
	// message rather than a generic "bad segment".
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == 0:
			return "contains a NUL byte"
		case c == '\\':
			return "contains a backslash (the separator is '/')"
		case !keyByte(c):
			what := strconv.QuoteRune(rune(c))
			if c < 0x20 || c >= 0x7f {
				what = fmt.Sprintf("byte 0x%02x", c)
			}
			return fmt.Sprintf("contains %s at offset %d (allowed: ASCII letters, digits, '-', '_', '.', and '/' between segments)", what, i)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return "has an empty segment (\"//\")"
		case seg == "." || seg == "..":
			return fmt.Sprintf("has a %q segment", seg)
		case seg[0] == '.':
			return fmt.Sprintf("segment %q starts with '.' (reserved for the store's own files)", seg)
		case len(seg) > MaxSegmentLen:
			return fmt.Sprintf("has a segment longer than %d bytes", MaxSegmentLen)
		}
	}
	return ""
}

// keyByte reports whether c may appear in a key. Bytes >= 0x80 are rejected
// outright: Unicode names normalise differently across file systems (macOS
// rewrites them to NFD), which would make one key name two objects.
func keyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '/'
}

// quotedKeyMax bounds how much of a key an error message repeats, so that a
// hostile multi-megabyte "key" does not end up in logs whole.
const quotedKeyMax = 64

// QuoteKey quotes key for an error message (Go syntax, so control bytes are
// visible), cutting keys longer than 64 bytes and saying so.
func QuoteKey(key string) string {
	if len(key) <= quotedKeyMax {
		return strconv.Quote(key)
	}
	n := quotedKeyMax
	for n > 0 && !utf8.RuneStart(key[n]) {
		n-- // cut between characters, not inside one
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(key[:n]), len(key))
}
