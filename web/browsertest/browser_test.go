package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/jobboard/jobboard/internal/browser"
)

// stepTimeout bounds each step of a test in the browser: a page to load,
// an element to appear, a download to end. Every wait has this deadline,
// so that a page that never shows what a test expects fails the test
// instead of hanging it. It is generous because the whole test run shares
// two cores under the race detector; a passing step takes milliseconds.
const stepTimeout = 20 * time.Second

// startBrowser starts the one Chromium that the tests of the run share, and
// stops it when t ends. A machine without Chromium fails the test with
// browser.ErrNotInstalled, which says how to install it: a skipped browser
// test would let a broken UI pass unseen.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	// Not t.Context(), which ends just before the cleanups run: cancel,
	// in the cleanup, closes the browser properly and removes its
	// profile, once the parallel subtests that use it are done.
	ctx, cancel, err := browser.Start(context.Background(), browser.Options{})
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(cancel) // closes the browser, which removes its profile
	return ctx
}

// tab is one browser tab in a browser context of its own (a profile, as in
// a private window): its cookies are its own, so that tests running side by
// side sign in as different people.
type tab struct {
	t   *testing.T
	ctx context.Context
	svc *service

	mu      sync.Mutex
	dialogs []string // the messages of the JavaScript dialogs that opened
}

// newTab opens a tab in a new browser context. Any JavaScript dialog that
// opens in it (an alert an injected script shows) fails the test: the pages
// run no script at all.
func newTab(t *testing.T, b context.Context, s *service) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b, chromedp.WithNewBrowserContext())
	tb := &tab{t: t, ctx: ctx, svc: s}
	// Listen opens the tab, and gets the tab's context for good: it cannot
	// have a deadline, so a timer closes a tab that does not open in time.
	// Its function runs on the tab's reader, so it only records: the
	// dialog is dismissed from another goroutine, for an open alert stalls
	// the page and every step after it.
	late := time.AfterFunc(stepTimeout, cancel)
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			tb.mu.Lock()
			tb.dialogs = append(tb.dialogs, fmt.Sprintf("%s %q on %s", e.Type, e.Message, e.URL))
			tb.mu.Unlock()
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	})
	if !late.Stop() && err == nil {
		err = fmt.Errorf("not open within %s", stepTimeout)
	}
	if err != nil {
		cancel()
		t.Fatalf("open a tab: %v", err)
	}
	t.Cleanup(func() {
		if d := tb.openedDialogs(); len(d) > 0 {
			t.Errorf("JavaScript dialogs opened: %s", strings.Join(d, "; "))
		}
		cancel()
	})
	return tb
}

// openedDialogs returns the dialogs that opened so far.
func (tb *tab) openedDialogs() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return append([]string(nil), tb.dialogs...)
}

// run runs an action with the step deadline and fails the test if it
// fails, saying what the test was doing and where the tab was.
func run[T any](tb *tab, what string, a chromedp.Action[T]) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		tb.fatalf("%s: %v", what, err)
	}
	return v
}

// do runs actions that give no value, as run does.
func (tb *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	run(tb, what, chromedp.Steps(actions...))
}

// fatalf ends the test with the message, the tab's address and the text of
// its page, which usually says what went wrong.
func (tb *tab) fatalf(format string, args ...any) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	where, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if len(text) > 2000 {
		text = text[:2000] + "…"
	}
	tb.t.Fatalf(format+"\n  at %s\n  page text:\n%s", append(args, where, text)...)
}

// open loads the page at path (under the service's address, unless it is
// absolute), which must answer 200 OK: every page a test opens by its
// address is one it may see.
func (tb *tab) open(path string) {
	tb.t.Helper()
	u := path
	if !strings.HasPrefix(path, "http:") && !strings.HasPrefix(path, "data:") {
		u = tb.svc.url + path
	}
	res := run(tb, "open "+u, chromedp.NavigateResponse(u))
	if res != nil && res.Status != http.StatusOK { // a data: URL has no response
		tb.fatalf("open %s: want 200 OK, got %d %s", u, res.Status, res.StatusText)
	}
}

// follow clicks what sel (CSS or XPath) finds, a link or a submit button,
// and waits for the page it leads to: the response of its document, after
// any redirect.
func (tb *tab) follow(sel string) *network.Response {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Click(sel, chromedp.NodeVisible))
	if err != nil {
		tb.fatalf("click %s and wait for the next page: %v", sel, err)
	}
	if res.Status >= http.StatusInternalServerError {
		tb.fatalf("click %s: the next page is a %d %s", sel, res.Status, res.StatusText)
	}
	return res
}

// button is the XPath of the submit button of the form with the id whose
// text is label: tests press the button a person sees, not the form.
func button(formID, label string) string {
	return fmt.Sprintf(`//form[@id=%q]//button[normalize-space()=%q]`, formID, label)
}

// navLink is the XPath of the main navigation's link whose text is label.
func navLink(label string) string {
	return fmt.Sprintf(`//nav[@aria-label="Main"]//a[normalize-space()=%q]`, label)
}

// fill enters value into the empty field sel finds, as a paste or a
// phone's keyboard does: focused, then given the text through the
// browser's input pipeline in one insertion. A key event per character
// (chromedp.SendKeys) reaches the same form, three round trips a
// character later: that was most of the package's time.
func (tb *tab) fill(sel, value string) {
	tb.t.Helper()
	tb.do("type into "+sel, chromedp.Focus(chromedp.CSS(sel)), insertText(value))
}

// replace enters value into the field sel finds, in place of what it
// holds.
func (tb *tab) replace(sel, value string) {
	tb.t.Helper()
	tb.do("type into "+sel, chromedp.Clear(chromedp.CSS(sel)), chromedp.Focus(chromedp.CSS(sel)), insertText(value))
}

