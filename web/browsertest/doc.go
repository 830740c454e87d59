// Package browsertest holds the end-to-end tests of the web UI (package
// web): a headless Chromium, driven with chromedp, uses the pages of the
// whole service, started in-process on a test database, as a person would.
// They live apart from package web so that its own tests stay fast and need
// no browser. The package has no code outside its tests; this file is what
// makes the directory a package.
package browsertest
