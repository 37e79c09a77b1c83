// Package ingesttest generates lead files in the layout of seed 000's client
// export (FlexyCall, mission 26), for tests and benchmarks. The values are
// realistic and deterministic for a seed; a share of the records is bad in
// the ways real files are (wrong field count, empty or invalid dialled
// number, impossible or foreign-format dates, duplicates, blank lines).
package ingesttest

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
)

// Header is the client's header line, in order.
var Header = []string{
	"type", "name", "surname", "email_address", "phone_number", "statut_de_la_piste",
	"proprietaire_de_la_piste", "mc_form_id", "lead_creation_date", "hearing_center",
	"hcp_erp_number", "hcp_postal_code", "hcp_phone_number", "hcp_address", "hcp_city",
	"hcp_email_address",
}

// Options say what to generate.
type Options struct {
	// Records is the number of data records (the header and blank lines
	// are not records).
	Records int
	Seed    uint64
	// BadPercent is the share of bad records, in percent (default 3 when
	// zero; negative for none).
	BadPercent float64
	// Tricky adds values that stress quoting and normalisation: delimiters,
	// quotes and line breaks inside fields, commas, surrounding blanks,
	// no-break spaces, all-empty records.
	Tricky bool
	// UTF8 writes UTF-8 instead of Windows-1252; BOM adds a byte order mark.
	UTF8, BOM bool
	// LF ends lines with LF instead of CRLF.
	LF bool
}

// Stats count what was generated, by kind.
type Stats struct {
	Records, Bad, Duplicates, BlankLines int
}

var (
	firstNames = []string{"Jean", "Marie", "Pierre", "Françoise", "Michel", "Hélène", "André", "Chloé", "Jérôme",
		"Cécile", "Noël", "Zoé", "Loïc", "Anaïs", "François", "Gaëlle", "Benoît", "Inès", "Théo", "Léa", "Raphaël",
		"Maëlle", "Joël", "Aurélie", "Stéphane", "Émilie", "Clément", "Océane"}
	lastNames = []string{"Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
		"Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
		"Morel", "Girard", "André", "Lefebvre", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martínez",
		"Lœuvre", "Bœuf", "D'Arcy", "Saint-Exupéry", "Le Goff", "Hervé"}
	domains  = []string{"orange.fr", "gmail.com", "free.fr", "sfr.fr", "laposte.net", "wanadoo.fr", "hotmail.fr", "yahoo.fr"}
	statuses = []string{"Nouveau", "Qualifié", "En attente", "À rappeler"}
	owners   = []string{"Équipe Lyon", "Équipe Paris", "Phonak France", "Service client", "M. Dupré"}
	centers  = []string{"Audika", "Amplifon", "Audition Mutualiste", "Optical Center Audition", "Entendre", "Audio 2000", "Krys Audition", "Écouter Voir"}
	cities   = []string{"Lyon", "Paris", "Marseille", "Toulouse", "Nice", "Nantes", "Strasbourg", "Montpellier", "Bordeaux", "Lille", "Rennes", "Reims", "Saint-Étienne", "Le Havre", "Grenoble", "Dijon", "Angers", "Nîmes", "Bourg-en-Bresse", "Orléans", "Besançon", "Évry"}
	streets  = []string{"rue de la République", "avenue Jean Jaurès", "boulevard Gambetta", "place de l'Église", "rue Victor Hugo", "chemin des Écoliers", "rue du Général de Gaulle", "allée des Tilleuls", "quai Saint-Vincent", "rue Pasteur"}
	types    = []string{"RDV", "Rappel", "Devis", "Information"}
	// Two-digit starts of valid French numbers (ARCEP plan).
	mobilePfx = []string{"60", "61", "62", "64", "65", "66", "67", "68", "73", "74", "75", "76", "77", "78", "79"}
	fixedPfx  = []string{"10", "13", "14", "16", "18", "20", "21", "23", "24", "25", "27", "28", "29", "32", "33",
		"35", "38", "41", "42", "43", "45", "47", "49", "50", "51", "53", "54", "55", "56", "57", "58"}
)

type gen struct {
	r     *rand.Rand
	enc   *encoding.Encoder
	o     Options
	prev  []string // recent good rows, for duplicates
	stats Stats
}

