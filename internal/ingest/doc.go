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
//
// On top of that, a Service loads files into missions as batches, exactly
// once: each mission's profiles are stored (versioned) in the database; a
// file is archived sealed and recognised by its SHA-256; its contacts are
// written through package campaign in chunks that commit together with the
// batch's progress, so a load killed at any point is completed, without a
// duplicate, by Resume or by ingesting the same file again (see Service).
package ingest
