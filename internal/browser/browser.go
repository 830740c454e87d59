// Package browser starts the headless Chromium that the browser tests and
// the screenshot script drive, with chromedp.
//
// It uses the machine's own Chromium (Debian's chromium package, or
// CHROMIUM_PATH) and never downloads one. The flags keep it from reaching
// for the network on its own: on a closed network its background
// connections fail by the dozen and slow every start.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/chromedp/chromedp"
)

// ErrNotInstalled says that no Chromium was found, and how to install one.
var ErrNotInstalled = errors.New("no Chromium found: install Debian's chromium (apt-get install chromium), or set CHROMIUM_PATH to a Chromium or Chrome binary")

// Path is the Chromium binary to run: CHROMIUM_PATH, else the first of
// chromium, chromium-browser and google-chrome on PATH.
func Path() (string, error) {
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNotInstalled
}

// Options are how a browser is started.
type Options struct {
	// Width and Height are the window's size in CSS pixels (default
	// 1280×900).
	Width, Height int
	// UserDataDir is the profile's folder; empty: a new temporary one,
	// removed when the browser stops.
	UserDataDir string
}

// Start runs a headless Chromium and returns a chromedp context for its
// first tab; cancel stops the browser. The browser is started before Start
// returns, so that a missing or broken Chromium is an error here, not at
// the first action.
func Start(ctx context.Context, o Options) (tab context.Context, cancel context.CancelFunc, err error) {
	path, err := Path()
	if err != nil {
		return nil, nil, err
	}
	if o.Width == 0 {
		o.Width, o.Height = 1280, 900
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(o.Width, o.Height),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-pings", true),
	}
	if os.Geteuid() == 0 {
		// Chromium refuses to run as root inside its sandbox.
		opts = append(opts, chromedp.NoSandbox)
	}
	if o.UserDataDir != "" {
		opts = append(opts, chromedp.UserDataDir(o.UserDataDir))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	// Closing the browser, rather than killing it, lets it remove its
	// temporary profile.
	cancel = func() {
		closing, stop := context.WithTimeout(tab, 10*time.Second)
		defer stop()
		_ = chromedp.Cancel(closing) // then killed below, if it did not close in time
		cancelTab()
		cancelAlloc()
	}
	if err := chromedp.Do(tab); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("start %s: %w", path, err)
	}
	return tab, cancel, nil
}
