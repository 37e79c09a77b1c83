// Package inbox fetches incoming lead files from an SFTP inbox or a watched
// local folder and hands each one, once it has stopped changing, to the
// ingestion loader.
//
// Both kinds of inbox follow the same rules: only regular files are offered
// (no directories, symbolic links or devices); names are checked (no path
// separators, no control characters, hidden and partial uploads ignored);
// a file is taken only when its size and modification time have not changed
// for a while, so an upload in progress is never loaded; after a successful
// load the file is moved to a processed folder or deleted. A Poller applies
// these rules on an interval, one file at a time, in name order.
package inbox

import (
	"context"
	"io"
	"time"
)

// File is a candidate file in an inbox.
type File struct {
	// Name is the file's name inside the inbox, never a path.
	Name    string
	Size    int64
	ModTime time.Time
}

// Inbox is a place lead files arrive in. Implementations are safe for
// concurrent use, so the waiting-files alert can list an inbox while its
// poller loads from it.
type Inbox interface {
	// List returns the regular files whose names pass the rules; directories,
	// symbolic links, devices, hidden files, partial uploads and refused names
	// are left out.
	List(ctx context.Context) ([]File, error)
	// Open opens a file returned by List for reading.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// Done is called after a successful load: it moves the file to the
	// processed folder (adding a suffix when the name is taken) or deletes it,
	// as configured.
	Done(ctx context.Context, name string) error
	// Close releases the connection or the folder handle.
	Close() error
}

// Handler loads one file. source is the poller's name. It must be
// idempotent: the loader recognises the same content by its SHA-256, so a
// crash between Handle and Done only causes a harmless second offer. Its
// error is logged, so it must not carry personal data (no field values).
type Handler func(ctx context.Context, source string, f File, r io.Reader) error
