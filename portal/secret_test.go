package portal_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	key := make([]byte, portal.SecretKeySize)
	_, err := rand.Read(key)
	require.NoError(t, err)
	return key
}

func TestParseSealer(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	for _, tc := range []struct {
		name, value string
		want        string // part of the error; "" for a sealer
	}{
		{"openssl base64", base64.StdEncoding.EncodeToString(key), ""},
		{"with a newline", base64.StdEncoding.EncodeToString(key) + "\n", ""},
		{"unpadded", base64.RawStdEncoding.EncodeToString(key), ""},
		{"url alphabet", base64.URLEncoding.EncodeToString(key), ""},
		{"missing", "", "TESSERA_SECRET_KEY is not set"},
		{"short", base64.StdEncoding.EncodeToString(key[:16]), "TESSERA_SECRET_KEY must be 32 bytes in base64, not 16 bytes"},
		{"long", base64.StdEncoding.EncodeToString(append(key, key...)), "not 64 bytes"},
		{"not base64", "this is not a key!", "TESSERA_SECRET_KEY is not base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := portal.ParseSealer(tc.value)
			if tc.want == "" {
				require.NoError(t, err)
				require.NotNil(t, s)
				return
			}
			require.Error(t, err)
			require.Nil(t, s)
			require.Contains(t, err.Error(), tc.want)
			require.Contains(t, err.Error(), "openssl rand -base64 32", "the message says how to make a key")
		})
	}
	_, err := portal.ParseSealer("")
	require.ErrorIs(t, err, portal.ErrNoSecretKey)
}

func TestSealer(t *testing.T) {
	t.Parallel()
	s, err := portal.NewSealer(newKey(t))
	require.NoError(t, err)
	other, err := portal.NewSealer(newKey(t))
	require.NoError(t, err)

	for _, plain := range []string{"", "Tessera-Admin-1", "pässwörd ✓ with \x00 and 'quotes'", strings.Repeat("x", 1024)} {
		sealed, err := s.Seal([]byte(plain), "row-1")
		require.NoError(t, err)
		require.Equal(t, byte(1), sealed[0], "version byte")
		require.Len(t, sealed, 1+12+len(plain)+16)
		if plain != "" {
			require.False(t, bytes.Contains(sealed, []byte(plain)), "the plaintext does not show")
		}
		again, err := s.Seal([]byte(plain), "row-1")
		require.NoError(t, err)
		require.NotEqual(t, sealed, again, "a fresh nonce each time")
		got, err := s.Open(sealed, "row-1")
		require.NoError(t, err)
		require.Equal(t, plain, string(got))
	}

	sealed, err := s.Seal([]byte("Tessera-Admin-1"), "row-1")
	require.NoError(t, err)
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	for _, tc := range []struct {
		name   string
		sealer *portal.Sealer
		sealed []byte
		label  string
		want   error // nil: any error
	}{
		{"nonce changed", s, flip(1), "row-1", portal.ErrSecretTampered},
		{"ciphertext changed", s, flip(14), "row-1", portal.ErrSecretTampered},
		{"tag changed", s, flip(len(sealed) - 1), "row-1", portal.ErrSecretTampered},
		{"truncated", s, sealed[:20], "row-1", portal.ErrSecretTampered},
		{"empty", s, nil, "row-1", portal.ErrSecretTampered},
		{"another row", s, sealed, "row-2", portal.ErrSecretTampered},
		{"wrong key", other, sealed, "row-1", portal.ErrSecretTampered},
		{"unknown version", s, append([]byte{2}, sealed[1:]...), "row-1", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.sealer.Open(tc.sealed, tc.label)
			require.Error(t, err)
			require.Nil(t, got)
			if tc.want != nil {
				require.True(t, errors.Is(err, tc.want), err)
			} else {
				require.Contains(t, err.Error(), "unknown version 2")
			}
		})
	}
}

func TestDeriveKey(t *testing.T) {
	t.Parallel()
	key := newKey(t)
	a, err := portal.NewSealer(key)
	require.NoError(t, err)
	b, err := portal.NewSealer(key)
	require.NoError(t, err)
	other, err := portal.NewSealer(newKey(t))
	require.NoError(t, err)

	cookie := a.DeriveKey("sign-in device cookie")
	require.Len(t, cookie, 32)
	require.Equal(t, cookie, b.DeriveKey("sign-in device cookie"), "the same secret key derives the same key in every process")
	require.NotEqual(t, cookie, a.DeriveKey("audit chain"), "each purpose has a key of its own")
	require.NotEqual(t, cookie, other.DeriveKey("sign-in device cookie"))
}
