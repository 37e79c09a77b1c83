package inbox

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func openTestFolder(t *testing.T, dir string, after AfterLoad, log *slog.Logger) *Folder {
	t.Helper()
	f, err := OpenFolder(FolderConfig{Common: Common{Mission: 26, AfterLoad: after}, Path: dir}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func names(files []File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Name)
	}
	return out
}

func TestFolderListsOnlyRegularFilesWithAcceptableNames(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(dir, "b.csv"), "b\n")
	writeFile(t, filepath.Join(dir, "a.csv"), "aa\n")
	writeFile(t, filepath.Join(dir, ".upload.tmp"), "x")
	writeFile(t, filepath.Join(dir, "c.csv.part"), "x")
	writeFile(t, filepath.Join(dir, "c.csv.filepart"), "x")
	writeFile(t, filepath.Join(outside, "secret.csv"), "secret")
	if err := os.Mkdir(filepath.Join(dir, "sub.csv"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sub.csv", "inner.csv"), "x")
	if err := os.Symlink(filepath.Join(dir, "a.csv"), filepath.Join(dir, "link.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.csv"), filepath.Join(dir, "escape.csv")); err != nil {
		t.Fatal(err)
	}
	makeSpecialFiles(t, dir) // FIFO and a name with a control character, where possible

	var logs bytes.Buffer
	f := openTestFolder(t, dir, Move, slog.New(slog.NewTextHandler(&logs, nil)))
	for range 2 {
		files, err := f.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got := names(files); !slices.Equal(got, []string{"a.csv", "b.csv"}) {
			t.Fatalf("List = %v, want [a.csv b.csv]", got)
		}
		if files[0].Size != 3 || files[0].ModTime.IsZero() {
			t.Errorf("a.csv = %+v", files[0])
		}
	}
	if specialNames && strings.Count(logs.String(), "file refused") != 1 {
		t.Errorf("the refused name should be logged exactly once:\n%s", logs.String())
	}
}

func TestFolderOpenRefusesLinksDirectoriesAndEscapes(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(dir, "a.csv"), "a\n")
	writeFile(t, filepath.Join(outside, "secret.csv"), "secret")
	os.Mkdir(filepath.Join(dir, "sub"), 0o700)
	os.Symlink("a.csv", filepath.Join(dir, "link.csv"))
	os.Symlink(filepath.Join(outside, "secret.csv"), filepath.Join(dir, "escape.csv"))
	f := openTestFolder(t, dir, Move, quietLog())

	for _, name := range []string{"link.csv", "escape.csv", "sub", "../" + filepath.Base(outside) + "/secret.csv",
		filepath.Join(outside, "secret.csv"), "..", ".", "", "missing.csv"} {
		if rc, err := f.Open(t.Context(), name); err == nil {
			rc.Close()
			t.Errorf("Open(%q) succeeded", name)
		}
	}
	rc, err := f.Open(t.Context(), "a.csv")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "a\n" {
		t.Errorf("read %q", b)
	}
}

func TestFolderDoneMovesToProcessedWithoutOverwriting(t *testing.T) {
	dir := t.TempDir()
	f := openTestFolder(t, dir, "", quietLog()) // move is the default
	for i, content := range []string{"monday\n", "tuesday\n", "wednesday\n"} {
		writeFile(t, filepath.Join(dir, "leads.csv"), content)
		if err := f.Done(t.Context(), "leads.csv"); err != nil {
			t.Fatalf("Done #%d: %v", i+1, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "leads.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leads.csv still in the inbox: %v", err)
	}
	for name, want := range map[string]string{"leads.csv": "monday\n", "leads-2.csv": "tuesday\n", "leads-3.csv": "wednesday\n"} {
		b, err := os.ReadFile(filepath.Join(dir, DefaultProcessedDir, name))
		if err != nil || string(b) != want {
			t.Errorf("processed/%s = %q, %v; want %q", name, b, err, want)
		}
	}
}

func TestFolderDoneDeletes(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "leads.csv"), "x")
	f := openTestFolder(t, dir, Delete, quietLog())
	if err := f.Done(t.Context(), "leads.csv"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("folder not empty after delete: %v", entries)
	}
}

func TestFolderDoneRefusesAProcessedLinkAndNonFiles(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(dir, "leads.csv"), "x")
	os.Symlink(outside, filepath.Join(dir, DefaultProcessedDir))
	os.Mkdir(filepath.Join(dir, "emptydir"), 0o700)
	f := openTestFolder(t, dir, Move, quietLog())
	if err := f.Done(t.Context(), "leads.csv"); err == nil {
		t.Error("moved through a symbolic link")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("a file left the folder: %v", entries)
	}
	del := openTestFolder(t, dir, Delete, quietLog())
	if err := del.Done(t.Context(), "emptydir"); err == nil {
		t.Error("Done deleted a directory")
	}
	if err := del.Done(t.Context(), "../"+filepath.Base(dir)+"/leads.csv"); err == nil {
		t.Error("Done accepted a path")
	}
}

func TestFolderConfigValidate(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "file"), "")
	ok := FolderConfig{Common: Common{Mission: 26}, Path: dir}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*FolderConfig)
		want string
	}{
		{"no mission", func(c *FolderConfig) { c.Mission = 0 }, "mission"},
		{"no path", func(c *FolderConfig) { c.Path = "" }, "path is required"},
		{"missing folder", func(c *FolderConfig) { c.Path = filepath.Join(dir, "nope") }, "no such file"},
		{"not a folder", func(c *FolderConfig) { c.Path = filepath.Join(dir, "file") }, "not a folder"},
		{"bad after_load", func(c *FolderConfig) { c.AfterLoad = "archive" }, "after_load"},
		{"processed is a path", func(c *FolderConfig) { c.ProcessedDir = "../out" }, "processed_dir"},
		{"hidden processed", func(c *FolderConfig) { c.ProcessedDir = ".done" }, "processed_dir"},
		{"interval too short", func(c *FolderConfig) { c.Interval = time.Millisecond }, "interval"},
		{"negative stable_for", func(c *FolderConfig) { c.StableFor = -time.Second }, "stable_for"},
		{"negative max_size", func(c *FolderConfig) { c.MaxSize = -1 }, "max_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestFolderPollerLoadsOnceStableThenMoves(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	f := openTestFolder(t, dir, Move, quietLog())
	l := newLoads()
	p := NewPoller("test", f, l.handle, PollerOptions{Now: clk.Now, Logger: quietLog()})
	writeFile(t, filepath.Join(dir, "leads.csv"), "a;b\n")
	p.PollOnce(t.Context())
	clk.Advance(15 * time.Second)
	// The upload goes on.
	appendFile(t, filepath.Join(dir, "leads.csv"), "c;d\n")
	p.PollOnce(t.Context())
	clk.Advance(20 * time.Second)
	if res, _ := p.PollOnce(t.Context()); len(res.Loaded) != 0 {
		t.Fatalf("taken 20 s after its last change: %+v", res)
	}
	clk.Advance(10 * time.Second)
	res, err := p.PollOnce(t.Context())
	if err != nil || !slices.Equal(res.Loaded, []string{"leads.csv"}) {
		t.Fatalf("PollOnce = %+v, %v", res, err)
	}
	if l.data["leads.csv"] != "a;b\nc;d\n" {
		t.Errorf("loaded %q", l.data["leads.csv"])
	}
	if _, err := os.Stat(filepath.Join(dir, "processed", "leads.csv")); err != nil {
		t.Error(err)
	}
}
