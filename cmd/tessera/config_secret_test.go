package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoadConfigSecretKey(t *testing.T) {
	c, err := LoadConfig(env())
	require.NoError(t, err)
	require.Nil(t, c.Sealer, "optional: without it connected systems cannot be saved")

	c, err = LoadConfig(env("TESSERA_SECRET_KEY", "q2Vx0xG0a7m8cJ4QZ4y6kXzq3vJ1q8Tq6h2o0s9b1cE="))
	require.NoError(t, err)
	require.NotNil(t, c.Sealer)
	sealed, err := c.Sealer.Seal([]byte("x"), "id")
	require.NoError(t, err)
	plain, err := c.Sealer.Open(sealed, "id")
	require.NoError(t, err)
	require.Equal(t, "x", string(plain))

	for _, bad := range []string{"c2hvcnQ=", "not base64 at all!"} {
		_, err := LoadConfig(env("TESSERA_SECRET_KEY", bad))
		require.Error(t, err, bad)
		require.Contains(t, err.Error(), "TESSERA_SECRET_KEY", "the message names the variable")
		require.NotContains(t, err.Error(), bad, "nor repeats the key")
	}
}
