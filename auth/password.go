package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/radmark/radmark"
)

// Params are argon2id's cost parameters.
type Params struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32
	Threads   uint8
	SaltLen   uint32 // bytes
	KeyLen    uint32 // bytes
}

// DefaultParams follow RFC 9106's second recommended option (section 4):
// argon2id, 3 passes, 64 MiB, 4 lanes, a 128-bit salt and a 256-bit tag —
// about 50-100 ms on a server core, memory-hard enough to make GPU
// guessing of a stolen hash expensive. They are stored with each hash, so
// raising them later leaves old hashes verifiable.
var DefaultParams = Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 4, SaltLen: 16, KeyLen: 32}

// TestParams are cheap parameters for tests only.
var TestParams = Params{Time: 1, MemoryKiB: 1024, Threads: 1, SaltLen: 16, KeyLen: 32}

// hashSlots bounds how many argon2id computations run at once: each takes
// its parameters' memory (64 MiB by default), so a burst of sign-ins
// queues here instead of exhausting the server's memory.
var hashSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// idKey is argon2.IDKey within a hashing slot.
func idKey(password, salt []byte, p Params) []byte {
	hashSlots <- struct{}{}
	defer func() { <-hashSlots }()
	return argon2.IDKey(password, salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
}

// MinPasswordLength is the shortest password accepted, in characters.
const MinPasswordLength = 12

// maxPasswordBytes bounds the work a sign-in request can ask for.
const maxPasswordBytes = 1024

// CheckPasswordRules returns EINVALID saying why a password may not be
// used by the account name: fewer than 12 characters, longer than 1024
// bytes, not UTF-8, or the account name itself (ignoring case).
func CheckPasswordRules(name, password string) error {
	switch {
	case !utf8.ValidString(password):
		return radmark.Errorf(radmark.EINVALID, "the password is not valid UTF-8 text")
	case utf8.RuneCountInString(password) < MinPasswordLength:
		return radmark.Errorf(radmark.EINVALID, "the password is too short: at least %d characters", MinPasswordLength)
	case len(password) > maxPasswordBytes:
		return radmark.Errorf(radmark.EINVALID, "the password is too long: at most %d bytes", maxPasswordBytes)
	case strings.EqualFold(strings.TrimSpace(password), strings.TrimSpace(name)):
		return radmark.Errorf(radmark.EINVALID, "the password must not be the account name")
	}
	return nil
}

// HashPassword returns the argon2id hash of password in the PHC string
// form: $argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash> (unpadded base64).
func HashPassword(password string, p Params) (string, error) {
	if p.Time == 0 || p.MemoryKiB == 0 || p.Threads == 0 || p.SaltLen < 8 || p.KeyLen < 16 {
		return "", fmt.Errorf("argon2id parameters %+v are too weak", p)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := idKey([]byte(password), salt, p)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches an encoded hash,
// comparing in constant time. A hash it cannot read is an error.
func VerifyPassword(password, encoded string) (bool, error) {
	p, salt, key, err := decodeHash(encoded)
	if err != nil {
		return false, err
	}
	got := idKey([]byte(password), salt, p)
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// decodeHash reads the PHC form HashPassword writes.
func decodeHash(encoded string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("not an argon2id hash in PHC form")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("argon2id hash of unsupported version %q", parts[2])
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &threads); err != nil || threads == 0 || threads > 255 || p.Time == 0 || p.Time > 100 || p.MemoryKiB == 0 || p.MemoryKiB > 4<<20 {
		return p, nil, nil, fmt.Errorf("argon2id hash with bad parameters %q", parts[3])
	}
	p.Threads = uint8(threads)
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, fmt.Errorf("argon2id hash with a bad salt")
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 {
		return p, nil, nil, fmt.Errorf("argon2id hash with a bad key")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// passwordAlphabet leaves out characters easily mistaken for others
// (0/O, 1/l/I).
const passwordAlphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// GeneratePassword returns a random password of 20 characters from a
// 57-character alphabet (about 116 bits).
func GeneratePassword() (string, error) {
	const n = 20
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("random password: %w", err)
		}
		// Rejection sampling keeps every character equally likely.
		if int(buf[0]) < 256-256%len(passwordAlphabet) {
			b.WriteByte(passwordAlphabet[int(buf[0])%len(passwordAlphabet)])
		}
	}
	return b.String(), nil
}
