package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"plateau/internal/campaign"
)

func runMissionUpdate(ctx context.Context, args []string, io stdio) error {
	fs := newFlagSet("mission update", "--number N [--windows SPEC] [--holidays closed|open] [--timezone TZ] [--max-attempts K]",
		"Change a mission's calling settings and print the result. SPEC is a comma-separated\n"+
			"list of DAYS HH:MM-HH:MM, e.g. \"mon-fri 09:00-12:30, mon-fri 14:00-19:00, sat 10:00-12:00\"\n"+
			"or \"mon-sun 00:00-24:00\" (days: mon tue wed thu fri sat sun, or a range such as\n"+
			"mon-fri). French public holidays are closed unless --holidays open. For\n"+
			"consumer-prospecting missions the legal hours apply whatever the windows say.\n"+
			"Flags not given are left as they are.", io)
	var sf storeFlags
	sf.register(fs)
	number := fs.Int("number", 0, "mission number")
	windows := fs.String("windows", "", `calling windows, e.g. "mon-fri 09:00-20:00"`)
	holidays := fs.String("holidays", "", "closed (no calls on French public holidays) or open")
	timezone := fs.String("timezone", "", "IANA time zone of the windows, e.g. Europe/Paris")
	maxAttempts := fs.Int("max-attempts", 0, "attempts after which a file closes (1 to 100)")
	if err := parse(fs, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *number <= 0 {
		fmt.Fprintln(io.err, "--number is required")
		fs.Usage()
		return errUsage
	}
	var u campaign.MissionUpdate
	if set["windows"] {
		// Checked before the database is opened: a typo costs nothing.
		if _, err := campaign.ParseWindows(*windows); err != nil {
			fmt.Fprintf(io.err, "--windows: %v\n", err)
			return errUsage
		}
		u.Windows = windows
	}
	if set["holidays"] {
		var open bool
		switch *holidays {
		case "open":
			open = true
		case "closed":
		default:
			fmt.Fprintf(io.err, "--holidays: %q is not closed or open\n", *holidays)
			return errUsage
		}
		u.HolidaysOpen = &open
	}
	if set["timezone"] {
		u.TimeZone = timezone
	}
	if set["max-attempts"] {
		u.MaxAttempts = maxAttempts
	}
	if u == (campaign.MissionUpdate{}) {
		fmt.Fprintln(io.err, "nothing to change: give --windows, --holidays, --timezone or --max-attempts")
		fs.Usage()
		return errUsage
	}
	a, err := openExisting(ctx, &sf, io)
	if err != nil {
		return err
	}
	defer a.close()
	camp, _ := newServices(a)
	m, err := camp.UpdateMission(cliActor(ctx, "mission update"), *number, u)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.out, "mission %d %q updated\n", m.Number, m.Name)
	return printMissionSettings(io.out, m)
}

// printMissionSettings writes a mission's calling settings, one per line.
func printMissionSettings(w io.Writer, m campaign.Mission) error {
	holidays := "closed"
	if m.HolidaysOpen {
		holidays = "open"
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  regime\t%s\n", m.Regime)
	fmt.Fprintf(tw, "  windows\t%s\n", m.Windows)
	fmt.Fprintf(tw, "  holidays\t%s\n", holidays)
	fmt.Fprintf(tw, "  timezone\t%s\n", m.TimeZone)
	fmt.Fprintf(tw, "  max attempts\t%d\n", m.MaxAttempts)
	return tw.Flush()
}
