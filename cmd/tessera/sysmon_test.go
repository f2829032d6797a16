package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSysmonEnv(t *testing.T) {
	env, again := sysmonEnv([]string{"tessera", "serve"}, []string{"PATH=/bin"})
	assert.True(t, again)
	assert.Equal(t, []string{"PATH=/bin", "GODEBUG=" + sysmonAwake}, env)

	// The operator's settings stay, before ours.
	env, again = sysmonEnv([]string{"tessera", "serve"}, []string{"GODEBUG=gctrace=1", "PATH=/bin"})
	assert.True(t, again)
	assert.Equal(t, []string{"PATH=/bin", "GODEBUG=gctrace=1," + sysmonAwake}, env)

	// An operator's schedtrace wins, and schedtrace=0 is Go's default.
	for _, g := range []string{"GODEBUG=schedtrace=0", "GODEBUG=gctrace=1,schedtrace=1000"} {
		env, again = sysmonEnv([]string{"tessera", "serve"}, []string{g})
		assert.False(t, again, g)
		assert.Equal(t, []string{g}, env)
	}

	// The runtime reads the first GODEBUG: an operator's schedtrace=0
	// there wins over a later one.
	env, again = sysmonEnv([]string{"tessera", "serve"}, []string{"GODEBUG=schedtrace=0", "GODEBUG=gctrace=1"})
	assert.False(t, again)
	assert.Equal(t, []string{"GODEBUG=schedtrace=0", "GODEBUG=gctrace=1"}, env)

	// Only serve runs for long: the other commands start as they are.
	for _, args := range [][]string{{"tessera"}, {"tessera", "migrate"}, {"tessera", "dev"}} {
		_, again = sysmonEnv(args, []string{"PATH=/bin"})
		assert.False(t, again, args)
	}
}
