package browser_test

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/internal/browser"
)

// TestStart starts the machine's Chromium and reads a page's title: the
// browser tests and the screenshot script depend on both.
func TestStart(t *testing.T) {
	is := is.New(t)
	tab, cancel, err := browser.Start(t.Context(), browser.Options{})
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer cancel()
	is.NoErr(chromedp.Do(tab, chromedp.Navigate("data:text/html,<title>hello</title>")))
	title, err := chromedp.Run(tab, chromedp.Title())
	is.NoErr(err)
	is.Equal(title, "hello") // the page was rendered
}
