package web

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                     "/",
		"/people?q=zo":         "/people?q=zo",
		"https://evil.example": "/",
		"//evil.example":       "/",
		"/\\evil.example":      "/",
		"javascript:alert(1)":  "/",
		"/signin":              "/",
		"/signout":             "/",
		"/a\r\nSet-Cookie: x":  "/",
	} {
		require.Equal(t, want, safeNext(in), in)
	}
}

func TestSignInLimiter(t *testing.T) {
	l := newSignInLimiter()
	now := time.Now()
	for range signInBurst {
		require.False(t, l.blocked(now, "addr:1", "account:zoe"))
		l.fail(now, "addr:1", "account:zoe")
	}
	require.True(t, l.blocked(now, "addr:1"))
	require.True(t, l.blocked(now, "addr:2", "account:zoe"), "the account is limited from any address")
	require.False(t, l.blocked(now, "addr:2", "account:mateo"))
	require.False(t, l.blocked(now.Add(signInEvery), "addr:1"), "the budget refills")
}

func TestOIDCConfigValidate(t *testing.T) {
	require.NoError(t, OIDCConfig{}.Validate())
	require.Error(t, OIDCConfig{Issuer: "https://x"}.Validate())
	ok := OIDCConfig{Issuer: "https://x", ClientID: "c", MatchClaim: "email", MatchAttribute: "email"}
	require.NoError(t, ok.Validate())
	bad := ok
	bad.MatchAttribute = "title"
	require.Error(t, bad.Validate())
}
