package harness

import (
	"testing"

	"github.com/tessera-idm/tessera/syncsvc/ad/sambadc"
)

// SambaDC is a running Samba AD domain controller on its own loopback
// address (see syncsvc/ad/sambadc).
type SambaDC = sambadc.DC

// Samba returns the test binary's shared domain controller, started on first
// use and stopped by Stop. Tests share its directory, so each should create
// its objects under names of its own. A test that needs a domain to itself
// calls FreshSamba.
func Samba(tb testing.TB) *SambaDC {
	tb.Helper()
	dc, err := sambadc.Shared(harnessLog(tb))
	if err != nil {
		tb.Fatalf("harness: samba: %v", err)
	}
	return dc
}

// FreshSamba starts a domain controller for tb alone, a new copy of the
// provisioned domain on its own address, and stops it when tb ends.
func FreshSamba(tb testing.TB) *SambaDC {
	tb.Helper()
	dc, err := sambadc.New(harnessLog(tb))
	if err != nil {
		tb.Fatalf("harness: samba: %v", err)
	}
	tb.Cleanup(dc.Stop)
	return dc
}

func harnessLog(tb testing.TB) sambadc.Logf {
	return func(format string, args ...any) { tb.Logf("harness: "+format, args...) }
}

// stopSamba stops every DC this test binary started.
func stopSamba() { sambadc.StopAll() }
