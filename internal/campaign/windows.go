package campaign

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultWindows is the calling windows of a new mission.
const DefaultWindows = "mon-fri 09:00-20:00"

// Span is a time of day range [Start, End) in minutes after midnight;
// End may be 1440 (24:00).
type Span struct {
	Start, End int
}

// Windows are a mission's calling windows: for each weekday, the times of
// day at which calls are allowed, in the mission's time zone. The zero value
// allows nothing.
//
// The text form (ParseWindows, String) is a comma-separated list of
// "DAYS HH:MM-HH:MM" where DAYS is a day (mon, tue, wed, thu, fri, sat, sun)
// or a range of days ("mon-fri"): "mon-fri 09:00-12:30, mon-fri 14:00-19:00,
// sat 10:00-12:00", "mon-sun 00:00-24:00".
type Windows struct {
	days [7][]Span // indexed by time.Weekday, sorted, merged
}

var dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// weekOrder lists the days in the order the text form uses (Monday first).
var weekOrder = [7]time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}

// ParseWindows parses the text form of calling windows. An empty spec is an
// error: a mission that may never call is a mistake, not a setting.
func ParseWindows(spec string) (Windows, error) {
	var w Windows
	if strings.TrimSpace(spec) == "" {
		return w, fmt.Errorf("calling windows: empty (example: %q)", DefaultWindows)
	}
	for _, entry := range strings.Split(spec, ",") {
		entry = strings.ToLower(strings.TrimSpace(entry))
		fields := strings.Fields(entry)
		if len(fields) != 2 {
			return Windows{}, fmt.Errorf("calling windows: %q: want DAYS HH:MM-HH:MM, e.g. \"mon-fri 09:00-12:30\"", entry)
		}
		days, err := parseDays(fields[0])
		if err != nil {
			return Windows{}, fmt.Errorf("calling windows: %q: %w", entry, err)
		}
		span, err := parseSpan(fields[1])
		if err != nil {
			return Windows{}, fmt.Errorf("calling windows: %q: %w", entry, err)
		}
		for _, d := range days {
			w.days[d] = append(w.days[d], span)
		}
	}
	for d := range w.days {
		w.days[d] = mergeSpans(w.days[d])
	}
	return w, nil
}

// MustParseWindows is ParseWindows for constants; it panics on an error.
func MustParseWindows(spec string) Windows {
	w, err := ParseWindows(spec)
	if err != nil {
		panic(err)
	}
	return w
}

func dayIndex(s string) (time.Weekday, bool) {
	for i, n := range dayNames {
		if n == s {
			return time.Weekday(i), true
		}
	}
	return 0, false
}

// parseDays reads "mon" or "mon-fri" (Monday-first order; "sat-sun" is fine,
// "fri-mon" is refused rather than guessed).
func parseDays(s string) ([]time.Weekday, error) {
	from, to, isRange := strings.Cut(s, "-")
	a, ok := dayIndex(from)
	if !ok {
		return nil, fmt.Errorf("unknown day %q (mon, tue, wed, thu, fri, sat, sun)", from)
	}
	if !isRange {
		return []time.Weekday{a}, nil
	}
	b, ok := dayIndex(to)
	if !ok {
		return nil, fmt.Errorf("unknown day %q (mon, tue, wed, thu, fri, sat, sun)", to)
	}
	ia, ib := slices.Index(weekOrder[:], a), slices.Index(weekOrder[:], b)
	if ia > ib {
		return nil, fmt.Errorf("day range %q runs backwards (weeks start on Monday)", s)
	}
	return slices.Clone(weekOrder[ia : ib+1]), nil
}

func parseSpan(s string) (Span, error) {
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return Span{}, fmt.Errorf("time range %q: want HH:MM-HH:MM", s)
	}
	a, err := parseClock(from)
	if err != nil {
		return Span{}, err
	}
	b, err := parseClock(to)
	if err != nil {
		return Span{}, err
	}
	if a >= b {
		return Span{}, fmt.Errorf("time range %q: the end must come after the start", s)
	}
	return Span{a, b}, nil
}

