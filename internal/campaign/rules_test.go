package campaign

import (
	"testing"
	"time"
)

func TestParseWindows(t *testing.T) {
	tests := []struct {
		spec, want string
		err        bool
	}{
		{spec: "mon-fri 09:00-20:00", want: "mon-fri 09:00-20:00"},
		{spec: "mon-fri 09:00-12:30, mon-fri 14:00-19:00, sat 10:00-12:00",
			want: "mon-fri 09:00-12:30, mon-fri 14:00-19:00, sat 10:00-12:00"},
		{spec: "mon-sun 00:00-24:00", want: "mon-sun 00:00-24:00"},
		{spec: " SAT 10:00-12:00 ,mon 09:00-10:00", want: "mon 09:00-10:00, sat 10:00-12:00"},
		// Overlapping and touching ranges merge.
		{spec: "mon 09:00-11:00, mon 10:00-12:00, mon 12:00-13:00", want: "mon 09:00-13:00"},
		{spec: "mon-wed 09:00-10:00, thu-fri 09:00-10:00", want: "mon-fri 09:00-10:00"},
		{spec: "mon 09:00-10:00, wed 09:00-10:00", want: "mon 09:00-10:00, wed 09:00-10:00"},
		{spec: "", err: true},
		{spec: "mon-fri", err: true},
		{spec: "fri-mon 09:00-10:00", err: true},
		{spec: "lun 09:00-10:00", err: true},
		{spec: "mon 10:00-09:00", err: true},
		{spec: "mon 9:00-10:00", err: true},
		{spec: "mon 09:00-24:01", err: true},
		{spec: "mon 09:60-10:00", err: true},
	}
	for _, tt := range tests {
		w, err := ParseWindows(tt.spec)
		if tt.err {
			if err == nil {
				t.Errorf("ParseWindows(%q) = %q, want an error", tt.spec, w)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseWindows(%q): %v", tt.spec, err)
			continue
		}
		if got := w.String(); got != tt.want {
			t.Errorf("ParseWindows(%q) = %q, want %q", tt.spec, got, tt.want)
		}
		again, err := ParseWindows(w.String())
		if err != nil || !again.Equal(w) {
			t.Errorf("%q does not round-trip: %v", tt.spec, err)
		}
	}
}

func TestEasterAndHolidays(t *testing.T) {
	easter := map[int]string{2024: "03-31", 2025: "04-20", 2026: "04-05", 2027: "03-28", 2038: "04-25", 2285: "03-22"}
	for y, want := range easter {
		m, d := Easter(y)
		if got := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Format("01-02"); got != want {
			t.Errorf("Easter(%d) = %s, want %s", y, got, want)
		}
	}
	holidays := []struct {
		date string
		name string
	}{
		{"2027-01-01", "Jour de l'an"},
		{"2027-03-29", "Lundi de Pâques"},
		{"2027-05-01", "Fête du Travail"},
		{"2027-05-06", "Ascension"},
		{"2027-05-08", "Victoire 1945"},
		{"2027-05-17", "Lundi de Pentecôte"},
		{"2026-07-14", "Fête nationale"},
		{"2026-08-15", "Assomption"},
		{"2026-11-01", "Toussaint"},
		{"2026-11-11", "Armistice 1918"},
		{"2026-12-25", "Noël"},
		{"2026-05-14", "Ascension"},
		{"2026-05-25", "Lundi de Pentecôte"},
		{"2027-03-28", ""}, // Easter Sunday itself is a Sunday, not a listed holiday
		{"2027-03-26", ""}, // Good Friday: Alsace-Moselle only
		{"2026-11-23", ""},
	}
	for _, h := range holidays {
		d, _ := time.Parse("2006-01-02", h.date)
		if got := Holiday(d.Date()); got != h.name {
			t.Errorf("Holiday(%s) = %q, want %q", h.date, got, h.name)
		}
	}
}

func at(loc *time.Location, s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		panic(err)
	}
	return t
}

// testEntry builds a cached mission without a database.
func testEntry(regime Regime, zone, windows string, holidaysOpen bool, checked time.Time) *missionEntry {
	loc := mustLoad(zone)
	return &missionEntry{
		m:         Mission{Regime: regime, TimeZone: zone, Windows: MustParseWindows(windows), HolidaysOpen: holidaysOpen},
		loc:       loc,
		checkedAt: checked,
	}
}