// insertText inserts text where the focus is (Input.insertText).
func insertText(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})
}

// click clicks what sel (CSS) finds: a radio button, a check box.
func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// eval evaluates a JavaScript expression in the page, from outside it (the
// pages' CSP, which forbids their own scripts, does not apply to the
// DevTools), and decodes its value.
func eval[T any](tb *tab, expression string) T {
	tb.t.Helper()
	return run(tb, "evaluate "+expression, chromedp.Evaluate[T](expression))
}

// js quotes s as a JavaScript string.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// count returns how many elements sel (CSS) finds in the page as it is.
func (tb *tab) count(sel string) int {
	tb.t.Helper()
	return eval[int](tb, `document.querySelectorAll(`+js(sel)+`).length`)
}

// text returns the text of the first element sel (CSS) finds, without its
// leading and trailing white space and with each run of white space
// inside made one space; it waits for the element until the step deadline.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return squeeze(run(tb, "read "+sel, chromedp.TextContent(chromedp.CSS(sel))))
}

// texts returns the text of each element sel (CSS) finds, as text does,
// without waiting: the page has loaded.
func (tb *tab) texts(sel string) []string {
	tb.t.Helper()
	raw := eval[[]string](tb, `Array.from(document.querySelectorAll(`+js(sel)+`), e => e.textContent)`)
	out := make([]string, len(raw))
	for i, s := range raw {
		out[i] = squeeze(s)
	}
	return out
}

// attrs returns the attribute name of each element sel (CSS) finds.
func (tb *tab) attrs(sel, name string) []string {
	tb.t.Helper()
	return eval[[]string](tb, `Array.from(document.querySelectorAll(`+js(sel)+`), e => e.getAttribute(`+js(name)+`) ?? "")`)
}

// value returns the current value of the form field sel (CSS) finds.
func (tb *tab) value(sel string) string {
	tb.t.Helper()
	return run(tb, "read the value of "+sel, chromedp.Value(chromedp.CSS(sel)))
}

// path returns the path and query of the tab's page.
func (tb *tab) path() string {
	tb.t.Helper()
	loc := run(tb, "read the location", chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil {
		tb.fatalf("parse the location %q: %v", loc, err)
	}
	return u.RequestURI()
}

var whiteSpace = regexp.MustCompile(`\s+`)

// squeeze trims s and makes each run of white space in it one space.
func squeeze(s string) string {
	return strings.TrimSpace(whiteSpace.ReplaceAllString(s, " "))
}

// download clicks the link sel (CSS) finds, lets the browser save the
// file it leads to in a new folder, and returns the saved bytes and the
// name the browser was given for the file. It waits, with the step
// deadline, for the browser to report the download complete.
func (tb *tab) download(sel string) (content []byte, suggestedName string) {
	tb.t.Helper()
	dir := tb.t.TempDir()
	yes := true
	_, err := chromedp.CallBrowser(tb.ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		// Named by the download's GUID, which the events give, so that the
		// file is found whatever name the server suggested.
		Behavior:         cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName,
		BrowserContextID: chromedp.FromContext(tb.ctx).BrowserContextID,
		DownloadPath:     dir,
		EventsEnabled:    &yes,
	})
	if err != nil {
		tb.fatalf("allow downloads: %v", err)
	}
	href := tb.attrs(sel, "href")
	if len(href) == 0 {
		tb.fatalf("no link %s to download from", sel)
	}
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	// Download events come from the browser, for every browser context:
	// this one begins at the link's address. Only the news of a download's
	// beginning and end is kept, so that the queue never fills.
	events := make(chan any, 64)
	if err := chromedp.ListenBrowser(ctx, func(ev any) {
		switch e := ev.(type) {
		case *cdpbrowser.EventDownloadWillBegin:
			if !strings.HasSuffix(e.URL, href[0]) {
				return
			}
		case *cdpbrowser.EventDownloadProgress:
			if e.State == cdpbrowser.DownloadProgressStateInProgress {
				return
			}
		default:
			return
		}
		select {
		case events <- ev:
		default:
		}
	}); err != nil {
		tb.fatalf("listen for downloads: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)); err != nil {
		tb.fatalf("click %s: %v", sel, err)
	}
	var guid string
	for {
		select {
		case <-ctx.Done():
			tb.fatalf("the download of %s did not complete within %s (guid %q)", href[0], stepTimeout, guid)
		case ev := <-events:
			switch e := ev.(type) {
			case *cdpbrowser.EventDownloadWillBegin:
				guid, suggestedName = e.GUID, e.SuggestedFilename
			case *cdpbrowser.EventDownloadProgress:
				switch {
				case e.GUID != guid:
				case e.State == cdpbrowser.DownloadProgressStateCanceled:
					tb.fatalf("the download of %s was canceled", href[0])
				case e.State == cdpbrowser.DownloadProgressStateCompleted:
					b, err := os.ReadFile(filepath.Join(dir, guid))
					if err != nil {
						tb.fatalf("read the downloaded file: %v", err)
					}
					return b, suggestedName
				}
			}
		}
	}
}

// cookies returns the browser's cookies for the pages.
func (tb *tab) cookies() []*network.Cookie {
	tb.t.Helper()
	res, err := chromedp.Call(tb.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{tb.svc.url + "/app/"}})
	if err != nil {
		tb.fatalf("read the cookies: %v", err)
	}
	return res.Cookies
}

// cookieHeader returns the Cookie header the browser would send to the
// pages.
func (tb *tab) cookieHeader() string {
	tb.t.Helper()
	var parts []string
	for _, c := range tb.cookies() {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}