// parseClock reads HH:MM (00:00 to 24:00) as minutes after midnight.
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, fmt.Errorf("time %q: want HH:MM", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || hh == 24 && mm != 0 {
		return 0, fmt.Errorf("time %q: want HH:MM between 00:00 and 24:00", s)
	}
	return hh*60 + mm, nil
}

func mergeSpans(spans []Span) []Span {
	if len(spans) == 0 {
		return nil
	}
	slices.SortFunc(spans, func(a, b Span) int { return a.Start - b.Start })
	out := spans[:1]
	for _, s := range spans[1:] {
		last := &out[len(out)-1]
		if s.Start <= last.End {
			last.End = max(last.End, s.End)
			continue
		}
		out = append(out, s)
	}
	return out
}

// Day returns the spans of weekday d.
func (w Windows) Day(d time.Weekday) []Span { return slices.Clone(w.days[d]) }

// IsZero reports whether w allows no time at all.
func (w Windows) IsZero() bool {
	for _, d := range w.days {
		if len(d) > 0 {
			return false
		}
	}
	return true
}

// Equal reports whether w and o allow the same times.
func (w Windows) Equal(o Windows) bool {
	for d := range w.days {
		if !slices.Equal(w.days[d], o.days[d]) {
			return false
		}
	}
	return true
}

// String returns the canonical text form: each time range with the runs of
// days that share it, ordered by first day then start time.
func (w Windows) String() string {
	type entry struct {
		first int // index in weekOrder
		days  string
		span  Span
	}
	var entries []entry
	var spans []Span
	for _, d := range w.days {
		for _, s := range d {
			if !slices.Contains(spans, s) {
				spans = append(spans, s)
			}
		}
	}
	for _, s := range spans {
		run := -1
		flush := func(end int) {
			if run < 0 {
				return
			}
			days := dayNames[weekOrder[run]]
			if end > run {
				days += "-" + dayNames[weekOrder[end]]
			}
			entries = append(entries, entry{first: run, days: days, span: s})
			run = -1
		}
		for i, d := range weekOrder {
			if slices.Contains(w.days[d], s) {
				if run < 0 {
					run = i
				}
				continue
			}
			flush(i - 1)
		}
		flush(len(weekOrder) - 1)
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if a.first != b.first {
			return a.first - b.first
		}
		return a.span.Start - b.span.Start
	})
	parts := make([]string, len(entries))
	for i, e := range entries {
		parts[i] = e.days + " " + hhmm(e.span.Start) + "-" + hhmm(e.span.End)
	}
	return strings.Join(parts, ", ")
}

func hhmm(min int) string { return fmt.Sprintf("%02d:%02d", min/60, min%60) }

// MarshalText gives the text form, so JSON shows "mon-fri 09:00-20:00".
func (w Windows) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// UnmarshalText parses the text form.
func (w *Windows) UnmarshalText(b []byte) error {
	p, err := ParseWindows(string(b))
	if err != nil {
		return err
	}
	*w = p
	return nil
}

// maxSearchDays bounds how far ahead the next opening is looked for: a year
// and a bit covers any holiday calendar; beyond that the answer is "never".
const maxSearchDays = 400

// nextOpen returns the first instant at or after t when w (in loc) is open
// and the day is not closed; ok is false when there is none within
// maxSearchDays. closed may be nil.
func (w Windows) nextOpen(t time.Time, loc *time.Location, closed func(y int, m time.Month, d int) bool) (time.Time, bool) {
	lt := t.In(loc)
	y, mo, d := lt.Date()
	for i := 0; i < maxSearchDays; i++ {
		day := time.Date(y, mo, d+i, 12, 0, 0, 0, loc) // noon: never in a DST gap
		dy, dm, dd := day.Date()
		if closed != nil && closed(dy, dm, dd) {
			continue
		}
		for _, s := range w.days[day.Weekday()] {
			start := time.Date(dy, dm, dd, s.Start/60, s.Start%60, 0, 0, loc)
			end := time.Date(dy, dm, dd, s.End/60, s.End%60, 0, 0, loc)
			if !t.Before(end) {
				continue
			}
			if t.Before(start) {
				return start, true
			}
			return t, true
		}
	}
	return time.Time{}, false
}