func TestMissionCallingRules(t *testing.T) {
	s := &Service{legal: newLegalRules()}
	mq := mustLoad("America/Martinique")
	tests := []struct {
		name     string
		regime   Regime
		zone     string
		windows  string
		holidays bool
		at       time.Time
		rule     Rule // "" callable
		next     time.Time
	}{
		// Consumer prospecting, Paris, default windows (mon-fri 09:00-20:00).
		{"consumer 09:59", RegimeConsumer, "Europe/Paris", DefaultWindows, false, at(paris, "2026-11-23 09:59"), RuleLegalHours, at(paris, "2026-11-23 10:00")},
		{"consumer 10:00", RegimeConsumer, "Europe/Paris", DefaultWindows, false, at(paris, "2026-11-23 10:00"), "", time.Time{}},
		{"consumer 12:59", RegimeConsumer, "Europe/Paris", DefaultWindows, false, at(paris, "2026-11-23 12:59"), "", time.Time{}},
		{"consumer 13:00", RegimeConsumer, "Europe/Paris", DefaultWindows, false, at(paris, "2026-11-23 13:00"), RuleLegalHours, at(paris, "2026-11-23 14:00")},
		{"consumer 13:30", RegimeConsumer, "Europe/Paris", DefaultWindows, false, at(paris, "2026-11-23 13:30"), RuleLegalHours, at(paris, "2026-11-23 14:00")},
		{"consumer 19:59", RegimeConsumer, "Europe/Paris", DefaultWindows, false, at(paris, "2026-11-23 19:59"), "", time.Time{}},
		{"consumer 20:00", RegimeConsumer, "Europe/Paris", DefaultWindows, false, at(paris, "2026-11-23 20:00"), RuleLegalHours, at(paris, "2026-11-24 10:00")},
		{"consumer saturday", RegimeConsumer, "Europe/Paris", "mon-sun 00:00-24:00", false, at(paris, "2026-11-28 11:00"), RuleLegalHours, at(paris, "2026-11-30 10:00")},
		{"consumer 14 July", RegimeConsumer, "Europe/Paris", DefaultWindows, true, at(paris, "2026-07-14 11:00"), RuleLegalHoliday, at(paris, "2026-07-15 10:00")},
		{"consumer Easter Monday 2027", RegimeConsumer, "Europe/Paris", DefaultWindows, true, at(paris, "2027-03-29 11:00"), RuleLegalHoliday, at(paris, "2027-03-30 10:00")},
		{"consumer Ascension 2027", RegimeConsumer, "Europe/Paris", DefaultWindows, true, at(paris, "2027-05-06 15:00"), RuleLegalHoliday, at(paris, "2027-05-07 10:00")},
		{"consumer Friday 8 May 2026", RegimeConsumer, "Europe/Paris", DefaultWindows, false, at(paris, "2026-05-08 11:00"), RuleLegalHoliday, at(paris, "2026-05-11 10:00")},
		{"consumer windows narrower than the law", RegimeConsumer, "Europe/Paris", "mon-fri 11:00-12:00", false, at(paris, "2026-11-23 10:30"), RuleWindow, at(paris, "2026-11-23 11:00")},
		// Business to business: the mission's windows and holidays only.
		{"b2b 08:59", RegimeB2B, "Europe/Paris", DefaultWindows, false, at(paris, "2026-11-23 08:59"), RuleWindow, at(paris, "2026-11-23 09:00")},
		{"b2b 09:30", RegimeB2B, "Europe/Paris", DefaultWindows, false, at(paris, "2026-11-23 09:30"), "", time.Time{}},
		{"b2b 13:30", RegimeB2B, "Europe/Paris", DefaultWindows, false, at(paris, "2026-11-23 13:30"), "", time.Time{}},
		{"b2b saturday", RegimeB2B, "Europe/Paris", DefaultWindows, false, at(paris, "2026-11-28 10:00"), RuleWindow, at(paris, "2026-11-30 09:00")},
		{"b2b 14 July closed", RegimeB2B, "Europe/Paris", DefaultWindows, false, at(paris, "2026-07-14 10:00"), RuleHoliday, at(paris, "2026-07-15 09:00")},
		{"b2b 14 July open", RegimeB2B, "Europe/Paris", DefaultWindows, true, at(paris, "2026-07-14 10:00"), "", time.Time{}},
		{"b2b Easter Monday 2027", RegimeB2B, "Europe/Paris", DefaultWindows, false, at(paris, "2027-03-29 10:00"), RuleHoliday, at(paris, "2027-03-30 09:00")},
		{"b2b Ascension eve after hours", RegimeB2B, "Europe/Paris", DefaultWindows, false, at(paris, "2027-05-05 20:00"), RuleWindow, at(paris, "2027-05-07 09:00")},
		{"b2b split windows", RegimeB2B, "Europe/Paris", "mon-fri 09:00-12:30, mon-fri 14:00-19:00, sat 10:00-12:00", false, at(paris, "2026-11-28 09:00"), RuleWindow, at(paris, "2026-11-28 10:00")},
		{"survey around the clock", RegimeSurvey, "Europe/Paris", "mon-sun 00:00-24:00", true, at(paris, "2026-12-25 03:00"), "", time.Time{}},
		// Martinique: windows in local time (UTC-4, no DST).
		{"martinique 13:30 Paris = 08:30 local", RegimeB2B, "America/Martinique", DefaultWindows, false, at(paris, "2026-11-23 13:30"), RuleWindow, at(mq, "2026-11-23 09:00")},
		{"martinique 14:00 Paris = 09:00 local", RegimeB2B, "America/Martinique", DefaultWindows, false, at(paris, "2026-11-23 14:00"), "", time.Time{}},
		{"martinique 13 July evening = 14 July in Paris", RegimeB2B, "America/Martinique", "mon-sun 00:00-24:00", false, at(mq, "2026-07-13 21:00"), "", time.Time{}},
		{"martinique 14 July local", RegimeB2B, "America/Martinique", "mon-sun 00:00-24:00", false, at(mq, "2026-07-14 12:00"), RuleHoliday, at(mq, "2026-07-15 00:00")},
		// Consumer in Martinique: the legal hours are read in Paris, the
		// windows in Martinique; the first instant both allow.
		{"consumer martinique 10:30 Paris", RegimeConsumer, "America/Martinique", DefaultWindows, false, at(paris, "2026-11-23 10:30"), RuleWindow, at(paris, "2026-11-23 14:00")},
		{"consumer martinique 20:30 Paris", RegimeConsumer, "America/Martinique", DefaultWindows, false, at(paris, "2026-11-23 20:30"), RuleLegalHours, at(paris, "2026-11-24 14:00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := testEntry(tt.regime, tt.zone, tt.windows, tt.holidays, tt.at.Add(-24*time.Hour))
			v := s.missionVerdict(e, tt.at)
			if tt.rule == "" {
				if !v.Callable || !v.Next.Equal(tt.at) {
					t.Fatalf("verdict = %+v, want callable", v)
				}
				return
			}
			if v.Callable || v.Rule != tt.rule || !v.Next.Equal(tt.next) || v.Message == "" {
				t.Fatalf("verdict = %+v (next %v), want %s until %v", v, v.Next.In(paris), tt.rule, tt.next.In(paris))
			}
		})
	}
}

