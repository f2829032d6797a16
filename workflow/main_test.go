package workflow_test

import (
	"testing"

	"github.com/tessera-idm/tessera/e2e/harness"
)

// The harness imports workflow, so these tests live in workflow_test.
func TestMain(m *testing.M) { harness.Main(m) }
