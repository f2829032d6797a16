package portal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SecretKeyEnv is the environment variable that holds the key secrets such
// as connected systems' bind passwords are sealed with: 32 random bytes in
// base64 (`openssl rand -base64 32`).
const SecretKeyEnv = "TESSERA_SECRET_KEY"

// SecretKeySize is the length of the key in bytes (AES-256).
const SecretKeySize = 32

// sealV1 marks a secret sealed with AES-256-GCM under the one configured
// key: version byte, 12-byte random nonce, ciphertext with its 16-byte tag.
// A later version (several keys, for rotation) gets another byte.
const sealV1 byte = 1

// ErrNoSecretKey reports that TESSERA_SECRET_KEY is not set.
var ErrNoSecretKey = errors.New("TESSERA_SECRET_KEY is not set; make a key with `openssl rand -base64 32`")

// ErrSecretTampered reports a sealed secret that does not open: it was
// changed, moved to another record, or sealed with another key.
var ErrSecretTampered = errors.New("the sealed secret cannot be opened: it was altered, belongs to another record, or was sealed with another key than TESSERA_SECRET_KEY")

// Sealer encrypts secrets before they are stored and decrypts them for the
// code that must use them. It is safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
	key  []byte // kept only to derive the keys of other uses (DeriveKey)
}

// NewSealer returns a Sealer with a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != SecretKeySize {
		return nil, fmt.Errorf("%s must be %d bytes in base64, not %d bytes; make one with `openssl rand -base64 32`",
			SecretKeyEnv, SecretKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SecretKeyEnv, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SecretKeyEnv, err)
	}
	return &Sealer{aead: aead, key: append([]byte(nil), key...)}, nil
}

// DeriveKey returns a 32-byte key for one purpose other than sealing (such
// as signing cookies or keying the audit chain), derived from
// TESSERA_SECRET_KEY with HKDF-SHA256. Each purpose gets a key of its own,
// and none of them tells anything about the secret key or the others.
func (s *Sealer) DeriveKey(purpose string) []byte { return deriveKey(s.key, purpose) }

// deriveKey is the one derivation of keys from TESSERA_SECRET_KEY: 32
// bytes of HKDF-SHA256 with the info "tessera <purpose>" (the audit
// chain's keys are "audit chain v1" and "audit checkpoint v1").
func deriveKey(secret []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, "tessera "+purpose, 32)
	if err != nil {
		// Only a length beyond 255 hash blocks fails; 32 bytes never does.
		panic("portal: derive key: " + err.Error())
	}
	return k
}

// ParseSealer builds a Sealer from the base64 key in TESSERA_SECRET_KEY's
// value; an empty value is ErrNoSecretKey.
func ParseSealer(value string) (*Sealer, error) {
	key, err := ParseSecretKey(value)
	if err != nil {
		return nil, err
	}
	return NewSealer(key)
}

// ParseSecretKey decodes TESSERA_SECRET_KEY's value (base64, padded or
// not, standard or URL alphabet) into its 32 bytes; an empty value is
// ErrNoSecretKey.
func ParseSecretKey(value string) ([]byte, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return nil, ErrNoSecretKey
	}
	var key []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err = enc.DecodeString(value); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s is not base64; make a key with `openssl rand -base64 32`", SecretKeyEnv)
	}
	if len(key) != SecretKeySize {
		return nil, fmt.Errorf("%s must be %d bytes in base64, not %d bytes; make one with `openssl rand -base64 32`",
			SecretKeyEnv, SecretKeySize, len(key))
	}
	return key, nil
}

// Seal encrypts plaintext with a fresh random nonce. label binds the sealed
// bytes to what they belong to (such as a record's ID), so that they open
// only with the same label: copied to another record, they fail.
func (s *Sealer) Seal(plaintext []byte, label string) ([]byte, error) {
	nonceSize := s.aead.NonceSize()
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+s.aead.Overhead())
	out[0] = sealV1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("portal: seal: %w", err)
	}
	return s.aead.Seal(out, out[1:], plaintext, []byte(label)), nil
}

// Open decrypts what Seal returned for the same label, or returns
// ErrSecretTampered.
func (s *Sealer) Open(sealed []byte, label string) ([]byte, error) {
	nonceSize := s.aead.NonceSize()
	if len(sealed) == 0 {
		return nil, ErrSecretTampered
	}
	if sealed[0] != sealV1 {
		return nil, fmt.Errorf("portal: sealed secret of unknown version %d", sealed[0])
	}
	if len(sealed) < 1+nonceSize+s.aead.Overhead() {
		return nil, ErrSecretTampered
	}
	plain, err := s.aead.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], []byte(label))
	if err != nil {
		return nil, ErrSecretTampered
	}
	return plain, nil
}
