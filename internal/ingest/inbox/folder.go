package inbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
)

// Folder is an inbox on a local (or mounted) folder. Every access goes
// through an os.Root, so no name, link or race can reach outside the folder,
// and symbolic links are never offered or followed.
type Folder struct {
	root   *os.Root
	path   string
	dispo  disposal
	lister *lister
}

// OpenFolder validates c and opens its folder. log receives the refused
// names; slog.Default() when nil.
func OpenFolder(c FolderConfig, log *slog.Logger) (*Folder, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(c.Path)
	if err != nil {
		return nil, fmt.Errorf("folder inbox %s: %w", c.SourceName(), err)
	}
	return &Folder{root: root, path: c.Path, dispo: c.disposal(), lister: newLister(log)}, nil
}

// List returns the regular files of the folder (not its subfolders).
func (f *Folder) List(ctx context.Context) ([]File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir, err := f.root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("open folder %s: %w", f.path, err)
	}
	defer dir.Close()
	entries, err := dir.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("read folder %s: %w", f.path, err)
	}
	infos := make([]fs.FileInfo, 0, len(entries))
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue // directory, link, device: not even worth a stat
		}
		st, err := f.root.Lstat(e.Name())
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since ReadDir
		}
		if err != nil {
			return nil, fmt.Errorf("stat %s in %s: %w", e.Name(), f.path, err)
		}
		infos = append(infos, st)
	}
	return f.lister.files(f.path, infos), nil
}

// Open opens name for reading, refusing anything but a regular file.
func (f *Folder) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("open %q: %w", name, err)
	}
	// os.Root follows links that stay inside the folder; Lstat before and
	// SameFile after make sure the file opened is the regular file listed,
	// not a link swapped in meanwhile.
	lst, err := f.root.Lstat(name)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if !lst.Mode().IsRegular() {
		return nil, fmt.Errorf("open %s: not a regular file", name)
	}
	file, err := f.root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if !os.SameFile(lst, st) {
		file.Close()
		return nil, fmt.Errorf("open %s: the file was replaced while it was being opened", name)
	}
	return file, nil
}

// Done moves name to the processed folder or deletes it.
func (f *Folder) Done(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return f.dispo.apply(fileOps{
		lstat:  f.root.Lstat,
		mkdir:  func(n string) error { return f.root.Mkdir(n, 0o750) },
		rename: f.root.Rename,
		remove: f.root.Remove,
	}, name)
}

// Close releases the folder.
func (f *Folder) Close() error { return f.root.Close() }
