package inbox

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// disposal is what Done does, shared by both kinds of inbox.
type disposal struct {
	action AfterLoad
	dir    string // processed folder, a single name inside the inbox
}

// fileOps are the few file operations disposal needs, on names relative to
// the inbox, written with "/".
type fileOps struct {
	lstat  func(name string) (fs.FileInfo, error)
	mkdir  func(name string) error
	rename func(from, to string) error
	remove func(name string) error
}

// maxSuffix bounds the search for a free name in the processed folder.
const maxSuffix = 1000

// apply deletes name, or moves it into the processed folder, creating the
// folder if needed and never replacing a file already there: a client who
// sends "leads.csv" every day keeps every day's file, as leads-2.csv,
// leads-3.csv...
func (d disposal) apply(ops fileOps, name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("file %q: %w", name, err)
	}
	// Done is public: make sure it only ever disposes of a regular file.
	st, err := ops.lstat(name)
	if err != nil {
		return fmt.Errorf("file %s: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("file %s is not a regular file", name)
	}
	if d.action == Delete {
		if err := ops.remove(name); err != nil {
			return fmt.Errorf("delete %s: %w", name, err)
		}
		return nil
	}
	st, err = ops.lstat(d.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := ops.mkdir(d.dir); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create processed folder %s: %w", d.dir, err)
		}
	case err != nil:
		return fmt.Errorf("processed folder %s: %w", d.dir, err)
	case !st.IsDir():
		// A symbolic link could lead anywhere: only a real folder will do.
		return fmt.Errorf("processed folder %s is not a folder", d.dir)
	}
	// Only this poller writes to the processed folder, so a name found free
	// stays free until the rename.
	for i := 1; i <= maxSuffix; i++ {
		to := path.Join(d.dir, suffixed(name, i))
		_, err := ops.lstat(to)
		if err == nil {
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("move %s: %w", name, err)
		}
		if err := ops.rename(name, to); err != nil {
			return fmt.Errorf("move %s to %s: %w", name, to, err)
		}
		return nil
	}
	return fmt.Errorf("move %s: %d files of that name already in %s", name, maxSuffix, d.dir)
}

// suffixed returns name for i == 1, else name with "-i" before its extension.
func suffixed(name string, i int) string {
	if i == 1 {
		return name
	}
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "-" + strconv.Itoa(i) + ext
}
