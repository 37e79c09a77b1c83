package audit

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"plateau/internal/db"
)

// checkpointLines returns the checkpoint file's lines (none if missing).
func checkpointLines(t *testing.T, l *Log) []checkpoint {
	t.Helper()
	f, err := os.Open(l.opt.CheckpointFile)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []checkpoint
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var cp checkpoint
		if err := json.Unmarshal(sc.Bytes(), &cp); err != nil {
			t.Fatalf("checkpoint line %q: %v", sc.Text(), err)
		}
		out = append(out, cp)
	}
	return out
}

func writeLines(t *testing.T, path string, cps []checkpoint) {
	t.Helper()
	var b strings.Builder
	for _, cp := range cps {
		j, err := json.Marshal(cp)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCheckpointWritesOnlyWhenTheHeadMoved(t *testing.T) {
	db.ForEachEngine(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		l := newTestLog(t, d, nil)
		if err := l.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(checkpointLines(t, l)); n != 0 {
			t.Fatalf("an empty chain got %d checkpoints", n)
		}
		appendN(t, l, 3)
		for range 3 {
			if err := l.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
		cps := checkpointLines(t, l)
		if len(cps) != 1 || cps[0].ID != 3 || cps[0].At != t0.Format(time.RFC3339) {
			t.Fatalf("checkpoints %+v, want one for row 3 at %s", cps, t0.Format(time.RFC3339))
		}
		if cps[0].Hash != hex.EncodeToString(readRow(t, d, 3).hash) {
			t.Fatal("the checkpoint does not hold row 3's hash")
		}
		appendN(t, l, 1)
		if err := l.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		// A restarted process reads where the file left off.
		again, err := New(d, nil, l.opt)
		if err != nil {
			t.Fatal(err)
		}
		if err := again.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		if cps := checkpointLines(t, l); len(cps) != 2 || cps[1].ID != 4 {
			t.Fatalf("checkpoints %+v, want rows 3 and 4", cps)
		}
		rep := wantIntact(t, again, 4)
		if rep.Checkpoints != 2 {
			t.Fatalf("Verify checked %d checkpoints, want 2", rep.Checkpoints)
		}
	})
}

func TestForgedCheckpointIsDetected(t *testing.T) {
	_, otherKey, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		forge func(cp *checkpoint, hash3 []byte)
	}{
		{"hash of another row, same signature", func(cp *checkpoint, hash3 []byte) { cp.Hash = hex.EncodeToString(hash3) }},
		{"signature byte flipped", func(cp *checkpoint, _ []byte) {
			sig, _ := base64.StdEncoding.DecodeString(cp.Sig)
			sig[7] ^= 0x20
			cp.Sig = base64.StdEncoding.EncodeToString(sig)
		}},
		{"time changed", func(cp *checkpoint, _ []byte) { cp.At = "2027-01-01T00:00:00Z" }},
		{"signed by another key that the line names", func(cp *checkpoint, _ []byte) {
			h, _ := hex.DecodeString(cp.Hash)
			cp.Key = base64.StdEncoding.EncodeToString(otherKey.Public().(ed25519.PublicKey))
			cp.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(otherKey, checkpointMessage(cp.ID, h, cp.At)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := db.OpenTestSQLite(t)
			l := newTestLog(t, d, nil)
			appendN(t, l, 5)
			if err := l.Checkpoint(context.Background()); err != nil {
				t.Fatal(err)
			}
			cps := checkpointLines(t, l)
			tt.forge(&cps[0], readRow(t, d, 3).hash)
			writeLines(t, l.opt.CheckpointFile, cps)
			wantProblem(t, l, 5, "signature does not verify")
		})
	}
	t.Run("garbage line", func(t *testing.T) {
		d := db.OpenTestSQLite(t)
		l := newTestLog(t, d, nil)
		appendN(t, l, 2)
		if err := l.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(l.opt.CheckpointFile, []byte("{not json\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		wantProblem(t, l, 0, "line 1")
	})
}

func TestSigningKeyFileIsPrivateAndReused(t *testing.T) {
	d := db.OpenTestSQLite(t)
	l := newTestLog(t, d, nil)
	if runtime.GOOS != "windows" {
		st, err := os.Stat(l.opt.SigningKeyFile)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
		}
		dir, err := os.Stat(filepath.Dir(l.opt.SigningKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		if dir.Mode().Perm() != 0o700 {
			t.Fatalf("key folder mode %v, want 0700", dir.Mode().Perm())
		}
	}
	again, err := New(d, nil, l.opt)
	if err != nil {
		t.Fatal(err)
	}
	if !again.pub.Equal(l.pub) {
		t.Fatal("a second New made a new key instead of loading the file")
	}
	entries, err := os.ReadDir(filepath.Dir(l.opt.SigningKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("key folder holds %d files, want only the key", len(entries))
	}
	if _, err := New(d, nil, Options{CheckpointFile: l.opt.CheckpointFile}); err == nil {
		t.Fatal("New accepted options without a signing key file")
	}
}

func TestRunCheckpointsOnTicksAndAtTheEnd(t *testing.T) {
	d := db.OpenTestSQLite(t)
	l := newTestLog(t, d, nil)
	ctx, cancel := context.WithCancel(context.Background())
	l.opt.Interval = 5 * time.Millisecond
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	appendN(t, l, 2)
	deadline := time.Now().Add(10 * time.Second)
	for len(checkpointLines(t, l)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run wrote no checkpoint on its ticks")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done

	// With ticks far apart, only the final checkpoint can cover the new row.
	l.opt.Interval = time.Hour
	if err := l.Append(context.Background(), sampleEvent(3)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	done = make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	cancel()
	<-done
	cps := checkpointLines(t, l)
	if last := cps[len(cps)-1]; last.ID != 3 {
		t.Fatalf("last checkpoint covers row %d, want 3 (written when Run's context ended)", last.ID)
	}
	wantIntact(t, l, 3)
}

// A write cut short by a crash leaves a fragment; the next checkpoint must
// still land on a line of its own.
func TestCheckpointAfterATornWrite(t *testing.T) {
	d := db.OpenTestSQLite(t)
	l := newTestLog(t, d, nil)
	appendN(t, l, 1)
	if err := l.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(l.opt.CheckpointFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"id":1,"ha`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	appendN(t, l, 1)
	if err := l.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(l.opt.CheckpointFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 3 || lines[1] != `{"id":1,"ha` || !strings.HasPrefix(lines[2], `{"id":2,`) {
		t.Fatalf("checkpoint file:\n%s", b)
	}
}
