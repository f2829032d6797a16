package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumCandidates are the names under which distributions install a
// Chromium that speaks the DevTools protocol; /usr/bin/chromium is Debian's.
var chromiumCandidates = []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome-stable", "google-chrome"}

// TabTimeout bounds everything one test does in its tab, so that a page that
// never answers fails the test instead of hanging the test binary.
const TabTimeout = 90 * time.Second

var chrome struct {
	once    sync.Once
	err     error
	path    string
	alloc   context.CancelFunc
	browser context.Context
	cancel  context.CancelFunc
}

// Chromium returns a chromedp context on a new tab of the test binary's
// headless Chromium (started on first use, stopped by Stop). Each call gets
// its own browser context, like an incognito window: cookies, storage and
// cache are not shared with other tests. The tab closes when tb ends, and its
// actions fail after TabTimeout.
func Chromium(tb testing.TB) context.Context {
	tb.Helper()
	return ChromiumFor(tb, TabTimeout)
}

// ChromiumFor is Chromium with a tab that lives for d instead of
// TabTimeout, for a test that walks many pages in one tab.
func ChromiumFor(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	chrome.once.Do(startChromium)
	if chrome.err != nil {
		tb.Fatalf("harness: chromium: %v", chrome.err)
	}
	tab, closeTab := chromedp.NewContext(chrome.browser, chromedp.WithNewBrowserContext())
	// Open the tab now, without a deadline: the first action on a context
	// binds the tab's life to the context it is given.
	if err := chromedp.Do(tab); err != nil {
		closeTab()
		tb.Fatalf("harness: chromium: open tab: %v", err)
	}
	ctx, cancel := context.WithTimeout(tab, d)
	tb.Cleanup(func() {
		cancel()
		closeTab()
	})
	return ctx
}

func startChromium() {
	chrome.path, chrome.err = findChromium()
	if chrome.err != nil {
		return
	}
	// The exec allocator gives the browser a new temporary --user-data-dir
	// and removes it, with any leftover child process, when it stops.
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chrome.path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	browserCtx, browserCancel := chromedp.NewContext(allocCtx)
	start, cancelStart := context.WithTimeout(browserCtx, time.Minute)
	defer cancelStart()
	// The first action binds the browser's life to its context, so start it
	// on browserCtx itself and only watch the deadline from outside.
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(browserCtx) }()
	select {
	case err := <-done:
		if err != nil {
			browserCancel()
			allocCancel()
			chrome.err = fmt.Errorf("start %s: %w", chrome.path, err)
			return
		}
	case <-start.Done():
		browserCancel()
		allocCancel()
		chrome.err = fmt.Errorf("start %s: no answer within a minute", chrome.path)
		return
	}
	chrome.browser, chrome.cancel, chrome.alloc = browserCtx, browserCancel, allocCancel
}

// findChromium returns the path of Chromium, installing it with apt-get when
// it is missing and the tests run as root.
func findChromium() (string, error) {
	if p := lookChromium(); p != "" {
		return p, nil
	}
	// Chromium starts once per test binary, outside any one test.
	stderr := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "harness: "+format+"\n", args...) }
	if err := aptInstall(stderr, "chromium"); err != nil {
		return "", fmt.Errorf("no chromium executable (looked for %s): %w", strings.Join(chromiumCandidates, ", "), err)
	}
	if p := lookChromium(); p != "" {
		return p, nil
	}
	return "", errors.New("apt-get installed chromium, but no chromium executable was found")
}

func lookChromium() string {
	for _, name := range chromiumCandidates {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// stopChromium closes the browser gracefully, then makes sure its process
// and profile directory are gone.
func stopChromium() {
	if chrome.browser == nil {
		return
	}
	ctx, cancel := context.WithTimeout(chrome.browser, 10*time.Second)
	chromedp.Cancel(ctx) //nolint:errcheck // shutting down; the allocator kills what is left
	cancel()
	chrome.cancel()
	chrome.alloc()
	chrome.browser = nil
}
