package web

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"plateau/internal/auth"
	"plateau/internal/campaign"
	"plateau/internal/db"
)

// floorBrowser is one tab of a headless Chromium on the test server, with
// what it reported as errors.
type floorBrowser struct {
	t        *testing.T
	ctx      context.Context
	base     string
	name     string
	problems *browserErrors
}

func (b *floorBrowser) listen() {
	b.problems = listenBrowserErrors(b.t, b.ctx)
}

func (b *floorBrowser) do(step string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if shots := os.Getenv("PLATEAU_TEST_SCREENSHOTS"); shots != "" {
		steps = append(steps, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, b.name+"-"+strings.ReplaceAll(step, " ", "-")+".png"), png, 0o644)
		}))
	}
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("%s: %s: %v (page %s)", b.name, step, err, loc)
	}
}

func (b *floorBrowser) text(step, sel string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, step, err)
	}
	return strings.TrimSpace(v)
}

// waitFor polls a JavaScript condition of the page until it holds.
func (b *floorBrowser) waitFor(step, cond string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("%s: %s: %v (page %s)", b.name, step, err, loc)
	}
}

// signIn logs in through the login form, and the TOTP form when secret is
// set.
func (b *floorBrowser) signIn(s *stack, login, secret string) {
	b.t.Helper()
	submit := chromedp.CSS(`main form button[type="submit"]`)
	b.do("login",
		chromedp.Navigate(b.base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#password`)),
		chromedp.SendKeys(chromedp.CSS(`#login`), login),
		chromedp.SendKeys(chromedp.CSS(`#password`), testPassword),
		chromedp.Click(submit),
	)
	if secret != "" {
		b.do("TOTP",
			chromedp.WaitVisible(chromedp.CSS(`#code`)),
			chromedp.SendKeys(chromedp.CSS(`#code`), s.code(b.t, secret)),
			chromedp.Click(submit),
		)
	}
	b.do("home", chromedp.WaitVisible(chromedp.CSS(`#home-account`)))
}

func (b *floorBrowser) check() {
	b.t.Helper()
	b.problems.check(b.t, b.name+": ")
}

// TestBrowserFloorAndLive drives a headless Chromium: a supervisor opens
// the live view of a mission; in another browser context an agent picks the
// mission, goes in service, takes the next contact, qualifies it with a
// keyboard shortcut and gets the next one at once, then closes it with a
// click; the supervisor's page counts the calls and the closed file
// without being reloaded.
func TestBrowserFloorAndLive(t *testing.T) {
	allocCtx := newBrowser(t, 120*time.Second, 1280, 1000)
	s, _ := newFloorStackOn(t, db.OpenTestSQLite(t))
	s.floorMission(t, 26, "Bonjour {{name}}, vous habitez bien {{city}} ?")
	s.floorLoad(t, 26, 3)
	s.floorUser(t, "alice", []auth.Role{auth.RoleAgent}, 26)
	_, secret := s.floorUser(t, "sam", []auth.Role{auth.RoleSupervisor}, 26)
	ts := httptest.NewServer(s.srv)
	defer ts.Close()

	supCtx, cancelSup := chromedp.NewContext(allocCtx)
	defer cancelSup()
	sup := &floorBrowser{t: t, ctx: supCtx, base: ts.URL, name: "supervisor"}
	sup.listen()

	// The supervisor watches mission 26.
	sup.signIn(s, "sam", secret)
	sup.do("live view",
		chromedp.Navigate(ts.URL+"/live?mission=26"),
		chromedp.WaitVisible(chromedp.CSS(`#live`)),
	)
	sup.waitFor("first snapshot", `document.querySelector('#live-closed').textContent === '0' &&
		document.querySelector('[data-field="total"]').textContent === '3'`)

	// The agent, in a browser context of their own (own cookies).
	agCtx, cancelAg := chromedp.NewContext(supCtx, chromedp.WithNewBrowserContext())
	defer cancelAg()
	ag := &floorBrowser{t: t, ctx: agCtx, base: ts.URL, name: "agent"}
	ag.listen()
	ag.signIn(s, "alice", "")
	ag.do("floor",
		chromedp.Navigate(ts.URL+"/floor"),
		chromedp.WaitVisible(chromedp.CSS(`#mission-26`)),
		chromedp.Click(chromedp.CSS(`#mission-26`)),
		chromedp.WaitVisible(chromedp.CSS(`#btn-service`)),
		chromedp.Click(chromedp.CSS(`#btn-service`)),
		chromedp.WaitVisible(chromedp.CSS(`#btn-next`)),
	)
	if got := ag.text("state", `#presence-state`); got != s.srv.cat.text("fr", "floor.state.service") &&
		got != s.srv.cat.text("en", "floor.state.service") {
		t.Fatalf("presence after going in service: %q", got)
	}
	sup.waitFor("agent in service", `document.querySelector('[data-agents="S"]').textContent === '1'`)

	ag.do("next contact",
		chromedp.Click(chromedp.CSS(`#btn-next`)),
		chromedp.WaitVisible(chromedp.CSS(`#card`)),
	)
	if got := ag.text("card", `#card-id`); got != "c0" {
		t.Fatalf("first card: %q, want c0", got)
	}
	if got := ag.text("script", `#card-script .script`); got != "Bonjour Durand 0, vous habitez bien Lyon ?" {
		t.Fatalf("script: %q", got)
	}
	href, err := chromedp.Run(agCtx, chromedp.AttributeValue(chromedp.CSS(`#card-phone`), "href"))
	if err != nil || href.Value != "tel:+33610026000" {
		t.Fatalf("the number's link: %+v, %v", href, err)
	}

	// Key 6 is the sixth outcome, "Répondeur": the page posts it and shows
	// the next contact at once.
	ag.do("qualify with a shortcut",
		chromedp.SendKeys(chromedp.CSS(`#comment`), "messagerie pleine"),
		chromedp.Blur(chromedp.CSS(`#comment`)),
		chromedp.KeyEvent("6"),
		chromedp.WaitVisible(chromedp.CSS(`#card[data-contact="c1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#floor-done`)),
	)
	ag.do("close with a click",
		chromedp.Click(chromedp.CSS(`button[name="outcome"][value="rdv-pris"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#card[data-contact="c2"]`)),
	)
	info, err := s.camp.Info(s.ctx(), campaign.Ref{Mission: 26, ID: "c0"})
	if err != nil || info.Attempts != 1 || info.LastOutcome != "repondeur" || info.LeaseOwner != 0 {
		t.Fatalf("c0 after the shortcut: %+v, %v", info, err)
	}

	// The live view counts, without a reload: two calls, one closed file,
	// two files at one attempt, one agent in a call.
	sup.waitFor("counters after the calls", `document.querySelector('#live-closed').textContent === '1' &&
		document.querySelector('#live-calls').textContent === '2' &&
		document.querySelector('#live-attempt-rows tr[data-attempts="1"] .live-count').textContent === '2' &&
		document.querySelector('#live-closed-by li[data-key="rdv-pris"] .live-count').textContent === '1' &&
		document.querySelector('[data-agents="call"]').textContent === '1'`)
	sup.do("live view updated")

	ag.check()
	sup.check()
}
