package portal_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

func TestAuditKeyIsNotTheSealingKey(t *testing.T) {
	secret := bytes.Repeat([]byte{5}, portal.SecretKeySize)
	k, err := portal.NewAuditKey(secret)
	require.NoError(t, err)
	require.NotEqual(t, secret, k.ChainKey())
	require.Len(t, k.ChainKey(), 32)
	require.Len(t, k.ID(), 16)
	other, err := portal.NewAuditKey(bytes.Repeat([]byte{6}, portal.SecretKeySize))
	require.NoError(t, err)
	require.NotEqual(t, k.ID(), other.ID())
	_, err = portal.NewAuditKey(secret[:16])
	require.Error(t, err)
}

// The audit keys come from the one derivation of keys (Sealer.DeriveKey)
// and are the keys every keyed chain so far was written with: RFC 5869
// HKDF-SHA256, computed apart from Go.
func TestAuditKeyDerivation(t *testing.T) {
	secret := make([]byte, portal.SecretKeySize)
	for i := range secret {
		secret[i] = byte(i)
	}
	k, err := portal.NewAuditKey(secret)
	require.NoError(t, err)
	require.Equal(t, "4b968db98bc2cf4364cf8698157917bed4ad2ece18f4669f62704d599f8ba51c", hex.EncodeToString(k.ChainKey()))
	sealer, err := portal.NewSealer(secret)
	require.NoError(t, err)
	require.Equal(t, k.ChainKey(), sealer.DeriveKey("audit chain v1"))
	require.Equal(t, "ad9d2d51cbe3a80fe828f74d391a688296f7f99a441d6adc7c58d9db00b46b24",
		hex.EncodeToString(sealer.DeriveKey("audit checkpoint v1")))
}

// A checkpoint logged in slog's text or JSON form, or given as its values,
// reads back as written, and its signature holds only for its own fields
// and key.
func TestAuditCheckpointRoundTrip(t *testing.T) {
	ctx := context.Background()
	k, err := portal.NewAuditKey(bytes.Repeat([]byte{5}, portal.SecretKeySize))
	require.NoError(t, err)
	hash := bytes.Repeat([]byte{0xab}, 32)
	c := k.SignCheckpoint(123456789, hash, time.Date(2026, 12, 5, 18, 0, 0, 123456789, time.FixedZone("CET", 3600)))
	require.Equal(t, time.Date(2026, 12, 5, 17, 0, 0, 123456000, time.UTC), c.At)

	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).LogAttrs(ctx, slog.LevelInfo, portal.AuditCheckpointMessage, c.LogAttrs()...)
	slog.New(slog.NewJSONHandler(&js, nil)).LogAttrs(ctx, slog.LevelInfo, portal.AuditCheckpointMessage, c.LogAttrs()...)
	for _, line := range []string{text.String(), js.String(), c.String()} {
		got, err := portal.ParseAuditCheckpoint(line)
		require.NoError(t, err, line)
		require.Equal(t, c, got, line)
		require.NoError(t, k.CheckSignature(got))
	}

	other, err := portal.NewAuditKey(bytes.Repeat([]byte{6}, portal.SecretKeySize))
	require.NoError(t, err)
	require.ErrorContains(t, other.CheckSignature(c), "was not signed with this TESSERA_SECRET_KEY")
	for _, edit := range []func(*portal.AuditCheckpoint){
		func(c *portal.AuditCheckpoint) { c.EntryID++ },
		func(c *portal.AuditCheckpoint) { c.Hash = bytes.Repeat([]byte{0xac}, 32) },
		func(c *portal.AuditCheckpoint) { c.At = c.At.Add(time.Microsecond) },
	} {
		changed := c
		edit(&changed)
		require.ErrorContains(t, k.CheckSignature(changed), "was not signed with this TESSERA_SECRET_KEY")
	}
	unsigned := (*portal.AuditKey)(nil).SignCheckpoint(3, hash, c.At)
	require.Empty(t, unsigned.Signature)
	require.NotContains(t, unsigned.String(), "signature=")
	require.ErrorContains(t, k.CheckSignature(unsigned), "is not signed")

	for _, bad := range []string{"", "entry=x", "entry=3 hash=zz at=2026-12-05T17:00:00Z",
		"entry=3 hash=" + strings.Repeat("ab", 32) + " at=yesterday", "{not json"} {
		_, err := portal.ParseAuditCheckpoint(bad)
		require.Equal(t, portal.EINVALID, portal.ErrorCode(err), bad)
	}
}