// Generate writes a lead file to w.
func Generate(w io.Writer, o Options) (Stats, error) {
	if o.BadPercent == 0 {
		o.BadPercent = 3
	}
	g := &gen{r: rand.New(rand.NewPCG(o.Seed, 0x706c6174656175)), o: o, enc: charmap.Windows1252.NewEncoder()}
	bw := bufio.NewWriterSize(w, 64<<10)
	eol := "\r\n"
	if o.LF {
		eol = "\n"
	}
	if o.BOM {
		bw.WriteString("\xEF\xBB\xBF")
	}
	if err := g.writeLine(bw, strings.Join(Header, ";")+eol); err != nil {
		return g.stats, err
	}
	for i := 0; i < o.Records; i++ {
		if g.r.IntN(500) == 0 {
			g.stats.BlankLines++
			if err := g.writeLine(bw, eol); err != nil {
				return g.stats, err
			}
		}
		line := g.record(eol)
		if err := g.writeLine(bw, line); err != nil {
			return g.stats, err
		}
	}
	g.stats.Records = o.Records
	return g.stats, bw.Flush()
}

func (g *gen) writeLine(w *bufio.Writer, s string) error {
	if !g.o.UTF8 {
		b, err := g.enc.String(s)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		s = b
	}
	_, err := w.WriteString(s)
	return err
}

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *gen) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + g.r.IntN(10))
	}
	return string(b)
}

// nsn returns a French national significant number starting with prefix.
func (g *gen) nsn(prefix string) string {
	return prefix + g.digits(9-len(prefix))
}

// writePhone writes an NSN in one of the shapes clients send; the client of
// seed 000 sends 11 digits 33XXXXXXXXX most of the time.
func (g *gen) writePhone(nsn string) string {
	switch k := g.r.IntN(100); {
	case k < 70:
		return "33" + nsn
	case k < 78:
		return "0" + nsn[:1] + " " + nsn[1:3] + " " + nsn[3:5] + " " + nsn[5:7] + " " + nsn[7:]
	case k < 84:
		return "+33 " + nsn[:1] + " " + nsn[1:3] + " " + nsn[3:5] + " " + nsn[5:7] + " " + nsn[7:]
	case k < 88:
		return "0" + nsn[:1] + "." + nsn[1:3] + "." + nsn[3:5] + "." + nsn[5:7] + "." + nsn[7:]
	case k < 93:
		return nsn // the leading zero eaten by a spreadsheet
	case k < 96:
		return "33 " + nsn[:1] + " " + nsn[1:3] + " " + nsn[3:5] + " " + nsn[5:7] + " " + nsn[7:]
	default:
		return "0" + nsn
	}
}

func (g *gen) hcpNSN() string {
	switch k := g.r.IntN(100); {
	case k < 3:
		return g.nsn("80" + strconv.Itoa(g.r.IntN(6))) // toll-free
	case k < 5:
		return g.nsn(g.pick([]string{"810", "820", "821", "826", "884"})) // shared cost
	case k < 6:
		return g.nsn(g.pick([]string{"891", "892", "899", "836"})) // premium rate
	case k < 10:
		return g.nsn("9")
	default:
		return g.nsn(g.pick(fixedPfx))
	}
}

// folder turns names into e-mail address parts.
var folder = strings.NewReplacer("é", "e", "è", "e", "ê", "e", "ë", "e", "à", "a", "â", "a", "ç", "c", "î", "i", "ï", "i",
	"ô", "o", "ö", "o", "ù", "u", "û", "u", "ü", "u", "œ", "oe", "É", "E", "À", "A", "Œ", "OE", "'", "", " ", "-", "í", "i")

func fold(s string) string {
	return strings.ToLower(folder.Replace(s))
}

func (g *gen) date() string {
	switch k := g.r.IntN(100); {
	case k < 8:
		return strconv.Itoa(44197 + g.r.IntN(1400)) // Excel serial: 2021-2024
	case k < 10 && g.o.Tricky:
		return "" // optional
	default:
		return fmt.Sprintf("%02d/%02d/%d", 1+g.r.IntN(28), 1+g.r.IntN(12), 2021+g.r.IntN(5))
	}
}

func (g *gen) postal() string {
	dept := 1 + g.r.IntN(95)
	code := fmt.Sprintf("%02d%03d", dept, g.r.IntN(1000))
	if code[0] == '0' && g.r.IntN(3) == 0 {
		return code[1:] // a spreadsheet ate the zero
	}
	return code
}

