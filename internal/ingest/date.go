package ingest

import (
	"strings"
	"time"
)

// dateResult says why a date was refused, or how it was read.
type dateResult uint8

const (
	dateOK dateResult = iota
	dateExcel
	dateNoFormat  // matches no accepted format
	dateAmbiguous // two accepted formats read it as different days
	dateExcelBad  // the Excel serial number names no real day
)

// excelEpoch is day 0 of Excel's 1900 date system as it really counts: Excel
// (after Lotus 1-2-3) believes 1900 was a leap year, so from serial 61 on,
// serial n is n days after 30 December 1899.
var excelEpoch = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)

// specEpoch is day 0 as Plateau's specification counts Excel serials
// (44333 is 18 May 2021): plain days after 31 December 1899, the default.
var specEpoch = time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC)

// parseDate reads s (trimmed, not empty) with the field's formats. Day and
// month are never swapped: a value is read only by the layouts the profile
// lists, and one that two layouts read as different days is refused.
func parseDate(s string, f *Field) (time.Time, dateResult) {
	if f.ExcelSerialDigits > 0 && len(s) == f.ExcelSerialDigits && allDigits(s) {
		return excelSerial(s, f.ExcelEpoch)
	}
	var found time.Time
	ok := false
	for _, layout := range f.Formats {
		t, good := parseLayout(s, layout)
		if !good {
			continue
		}
		if ok && !t.Equal(found) {
			return time.Time{}, dateAmbiguous
		}
		found, ok = t, true
	}
	if !ok {
		return time.Time{}, dateNoFormat
	}
	return found, dateOK
}

// parseLayout parses s with layout; dd/mm/yyyy, the usual French form, is
// read by hand because time.Parse is slow.
func parseLayout(s, layout string) (time.Time, bool) {
	if layout == "02/01/2006" {
		if len(s) != 10 || s[2] != '/' || s[5] != '/' || !allDigits(s[:2]) || !allDigits(s[3:5]) || !allDigits(s[6:]) {
			return time.Time{}, false
		}
		d := int(s[0]-'0')*10 + int(s[1]-'0')
		m := int(s[3]-'0')*10 + int(s[4]-'0')
		y := int(s[6]-'0')*1000 + int(s[7]-'0')*100 + int(s[8]-'0')*10 + int(s[9]-'0')
		if m < 1 || m > 12 || d < 1 || d > daysIn(m, y) {
			return time.Time{}, false
		}
		return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), true
	}
	t, err := time.ParseInLocation(layout, s, time.UTC)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func excelSerial(s string, epoch time.Time) (time.Time, dateResult) {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	if !epoch.Equal(excelEpoch) {
		if n < 1 {
			return time.Time{}, dateExcelBad
		}
		return epoch.AddDate(0, 0, n), dateExcel
	}
	switch {
	case n >= 61:
		return excelEpoch.AddDate(0, 0, n), dateExcel
	case n >= 1 && n <= 59:
		// Before the phantom 29 February 1900 the count starts a day later.
		return excelEpoch.AddDate(0, 0, n+1), dateExcel
	}
	// 0 is "0 January 1900" and 60 the 29 February 1900 that never was.
	return time.Time{}, dateExcelBad
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// humanLayout writes a Go layout the way people write date formats:
// 02/01/2006 becomes dd/mm/yyyy.
func humanLayout(layout string) string {
	r := strings.NewReplacer("2006", "yyyy", "January", "month", "Jan", "mon", "01", "mm", "02", "dd", "06", "yy",
		"15", "HH", "04", "MM", "05", "SS", "_2", "d", "1", "m", "2", "d")
	return r.Replace(layout)
}

// isoDate writes t's day as YYYY-MM-DD; it is on every record, and
// time.Format reads its layout each time.
func isoDate(t time.Time) string {
	y, m, d := t.Date()
	if y < 0 || y > 9999 {
		return t.Format("2006-01-02")
	}
	b := [10]byte{byte('0' + y/1000), byte('0' + y/100%10), byte('0' + y/10%10), byte('0' + y%10), '-',
		byte('0' + int(m)/10), byte('0' + int(m)%10), '-', byte('0' + d/10), byte('0' + d%10)}
	return string(b[:])
}
