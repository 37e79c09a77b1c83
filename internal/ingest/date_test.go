package ingest

import (
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	ddmm := &Field{Formats: []string{"02/01/2006"}, ExcelSerialDigits: 5, ExcelEpoch: excelEpoch}
	spec := &Field{Formats: []string{"02/01/2006"}, ExcelSerialDigits: 5, ExcelEpoch: specEpoch}
	onlyISO := &Field{Formats: []string{"2006-01-02"}}
	both := &Field{Formats: []string{"02/01/2006", "01/02/2006"}}
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		name string
		f    *Field
		in   string
		want time.Time
		res  dateResult
	}{
		{"dd/mm/yyyy", ddmm, "18/05/2021", day(2021, 5, 18), dateOK},
		{"day and month never swapped", ddmm, "05/18/2021", time.Time{}, dateNoFormat},
		{"ISO refused when only dd/mm/yyyy is declared", ddmm, "2021-05-18", time.Time{}, dateNoFormat},
		{"two-digit year refused", ddmm, "18/05/21", time.Time{}, dateNoFormat},
		{"no zero padding refused", ddmm, "8/5/2021", time.Time{}, dateNoFormat},
		{"31 February", ddmm, "31/02/2021", time.Time{}, dateNoFormat},
		{"29 February of a leap year", ddmm, "29/02/2024", day(2024, 2, 29), dateOK},
		{"29 February otherwise", ddmm, "29/02/2023", time.Time{}, dateNoFormat},
		// The specification's count (the default epoch): 44333 is 18 May 2021.
		{"spec: Excel serial 44333", spec, "44333", day(2021, 5, 18), dateExcel},
		{"spec: Excel serial 44334", spec, "44334", day(2021, 5, 19), dateExcel},
		{"spec: Excel serial 00000", spec, "00000", time.Time{}, dateExcelBad},
		// With excel_epoch 1899-12-30, what Excel itself shows: 44197 is 1 January 2021, 45000 is 15
		// March 2023, so 44333 is Monday 17 May 2021 (not the 18th: that
		// would forget the phantom 29 February 1900).
		{"Excel serial 44197", ddmm, "44197", day(2021, 1, 1), dateExcel},
		{"Excel serial 45000", ddmm, "45000", day(2023, 3, 15), dateExcel},
		{"Excel serial 44333", ddmm, "44333", day(2021, 5, 17), dateExcel},
		{"Excel serial 44334", ddmm, "44334", day(2021, 5, 18), dateExcel},
		{"Excel serial, wrong number of digits", ddmm, "4433", time.Time{}, dateNoFormat},
		{"Excel serial when not accepted", onlyISO, "44333", time.Time{}, dateNoFormat},
		{"Excel 29 February 1900 never was", ddmm, "00060", time.Time{}, dateExcelBad},
		{"Excel serial 61 is 1 March 1900", ddmm, "00061", day(1900, 3, 1), dateExcel},
		{"Excel serial 59 is 28 February 1900", ddmm, "00059", day(1900, 2, 28), dateExcel},
		{"Excel serial 1 is 1 January 1900", ddmm, "00001", day(1900, 1, 1), dateExcel},
		{"Excel serial 0", ddmm, "00000", time.Time{}, dateExcelBad},
		{"ISO layout", onlyISO, "2021-05-18", day(2021, 5, 18), dateOK},
		{"ambiguous across declared formats", both, "03/04/2021", time.Time{}, dateAmbiguous},
		{"same day in both formats", both, "04/04/2021", day(2021, 4, 4), dateOK},
		{"only one format fits", both, "18/05/2021", day(2021, 5, 18), dateOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, res := parseDate(tt.in, tt.f)
			if res != tt.res || !got.Equal(tt.want) {
				t.Errorf("parseDate(%q) = %v, %v; want %v, %v", tt.in, got, res, tt.want, tt.res)
			}
		})
	}
}

// TestDDMMYYYYFastPathMatchesTimeParse checks the hand-written dd/mm/yyyy
// reader against time.Parse on every day of several years and on
// malformed values.
func TestDDMMYYYYFastPathMatchesTimeParse(t *testing.T) {
	inputs := []string{"", "1/1/2021", "01/1/2021", "001/01/2021", "01/13/2021", "00/01/2021", "32/01/2021", "01-01-2021", "aa/bb/cccc", "01/01/202", "01/01/20211", "29/02/1900", "29/02/2000", "+1/01/2021"}
	for d := time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2002; d = d.AddDate(0, 0, 1) {
		inputs = append(inputs, d.Format("02/01/2006"))
	}
	for _, in := range inputs {
		fast, okFast := parseLayout(in, "02/01/2006")
		slow, err := time.Parse("02/01/2006", in)
		if okFast != (err == nil) || (okFast && !fast.Equal(slow)) {
			t.Errorf("%q: fast path %v %v, time.Parse %v %v", in, fast, okFast, slow, err)
		}
	}
}

func TestHumanLayout(t *testing.T) {
	for in, want := range map[string]string{"02/01/2006": "dd/mm/yyyy", "2006-01-02": "yyyy-mm-dd", "02/01/06": "dd/mm/yy"} {
		if got := humanLayout(in); got != want {
			t.Errorf("humanLayout(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestISODate(t *testing.T) {
	d := time.Date(987, 3, 4, 0, 0, 0, 0, time.UTC)
	if got := isoDate(d); got != "0987-03-04" {
		t.Errorf("isoDate = %q", got)
	}
}
