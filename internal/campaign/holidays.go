package campaign

import "time"

// Easter returns the date of Easter Sunday of year y in the Gregorian
// calendar (the anonymous Gregorian computus, "Meeus/Jones/Butcher").
func Easter(y int) (time.Month, int) {
	a := y % 19
	b, c := y/100, y%100
	d, e := b/4, b%4
	f := (b + 8) / 25
	g := (b - f + 1) / 3
	h := (19*a + b - d - g + 15) % 30
	i, k := c/4, c%4
	l := (32 + 2*e + 2*i - h - k) % 7
	m := (a + 11*h + 22*l) / 451
	month := (h + l - 7*m + 114) / 31
	day := (h+l-7*m+114)%31 + 1
	return time.Month(month), day
}

// Holiday returns the name of the French public holiday falling on the
// given date, or "" if it is not one. The eleven national holidays: New
// Year's Day, Easter Monday, 1 May, 8 May, Ascension, Whit Monday, 14 July,
// 15 August, 1 November, 11 November and Christmas. (Regional ones, such as
// Good Friday in Alsace-Moselle or abolition days overseas, are not
// included.)
func Holiday(y int, m time.Month, d int) string {
	switch {
	case m == time.January && d == 1:
		return "Jour de l'an"
	case m == time.May && d == 1:
		return "Fête du Travail"
	case m == time.May && d == 8:
		return "Victoire 1945"
	case m == time.July && d == 14:
		return "Fête nationale"
	case m == time.August && d == 15:
		return "Assomption"
	case m == time.November && d == 1:
		return "Toussaint"
	case m == time.November && d == 11:
		return "Armistice 1918"
	case m == time.December && d == 25:
		return "Noël"
	}
	em, ed := Easter(y)
	easter := time.Date(y, em, ed, 12, 0, 0, 0, time.UTC)
	day := time.Date(y, m, d, 12, 0, 0, 0, time.UTC)
	switch int(day.Sub(easter).Hours() / 24) {
	case 1:
		return "Lundi de Pâques"
	case 39:
		return "Ascension"
	case 50:
		return "Lundi de Pentecôte"
	}
	return ""
}

// isHoliday is Holiday as a predicate, in the shape nextOpen takes.
func isHoliday(y int, m time.Month, d int) bool { return Holiday(y, m, d) != "" }
