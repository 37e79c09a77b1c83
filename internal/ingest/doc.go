// Package ingest turns a client's lead file into normalised contacts.
//
// This part works without a database: a Profile (YAML, see LoadProfile)
// declares the source format and the fields; a Pipeline streams the file
// record by record and yields, for each data record, either a normalised
// Record (named, typed fields, the dialled phone in E.164 with its number
// type, warnings, routing) or a Quarantined entry (the physical line where the
// record starts and a reason a person understands, with a stable code).
// Transform runs a Pipeline and writes the profile's legacy files.
//
// The file is never loaded whole: memory stays bounded by the longest record,
// the duplicate index (a few tens of bytes per record) and the quarantine list.
package ingest
