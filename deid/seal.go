package deid

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Sealer encrypts linkage records with AES-256-GCM. Its key comes from a
// file or an environment variable and never reaches the database, so a
// copy of the database alone cannot re-identify anyone.
type Sealer struct {
	aead  cipher.AEAD
	keyID string
}

// LoadLinkageKey reads a 32-byte key, given as 64 hex digits, base64 or 32
// raw bytes, from the file at path or, if path is empty, from the
// environment variable env.
func LoadLinkageKey(path, env string) ([]byte, error) {
	var raw []byte
	switch {
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("deid: linkage key: %w", err)
		}
		raw = b
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return nil, fmt.Errorf("deid: linkage key: environment variable %s is not set", env)
		}
		raw = []byte(v)
	default:
		return nil, errors.New("deid: linkage key: neither a file nor an environment variable is configured")
	}
	if len(raw) == 32 {
		return raw, nil
	}
	s := strings.TrimSpace(string(raw))
	if k, err := hex.DecodeString(s); err == nil && len(k) == 32 {
		return k, nil
	}
	if k, err := base64.StdEncoding.DecodeString(s); err == nil && len(k) == 32 {
		return k, nil
	}
	return nil, errors.New("deid: linkage key must be 32 bytes (64 hex digits or base64)")
}

// NewSealer returns a sealer for a 32-byte key. The key id (a hash prefix)
// is stored beside each ciphertext so a rotated key is recognised.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, errors.New("deid: linkage key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead, keyID: hex.EncodeToString(ProjectKey(key, "key id")[:8])}, nil
}

// KeyID identifies the key without revealing it.
func (s *Sealer) KeyID() string { return s.keyID }

// Seal encrypts links; aad binds the ciphertext to its row (project and
// instance), so a ciphertext moved to another row does not open.
func (s *Sealer) Seal(links []Link, aad string) ([]byte, error) {
	plain, err := json.Marshal(links)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plain, []byte(aad)), nil
}

// Open decrypts what Seal made with the same aad.
func (s *Sealer) Open(sealed []byte, aad string) ([]Link, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errors.New("deid: linkage record too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("deid: linkage record does not open with this key: %w", err)
	}
	var links []Link
	if err := json.Unmarshal(plain, &links); err != nil {
		return nil, err
	}
	return links, nil
}
