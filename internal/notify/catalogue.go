package notify

// The wording of the alerts, French first. Subjects and introductions are
// small text/template sources rendered over inboxView or BatchSummary; the
// layout around them (count table, link, footer) is shared by every alert
// and language (layout.go). The readers are the call center's IT staff.

// texts is one language's wording.
type texts struct {
	inboxSubject string
	inboxIntro   string // paragraphs separated by a blank line
	inboxLink    string
	batchSubject string
	batchIntro   string
	batchLink    string
	labels       countLabels
	colon        string // what precedes ':' after a label: a space in French
	footer       string
	dateLayout   string
	decimalComma bool
}

// countLabels are the row labels of the batch summary.
type countLabels struct {
	received, loaded, warnings, quarantined, manual, duplicates, duration string
}

// catalogue returns the wording of lang. It builds the map on each call
// rather than keeping it in a package variable: alerts are rare, and nothing
// can modify it.
func catalogue(lang Lang) (texts, bool) {
	t, ok := map[Lang]texts{
		French: {
			inboxSubject: `[Plateau] {{.Files}} fichier{{if gt .Files 1}}s{{end}} en attente dans « {{.Source}} »`,
			inboxIntro: "Bonjour,\n\n" +
				`{{if gt .Files 1}}{{.Files}} fichiers attendent{{else}}Un fichier attend{{end}} dans la boîte de dépôt « {{.Source}} »` +
				`{{if .Oldest}} ; le plus ancien est arrivé le {{.Oldest}}{{end}}.`,
			inboxLink: "Voir la source",
			batchSubject: `[Plateau] Mission {{.Mission}}, lot {{.BatchID}} : {{if .Failed}}ÉCHEC, fichier non traité{{else}}` +
				`{{.Loaded}} chargé{{if gt .Loaded 1}}s{{end}} sur {{.Received}}` +
				`{{if .Quarantined}}, {{.Quarantined}} en quarantaine{{end}}{{end}}`,
			batchIntro: "Bonjour,\n\n" +
				`Le lot {{.BatchID}} de la mission {{.Mission}}{{if .MissionName}} « {{.MissionName}} »{{end}} {{if .Failed}}n’a pas pu être traité{{else}}est traité{{end}}` +
				`{{if .File}} (fichier « {{.File}} »){{end}}.` +
				"{{if .Failed}}\n\nLa raison est sur la page du lot ; corrigez le profil puis relancez le lot.{{end}}" +
				"{{if .Quarantined}}\n\nLes lignes en quarantaine et leurs motifs sont sur la page du lot.{{end}}",
			batchLink: "Page du lot",
			labels: countLabels{
				received:    "Reçus",
				loaded:      "Chargés",
				warnings:    "Avertissements",
				quarantined: "En quarantaine",
				manual:      "Numérotation manuelle",
				duplicates:  "Doublons",
				duration:    "Durée",
			},
			colon:        " ",
			footer:       "Message automatique de Plateau ; merci de ne pas y répondre.",
			dateLayout:   "02/01/2006 à 15:04 (MST)",
			decimalComma: true,
		},
		English: {
			inboxSubject: `[Plateau] {{.Files}} file{{if ne .Files 1}}s{{end}} waiting in "{{.Source}}"`,
			inboxIntro: "Hello,\n\n" +
				`{{if gt .Files 1}}{{.Files}} files are{{else}}One file is{{end}} waiting in the inbox "{{.Source}}"` +
				`{{if .Oldest}}; the oldest arrived on {{.Oldest}}{{end}}.`,
			inboxLink: "See the source",
			batchSubject: `[Plateau] Mission {{.Mission}}, batch {{.BatchID}}: {{if .Failed}}FAILED, file not processed{{else}}` +
				`{{.Loaded}} of {{.Received}} loaded{{if .Quarantined}}, {{.Quarantined}} quarantined{{end}}{{end}}`,
			batchIntro: "Hello,\n\n" +
				`Batch {{.BatchID}} of mission {{.Mission}}{{if .MissionName}} "{{.MissionName}}"{{end}} {{if .Failed}}could not be processed{{else}}has been processed{{end}}` +
				`{{if .File}} (file "{{.File}}"){{end}}.` +
				"{{if .Failed}}\n\nThe reason is on the batch page; fix the profile, then run the batch again.{{end}}" +
				"{{if .Quarantined}}\n\nThe quarantined lines and their reasons are on the batch page.{{end}}",
			batchLink: "Batch page",
			labels: countLabels{
				received:    "Received",
				loaded:      "Loaded",
				warnings:    "Warnings",
				quarantined: "Quarantined",
				manual:      "Manual dialling",
				duplicates:  "Duplicates",
				duration:    "Duration",
			},
			colon:      "",
			footer:     "Automatic message from Plateau; please do not reply.",
			dateLayout: "2006-01-02 15:04 MST",
		},
	}[lang]
	return t, ok
}
