package web

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"
)

// chromiumPath finds a Chromium or Chrome binary.
func chromiumPath() string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// needChromium returns the browser binary; without one the test is skipped
// with a message, or fails under CI, which must run it.
func needChromium(t *testing.T) string {
	t.Helper()
	bin := chromiumPath()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("Chromium not found, but CI must run the browser test (apt-get install chromium)")
		}
		t.Skip("Chromium not found: install it (apt-get install chromium) to run the browser test")
	}
	return bin
}

// newBrowser starts a headless Chromium for the test, stopped at its end
// or after timeout; each chromedp.NewContext of the returned allocator is
// a new browser context (its own cookies).
func newBrowser(t *testing.T, timeout time.Duration, width, height int) context.Context {
	t.Helper()
	bin := needChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	return allocCtx
}

// browserErrors collects what a tab reports as errors (a CSP refusal, a
// missing asset, a script error): each fails the test.
type browserErrors struct {
	mu   sync.Mutex
	list []string
}

// listenBrowserErrors starts the tab of bctx and collects its errors.
func listenBrowserErrors(t *testing.T, bctx context.Context) *browserErrors {
	t.Helper()
	be := &browserErrors{}
	err := chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*log.EventEntryAdded); ok && e.Entry.Level == log.EntryLevelError {
			be.mu.Lock()
			be.list = append(be.list, string(e.Entry.Source)+": "+e.Entry.Text+" "+e.Entry.URL)
			be.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return be
}

// check fails the test for each error the tab reported.
func (be *browserErrors) check(t *testing.T, who string) {
	t.Helper()
	be.mu.Lock()
	defer be.mu.Unlock()
	for _, p := range be.list {
		t.Errorf("%sthe browser reported: %s", who, p)
	}
}

// TestBrowserSetupEnrolLogoutLogin drives a real headless Chromium through
// the first start: the setup link, TOTP enrolment from the secret shown on
// the page, logout, and a login with password and a new code. It also
// proves that the real browser keeps the __Host- Secure cookies on
// http://127.0.0.1 and that the CSP blocks nothing the pages need.
func TestBrowserSetupEnrolLogoutLogin(t *testing.T) {
	allocCtx := newBrowser(t, 60*time.Second, 1280, 900)
	s := newStack(t)
	ts := httptest.NewServer(s.srv)
	defer ts.Close()
	s.srv.cfg.BaseURL = ts.URL
	link, err := s.srv.SetupURL(s.ctx())
	if err != nil || link == "" {
		t.Fatalf("SetupURL: %q, %v", link, err)
	}

	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	problems := listenBrowserErrors(t, bctx)

	shots := os.Getenv("PLATEAU_TEST_SCREENSHOTS") // a folder: keep a picture of each step
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if shots == "" {
				return nil
			}
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	fail := func(step string, err error) {
		t.Helper()
		loc, _ := chromedp.Run(bctx, chromedp.Location())
		t.Fatalf("%s: %v (page %s)", step, err, loc)
	}
	do := func(step string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			fail(step, err)
		}
	}
	text := func(step, sel string) string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			fail(step, err)
		}
		return v
	}
	submit := chromedp.CSS(`main form button[type="submit"]`)

	do("setup",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`#confirm`)),
		shot("1-setup"),
		chromedp.SendKeys(chromedp.CSS(`#login`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`#name`), "Alice Martin"),
		chromedp.SendKeys(chromedp.CSS(`#password`), testPassword),
		chromedp.SendKeys(chromedp.CSS(`#confirm`), testPassword),
		chromedp.Click(submit),
		chromedp.WaitVisible(chromedp.CSS(`#totp-secret`)),
	)
	secret := text("read the secret", `#totp-secret`)
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.querySelector('.qr img').complete`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		fail("QR code", err)
	}
	qrWidth, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelector('.qr img').naturalWidth`))
	if err != nil {
		fail("QR code", err)
	}
	if qrWidth != 256 {
		t.Errorf("the QR code image did not load in the browser (naturalWidth %d)", qrWidth)
	}
	do("enrol",
		shot("2-enrol"),
		chromedp.SendKeys(chromedp.CSS(`#code`), s.code(t, secret)),
		chromedp.Click(submit),
		chromedp.WaitVisible(chromedp.CSS(`#home-admin`)),
		shot("3-home"),
	)
	if welcome := text("home", `main .lead`); !strings.Contains(welcome, "Alice Martin") {
		t.Errorf("home page greeting %q does not name the user", welcome)
	}

	do("logout",
		chromedp.Click(chromedp.CSS(`.who button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#password`)),
		shot("4-login"),
	)
	do("login",
		chromedp.SendKeys(chromedp.CSS(`#login`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`#password`), testPassword),
		chromedp.Click(submit),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
		shot("5-code"),
	)
	// A new code: the clock moves to the next 30-second step.
	do("TOTP code",
		chromedp.SendKeys(chromedp.CSS(`#code`), s.code(t, secret)),
		chromedp.Click(submit),
		chromedp.WaitVisible(chromedp.CSS(`#home-admin`)),
	)
	heading := text("home", `#home-admin h2`)
	if heading != s.srv.cat.text("en", "home.admin.title") && heading != s.srv.cat.text("fr", "home.admin.title") {
		t.Errorf("admin section heading %q", heading)
	}
	do("users page", chromedp.Navigate(ts.URL+"/users"), chromedp.WaitVisible(chromedp.CSS(`table.table`)), shot("6-users"))
	do("audit page", chromedp.Navigate(ts.URL+"/audit"), chromedp.WaitVisible(chromedp.CSS(`table.table-audit`)), shot("7-audit"))
	do("account page", chromedp.Navigate(ts.URL+"/account"), chromedp.WaitVisible(chromedp.CSS(`#current`)), shot("8-account"))

	problems.check(t, "")
}
