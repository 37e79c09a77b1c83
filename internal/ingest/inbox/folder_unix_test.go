//go:build unix

package inbox

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// specialNames says whether makeSpecialFiles made a refused name.
const specialNames = true

// makeSpecialFiles adds a FIFO, which would block a reader forever, and a
// file whose name holds a control character (refused and logged).
func makeSpecialFiles(t *testing.T, dir string) {
	t.Helper()
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.csv"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad\x1b[2J.csv"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
}
