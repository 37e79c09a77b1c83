package campaign

import (
	"fmt"
	"time"
	_ "time/tzdata" // missions name IANA zones; the static binary may run where the system has none
)

// Rule is the stable code of a calling rule. The web and API layers
// translate codes; Verdict.Message is the English text.
type Rule string

// The rules that can hold a contact back, in the order Why reports them.
const (
	RuleClosed          Rule = "closed"           // the file is closed
	RuleArchived        Rule = "archived"         // the mission is archived
	RuleOppositionStale Rule = "opposition_stale" // consumer prospecting: the client's opposition list is too old
	RuleOpposition      Rule = "opposition"       // the number is on the client's opposition list
	RuleConsent         Rule = "consent"          // consumer prospecting: no proof of prior consent
	RuleRefusalSilence  Rule = "refusal_silence"  // consumer prospecting: refused less than 60 days ago
	RuleAttemptCap      Rule = "attempt_cap"      // consumer prospecting: 4 calls in the last 30 days
	RulePersonBusy      Rule = "person_busy"      // consumer prospecting: another file of the person is leased
	RuleLegalHoliday    Rule = "legal_holiday"    // consumer prospecting: public holiday
	RuleLegalHours      Rule = "legal_hours"      // consumer prospecting: outside Mon-Fri 10-13, 14-20
	RuleHoliday         Rule = "holiday"          // public holiday, and the mission does not work on holidays
	RuleWindow          Rule = "window"           // outside the mission's calling windows
	RuleLeased          Rule = "leased"           // an agent holds the file
	RuleCallback        Rule = "callback"         // a callback is scheduled later
	RuleRetryDelay      Rule = "retry_delay"      // the last outcome's retry delay runs
	RuleScheduled       Rule = "scheduled"        // loaded to be called from a later time
)

// The French rules for consumer prospecting (Code de la consommation, art.
// L223-1 and following; décret 2022-1313; loi du 30 juin 2025 on consent).
const (
	// LegalZone is the time zone the legal calling hours are read in.
	LegalZone = "Europe/Paris"
	// LegalHours are the hours consumer prospecting calls are allowed.
	LegalHours = "mon-fri 10:00-13:00, mon-fri 14:00-20:00"
	// LegalCap is how many calls a person may receive per LegalCapPeriod
	// from the missions of one client.
	LegalCap = 4
	// LegalCapPeriod is the rolling period of LegalCap.
	LegalCapPeriod = 30 * 24 * time.Hour
	// RefusalSilence is how long a person who refused is not called again.
	RefusalSilence = 60 * 24 * time.Hour
	// OppositionMaxAge is how old a client's opposition list check may be
	// before its consumer-prospecting missions stop being served.
	OppositionMaxAge = 30 * 24 * time.Hour
)

// ConsentRequiredFrom is the instant from which a consumer-prospecting call
// needs a recorded proof of prior consent: 11 August 2026, 00:00 in Paris.
var ConsentRequiredFrom = time.Date(2026, time.August, 11, 0, 0, 0, 0, mustLoad(LegalZone))

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // embedded by time/tzdata: cannot fail
	}
	return loc
}

// Verdict says whether a contact (or a mission) may be called at a given
// instant and, if not, which rule holds it back and until when.
type Verdict struct {
	Callable bool   `json:"callable"`
	Rule     Rule   `json:"rule,omitempty"`
	Message  string `json:"message,omitempty"` // English; the UI translates Rule
	// Next is when it becomes callable (the instant asked when Callable);
	// zero when no date can be given: the file is closed, the number is on
	// the opposition list, consent is missing... something must change first.
	Next time.Time `json:"next,omitzero"`
}

// gate is one rule: open at t when next == t; never when it will not open
// by itself.
type gate struct {
	rule Rule
	next func(t time.Time) (next time.Time, never bool)
	msg  func(t time.Time) string
}

// maxGateRounds bounds the search for an instant every gate allows; each
// round moves forward to the latest "next" of the closed gates.
const maxGateRounds = 64

// evaluate returns the verdict of gates at t: the first gate closed at t
// names the rule, and Next is the first instant all gates are open.
func evaluate(t time.Time, gates []gate) Verdict {
	var v Verdict
	for _, g := range gates {
		if n, never := g.next(t); never || !n.Equal(t) {
			v.Rule = g.rule
			v.Message = g.msg(t)
			break
		}
	}
	if v.Rule == "" {
		return Verdict{Callable: true, Next: t}
	}
	cur := t
	for range maxGateRounds {
		moved := false
		for _, g := range gates {
			n, never := g.next(cur)
			if never {
				return v
			}
			if n.After(cur) {
				cur, moved = n, true
			}
		}
		if !moved {
			v.Next = cur
			return v
		}
		if cur.Sub(t) > maxSearchDays*24*time.Hour {
			return v
		}
	}
	return v
}

// schedule is a mission's time-only rules, compiled.
type schedule struct {
	loc          *time.Location
	windows      Windows
	holidaysOpen bool
	legal        bool // consumer prospecting
}

// legal rules, compiled once per Service (not package state: Windows values
// are read-only).
type legalRules struct {
	loc   *time.Location
	hours Windows
}

func newLegalRules() legalRules {
	return legalRules{loc: mustLoad(LegalZone), hours: MustParseWindows(LegalHours)}
}

