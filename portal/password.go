package portal

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters (OWASP's recommended minimum: 19 MiB, 2 passes).
// Time and memory are variables only so that test binaries can lower them
// (UseCheapHashesInTests); nothing else changes them.
var (
	argonTime   uint32 = 2
	argonMemory uint32 = 19 * 1024
)

const (
	argonThreads = 1
	argonKeyLen  = 32
)

// UseCheapHashesInTests makes new argon2id hashes, and the check a
// malformed hash gets, cost one pass over 64 KiB instead of two over 19 MiB.
// Under the race detector one OWASP-strength hash takes about a second, and
// the sign-in budget tests make hundreds. Hashes still verify by the
// parameters they carry. It panics outside a test binary, so a server can
// never weaken its hashes; call it from TestMain before any hashing.
func UseCheapHashesInTests() {
	if !testing.Testing() {
		panic("portal: UseCheapHashesInTests called outside a test binary")
	}
	argonTime, argonMemory = 1, 64
}

// DefaultArgonConcurrency is how many argon2id hashes run at once unless
// TESSERA_ARGON2_CONCURRENCY says otherwise: each takes argonMemory (19
// MiB), so 50 sign-ins or answer checks at once wait their turn rather
// than take 1 GB.
const DefaultArgonConcurrency = 4

// argonSlots holds one token per argon2id hash running.
var argonSlots atomic.Pointer[chan struct{}]

func init() { SetArgonConcurrency(DefaultArgonConcurrency) }

// SetArgonConcurrency sets how many argon2id hashes may run at once (at
// least 1). Call it at start, before any hashing.
func SetArgonConcurrency(n int) {
	ch := make(chan struct{}, max(n, 1))
	argonSlots.Store(&ch)
}

// argonKey is argon2.IDKey, waiting for a free slot first.
func argonKey(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	slots := *argonSlots.Load()
	slots <- struct{}{}
	defer func() { <-slots }()
	return argon2.IDKey(password, salt, time, memory, threads, keyLen)
}

// HashPassword returns an argon2id hash of password in the PHC string format.
func HashPassword(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argonKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// VerifyPassword reports whether password matches a hash from HashPassword.
// A malformed hash never matches, after the same work as a real check.
func VerifyPassword(hash, password string) bool {
	var version int
	var memory, time uint32
	var threads uint8
	parts := strings.Split(hash, "$")
	ok := len(parts) == 6 && parts[1] == "argon2id"
	if ok {
		_, err1 := fmt.Sscanf(parts[2], "v=%d", &version)
		_, err2 := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &time, &threads)
		ok = err1 == nil && err2 == nil && version == argon2.Version && memory <= 1<<20 && time <= 16 && threads >= 1
	}
	var salt, want []byte
	if ok {
		var err1, err2 error
		salt, err1 = base64.RawStdEncoding.DecodeString(parts[4])
		want, err2 = base64.RawStdEncoding.DecodeString(parts[5])
		ok = err1 == nil && err2 == nil && len(want) > 0
	}
	if !ok {
		memory, time, threads, salt, want = argonMemory, argonTime, argonThreads, make([]byte, 16), make([]byte, argonKeyLen)
	}
	got := argonKey([]byte(password), salt, time, memory, threads, uint32(len(want)))
	return ok && subtle.ConstantTimeCompare(got, want) == 1
}
