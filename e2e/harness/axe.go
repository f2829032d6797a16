package harness

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var axe struct {
	once sync.Once
	src  string
	err  error
}

// AxeSource returns axe-core's script (the npm package in package.json,
// installed by `make static`), for tests to inject into pages and run.
func AxeSource(tb testing.TB) string {
	tb.Helper()
	axe.once.Do(func() {
		var b []byte
		b, axe.err = os.ReadFile(filepath.Join(repoRoot(), "node_modules", "axe-core", "axe.min.js"))
		axe.src = string(b)
	})
	if axe.err != nil {
		tb.Fatalf("harness: axe-core is installed from npm by `make static` (npm ci): %v", axe.err)
	}
	return axe.src
}