var allDay = [7][]Span{{{0, 1440}}, {{0, 1440}}, {{0, 1440}}, {{0, 1440}}, {{0, 1440}}, {{0, 1440}}, {{0, 1440}}}

// timeGates returns the gates of s, legal ones first: the law is the reason
// a supervisor most needs to see.
func (s schedule) timeGates(lr legalRules) []gate {
	var gs []gate
	days := Windows{days: allDay}
	if s.legal {
		gs = append(gs,
			gate{
				rule: RuleLegalHoliday,
				next: func(t time.Time) (time.Time, bool) { return never(days.nextOpen(t, lr.loc, isHoliday)) },
				msg: func(t time.Time) string {
					y, m, d := t.In(lr.loc).Date()
					return fmt.Sprintf("%s is a public holiday: consumer prospecting calls are not allowed.", Holiday(y, m, d))
				},
			},
			gate{
				rule: RuleLegalHours,
				next: func(t time.Time) (time.Time, bool) { return never(lr.hours.nextOpen(t, lr.loc, nil)) },
				msg: func(time.Time) string {
					return "Consumer prospecting calls are allowed Monday to Friday, 10:00-13:00 and 14:00-20:00 (Europe/Paris time)."
				},
			})
	}
	if !s.holidaysOpen {
		gs = append(gs, gate{
			rule: RuleHoliday,
			next: func(t time.Time) (time.Time, bool) { return never(days.nextOpen(t, s.loc, isHoliday)) },
			msg: func(t time.Time) string {
				y, m, d := t.In(s.loc).Date()
				return fmt.Sprintf("%s is a public holiday and the mission does not call on public holidays.", Holiday(y, m, d))
			},
		})
	}
	gs = append(gs, gate{
		rule: RuleWindow,
		next: func(t time.Time) (time.Time, bool) { return never(s.windows.nextOpen(t, s.loc, nil)) },
		msg: func(time.Time) string {
			return fmt.Sprintf("Outside the mission's calling windows (%s, %s time).", s.windows, s.loc)
		},
	})
	return gs
}

// never adapts nextOpen's (time, ok) to a gate's (time, never).
func never(t time.Time, ok bool) (time.Time, bool) { return t, !ok }

// closedGate is a rule that holds for good (until something changes).
func closedGate(r Rule, msg string) gate {
	return gate{
		rule: r,
		next: func(time.Time) (time.Time, bool) { return time.Time{}, true },
		msg:  func(time.Time) string { return msg },
	}
}

// untilGate is a rule that holds until a known instant.
func untilGate(r Rule, until time.Time, msg string) gate {
	return gate{
		rule: r,
		next: func(t time.Time) (time.Time, bool) {
			if t.Before(until) {
				return until, false
			}
			return t, false
		},
		msg: func(time.Time) string { return msg },
	}
}

// personHistory is what the per-person rules look at: the calls a person
// received from the client's consumer-prospecting missions, and the leases
// other agents hold on files with the same number.
type personHistory struct {
	calls   []time.Time // ascending
	refusal time.Time   // the last refusal; zero: none
	busy    time.Time   // end of the latest live lease on another file of the person; zero: none
}

// personFacts are the per-person facts of one contact.
type personFacts struct {
	consumer  bool // the mission is consumer prospecting
	opposed   bool
	consentAt time.Time
	history   personHistory
}

// personGates returns the per-person rules of a contact.
func personGates(f personFacts) []gate {
	var gs []gate
	if f.opposed {
		gs = append(gs, closedGate(RuleOpposition, "The number is on the client's opposition list."))
	}
	if !f.consumer {
		return gs
	}
	if f.consentAt.IsZero() {
		gs = append(gs, gate{
			rule: RuleConsent,
			next: func(t time.Time) (time.Time, bool) {
				if t.Before(ConsentRequiredFrom) {
					return t, false
				}
				return time.Time{}, true
			},
			msg: func(time.Time) string {
				return "No proof of prior consent is recorded; consumer prospecting requires one since 11 August 2026."
			},
		})
	}
	if !f.history.refusal.IsZero() {
		gs = append(gs, untilGate(RuleRefusalSilence, f.history.refusal.Add(RefusalSilence),
			"The person refused less than 60 days ago."))
	}
	calls := f.history.calls
	gs = append(gs, gate{
		rule: RuleAttemptCap,
		next: func(t time.Time) (time.Time, bool) { return capNext(calls, t), false },
		msg: func(time.Time) string {
			return fmt.Sprintf("The person was already called %d times in the last 30 days by this client's missions.", LegalCap)
		},
	})
	if !f.history.busy.IsZero() {
		gs = append(gs, untilGate(RulePersonBusy, f.history.busy,
			"Another file of the same person is being handled by an agent."))
	}
	return gs
}

// capNext returns t when fewer than LegalCap calls fall in (t-period, t],
// else when enough of them leave the window. calls are ascending; calls
// after t are not known yet at claim time, but count when asked about the
// past.
func capNext(calls []time.Time, t time.Time) time.Time {
	from := t.Add(-LegalCapPeriod)
	var in []time.Time
	for _, c := range calls {
		if c.After(from) && !c.After(t) {
			in = append(in, c)
		}
	}
	if len(in) < LegalCap {
		return t
	}
	// The (len-LegalCap+1)-th oldest must leave: then LegalCap-1 remain.
	return in[len(in)-LegalCap].Add(LegalCapPeriod)
}