func TestOppositionStaleness(t *testing.T) {
	s := &Service{legal: newLegalRules()}
	now := at(paris, "2026-11-23 11:00")
	for _, tt := range []struct {
		regime  Regime
		checked time.Time
		rule    Rule
	}{
		{RegimeConsumer, time.Time{}, RuleOppositionStale},
		{RegimeConsumer, now.Add(-31 * 24 * time.Hour), RuleOppositionStale},
		{RegimeConsumer, now.Add(-29 * 24 * time.Hour), ""},
		{RegimeB2B, time.Time{}, ""},
	} {
		v := s.missionVerdict(testEntry(tt.regime, "Europe/Paris", DefaultWindows, false, tt.checked), now)
		if v.Rule != tt.rule || (tt.rule == RuleOppositionStale && !v.Next.IsZero()) {
			t.Errorf("%s checked %v: verdict %+v, want rule %q", tt.regime, tt.checked, v, tt.rule)
		}
	}
}

func TestPersonRules(t *testing.T) {
	now := at(paris, "2026-11-23 11:00")
	days := func(n int) time.Time { return now.Add(time.Duration(n) * 24 * time.Hour) }
	consent := days(-100)
	tests := []struct {
		name string
		f    personFacts
		at   time.Time
		rule Rule
		next time.Time
	}{
		{"three calls in 30 days", personFacts{consumer: true, consentAt: consent,
			history: personHistory{calls: []time.Time{days(-20), days(-10), days(-1)}}}, now, "", time.Time{}},
		{"four calls in 30 days", personFacts{consumer: true, consentAt: consent,
			history: personHistory{calls: []time.Time{days(-29), days(-20), days(-10), days(-1)}}}, now, RuleAttemptCap, days(1)},
		{"four calls, the oldest 31 days ago", personFacts{consumer: true, consentAt: consent,
			history: personHistory{calls: []time.Time{days(-31), days(-20), days(-10), days(-1)}}}, now, "", time.Time{}},
		{"six calls: three must age out", personFacts{consumer: true, consentAt: consent,
			history: personHistory{calls: []time.Time{days(-28), days(-25), days(-20), days(-10), days(-2), days(-1)}}}, now, RuleAttemptCap, days(10)},
		{"cap is per consumer mission only", personFacts{consumer: false,
			history: personHistory{calls: []time.Time{days(-4), days(-3), days(-2), days(-1)}}}, now, "", time.Time{}},
		{"refused 59 days ago", personFacts{consumer: true, consentAt: consent,
			history: personHistory{calls: []time.Time{days(-59)}, refusal: days(-59)}}, now, RuleRefusalSilence, days(1)},
		{"refused 60 days ago", personFacts{consumer: true, consentAt: consent,
			history: personHistory{refusal: days(-60)}}, now, "", time.Time{}},
		{"no consent after the cut-off", personFacts{consumer: true}, now, RuleConsent, time.Time{}},
		{"no consent the day before the cut-off", personFacts{consumer: true}, at(paris, "2026-08-10 23:59"), "", time.Time{}},
		{"no consent at the cut-off", personFacts{consumer: true}, at(paris, "2026-08-11 00:00"), RuleConsent, time.Time{}},
		{"b2b needs no consent", personFacts{consumer: false}, now, "", time.Time{}},
		{"opposed", personFacts{consumer: false, opposed: true}, now, RuleOpposition, time.Time{}},
		{"opposed wins over the cap", personFacts{consumer: true, opposed: true, consentAt: consent,
			history: personHistory{calls: []time.Time{days(-4), days(-3), days(-2), days(-1)}}}, now, RuleOpposition, time.Time{}},
		{"person busy", personFacts{consumer: true, consentAt: consent,
			history: personHistory{busy: now.Add(5 * time.Minute)}}, now, RulePersonBusy, now.Add(5 * time.Minute)},
		{"refusal then cap: the later release", personFacts{consumer: true, consentAt: consent,
			history: personHistory{calls: []time.Time{days(-29), days(-28), days(-27), days(-1)}, refusal: days(-27)}},
			now, RuleRefusalSilence, days(33)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := evaluate(tt.at, personGates(tt.f))
			if tt.rule == "" {
				if !v.Callable {
					t.Fatalf("verdict = %+v, want callable", v)
				}
				return
			}
			if v.Callable || v.Rule != tt.rule || !v.Next.Equal(tt.next) {
				t.Fatalf("verdict = %+v, want %s until %v", v, tt.rule, tt.next)
			}
		})
	}
}

// The combined answer: a person rule that ends on a Saturday makes the
// contact callable on Monday at 10:00 in a consumer mission.
func TestVerdictCombinesRules(t *testing.T) {
	s := &Service{legal: newLegalRules()}
	now := at(paris, "2026-11-23 11:00") // Monday
	e := testEntry(RegimeConsumer, "Europe/Paris", DefaultWindows, false, now.Add(-time.Hour))
	// Oldest of four calls on 29 October 11:00 → cap lifts on Saturday 28
	// November 11:00 → callable Monday 30 November 10:00.
	f := personFacts{consumer: true, consentAt: now.Add(-time.Hour), history: personHistory{calls: []time.Time{
		at(paris, "2026-10-29 11:00"), at(paris, "2026-11-02 11:00"), at(paris, "2026-11-10 11:00"), at(paris, "2026-11-20 11:00")}}}
	v := evaluate(now, append(personGates(f), s.missionGates(e, now)...))
	if v.Rule != RuleAttemptCap || !v.Next.Equal(at(paris, "2026-11-30 10:00")) {
		t.Fatalf("verdict = %+v (next %v)", v, v.Next.In(paris))
	}
}
