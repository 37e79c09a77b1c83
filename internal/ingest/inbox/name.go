package inbox

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// maxNameLen is the longest name most file systems accept, in bytes.
const maxNameLen = 255

// errIgnored marks names that are skipped quietly: hidden files and uploads
// still in progress are normal sights in an inbox, not mistakes.
var errIgnored = errors.New("hidden or temporary file")

// checkName reports whether name may be taken from an inbox: nil, an error
// wrapping errIgnored for hidden and temporary files, or an error saying why
// the name is refused. Names are checked, never rewritten: a sanitised name
// would no longer designate the file on the server.
//
// ".." inside a name ("rapport..csv") is allowed: without a separator it
// cannot leave the folder, and "." and ".." themselves are hidden names.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case len(name) > maxNameLen:
		return fmt.Errorf("name longer than %d bytes", maxNameLen)
	case !utf8.ValidString(name):
		return errors.New("name is not valid UTF-8")
	case strings.ContainsAny(name, `/\`):
		return errors.New("name contains a path separator")
	}
	for _, r := range name {
		// Format characters (bidirectional overrides, zero-width joiners)
		// can make a name display as something it is not.
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("name contains the control character %U", r)
		}
	}
	if name[0] == '.' || strings.HasPrefix(name, "~$") { // "~$" = Office lock files
		return errIgnored
	}
	lower := strings.ToLower(name)
	// The names FTP/SFTP clients and browsers give a file while it is being
	// written (FileZilla ".part", WinSCP ".filepart").
	for _, s := range [...]string{".part", ".filepart", ".tmp", ".crdownload"} {
		if strings.HasSuffix(lower, s) {
			return errIgnored
		}
	}
	return nil
}

// lister turns directory entries into Files, applying the name rules and
// logging each refused name once while it stays in the inbox, so that a
// badly named file is reported without flooding the log at every poll.
type lister struct {
	log *slog.Logger
	mu  sync.Mutex
	// reported holds the refused names already logged.
	reported map[string]bool
}

func newLister(log *slog.Logger) *lister {
	if log == nil {
		log = slog.Default()
	}
	return &lister{log: log, reported: map[string]bool{}}
}

// files keeps the regular files with acceptable names, sorted by name.
// infos must describe the entries themselves (lstat), not their targets.
func (l *lister) files(where string, infos []fs.FileInfo) []File {
	var out []File
	refused := map[string]error{}
	for _, fi := range infos {
		if !fi.Mode().IsRegular() {
			continue
		}
		if err := checkName(fi.Name()); err != nil {
			if !errors.Is(err, errIgnored) {
				refused[fi.Name()] = err
			}
			continue
		}
		out = append(out, File{Name: fi.Name(), Size: fi.Size(), ModTime: fi.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })

	l.mu.Lock()
	defer l.mu.Unlock()
	for name, err := range refused {
		if !l.reported[name] {
			l.log.Warn("inbox: file refused, it will not be loaded; rename it",
				"location", where, "file", name, "reason", err.Error())
		}
	}
	// Forget names that left the inbox, so a new file with a refused name is
	// reported again.
	clear(l.reported)
	for name := range refused {
		l.reported[name] = true
	}
	return out
}