// good returns the fields of a valid record.
func (g *gen) good() []string {
	first, last := g.pick(firstNames), g.pick(lastNames)
	center := g.pick(centers)
	city := g.pick(cities)
	leadNSN := g.nsn(g.pick(mobilePfx))
	if g.r.IntN(5) == 0 {
		leadNSN = g.nsn(g.pick(fixedPfx))
	}
	f := []string{
		g.pick(types),
		first,
		last,
		fold(first) + "." + fold(last) + strconv.Itoa(g.r.IntN(100)) + "@" + g.pick(domains),
		g.writePhone(leadNSN),
		g.pick(statuses),
		g.pick(owners),
		"MC" + g.digits(7),
		g.date(),
		center + " " + city,
		"ERP" + g.digits(6),
		g.postal(),
		g.writePhone(g.hcpNSN()),
		strconv.Itoa(1+g.r.IntN(150)) + " " + g.pick(streets),
		city,
		"contact@" + fold(center) + "-" + fold(city) + ".fr",
	}
	if g.o.Tricky {
		g.trick(f)
	}
	return f
}

// trick adds the values that break naive CSV handling.
func (g *gen) trick(f []string) {
	switch g.r.IntN(16) {
	case 0:
		f[13] = "Bât. B; " + f[13] // delimiter inside
	case 1:
		f[9] = `Centre "Bien Entendre" ` + f[14] // quotes inside
	case 2:
		f[13] = f[13] + "\r\nRésidence Les Pins" // line break inside
	case 3:
		f[13] = strings.Replace(f[13], " ", ", ", 1) // comma: quoted in the CRM file only
	case 4:
		f[2] = "  " + f[2] + " " // blanks around
	case 5:
		f[1] = "\u00a0" + f[1] // no-break space
	case 6:
		f[4] = "n/a" // lead phone invalid: kept as received
	case 7:
		f[3] = "pas d'adresse" // e-mail invalid: kept
	case 8:
		f[11] = "F-" + f[11] // postal code invalid: kept
	case 9:
		f[6] = "Équipe « Sud », zone 2"
	case 10:
		f[9] = "Œil & Oreille — Centre"
	}
}

// record returns one line (with its end of line), good or bad.
func (g *gen) record(eol string) string {
	if g.o.BadPercent > 0 && g.r.Float64()*100 < g.o.BadPercent {
		g.stats.Bad++
		f := g.good()
		switch g.r.IntN(6) {
		case 0: // wrong number of fields
			if g.r.IntN(2) == 0 {
				f = f[:len(f)-1]
			} else {
				f = append(f, "en trop")
			}
		case 1: // dialled number missing
			f[12] = ""
		case 2: // dialled number invalid
			f[12] = g.pick([]string{"33 1 23 45", "0612", "inconnu", "06 12 34 56 78 90 12", "0012345678"})
		case 3: // a date in a format the profile does not accept, or no such day
			f[8] = g.pick([]string{"2021-05-18", "18/05/21", "31/02/2021", "5/18/2021", "18.05.2021", "00060"})
		case 4: // duplicate of an earlier record
			if len(g.prev) > 0 {
				g.stats.Duplicates++
				return g.prev[g.r.IntN(len(g.prev))]
			}
			f[12] = ""
		case 5:
			if g.o.Tricky {
				return strings.Repeat(";", len(Header)-1) + eol // delimiters only
			}
			f[8] = "2021-05-18"
		}
		return joinRow(f, eol)
	}
	line := joinRow(g.good(), eol)
	if len(g.prev) < 64 {
		g.prev = append(g.prev, line)
	} else {
		g.prev[g.r.IntN(len(g.prev))] = line
	}
	return line
}

// joinRow writes fields with ';' and minimal quoting.
func joinRow(f []string, eol string) string {
	var b strings.Builder
	for i, s := range f {
		if i > 0 {
			b.WriteByte(';')
		}
		if strings.ContainsAny(s, ";\"\r\n") {
			b.WriteByte('"')
			b.WriteString(strings.ReplaceAll(s, `"`, `""`))
			b.WriteByte('"')
		} else {
			b.WriteString(s)
		}
	}
	b.WriteString(eol)
	return b.String()
}
