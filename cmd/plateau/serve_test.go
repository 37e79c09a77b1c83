package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"plateau/internal/ingest"
	"plateau/internal/notify"
)

// syncBuffer is a bytes.Buffer a running server writes to while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runningServer is a `plateau serve` running in-process on a free port.
type runningServer struct {
	url      string
	out, log *syncBuffer
	stop     func() int // stops the server and returns its exit status
}

// waitFor polls cond until it holds, failing the test after a generous
// bound (the work waited for takes well under a second when all is well).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startServe runs `plateau serve --addr 127.0.0.1:0 args...` and waits
// until it listens. The server is stopped at the end of the test if the
// test did not stop it.
func startServe(t *testing.T, args ...string) *runningServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &runningServer{out: &syncBuffer{}, log: &syncBuffer{}}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...),
			stdio{in: strings.NewReader(""), out: s.out, err: s.log, env: []string{"PLATEAU_LOG_LEVEL=info"}})
	}()
	var once sync.Once
	code := 0
	s.stop = func() int {
		once.Do(func() {
			cancel()
			code = <-done
		})
		return code
	}
	t.Cleanup(func() { s.stop() })
	waitFor(t, "the server to start", func() bool {
		select {
		case c := <-done:
			done <- c
			t.Fatalf("serve exited with status %d:\n%s", c, s.log.String())
		default:
		}
		sc := bufio.NewScanner(strings.NewReader(s.log.String()))
		for sc.Scan() {
			var line struct {
				Msg string `json:"msg"`
				URL string `json:"url"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "plateau started" {
				s.url = line.URL
				return true
			}
		}
		return false
	})
	return s
}

func TestServeStartsOnAnEmptyFolderWithNothingConfigured(t *testing.T) {
	data := t.TempDir()
	s := startServe(t, "--data", data)
	resp, err := http.Get(s.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %s", resp.Status)
	}
	// The link is printed just after "plateau started" is logged.
	waitFor(t, "the setup link", func() bool { return strings.Contains(s.out.String(), "/setup/") })
	if code := s.stop(); code != 0 {
		t.Fatalf("serve stopped with status %d:\n%s", code, s.log.String())
	}
	for _, job := range []string{"inboxes polled", "mail alerts on"} {
		if strings.Contains(s.log.String(), job) {
			t.Errorf("%q started with nothing configured", job)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "plateau.db")); err != nil {
		t.Fatal(err)
	}
}

// TestServeLoadsTheFilesOfAWatchedFolder configures a watched folder for
// mission 26 and batch summaries to a mail server that is down: the file
// dropped in the folder becomes a batch all the same, leaves the folder,
// and its summary waits in the mail outbox.
func TestServeLoadsTheFilesOfAWatchedFolder(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testServeLoadsAWatchedFolder(t, "") })
	t.Run("postgres", func(t *testing.T) { testServeLoadsAWatchedFolder(t, testPostgresDSN(t)) })
}

func testServeLoadsAWatchedFolder(t *testing.T, dsn string) {
	data, store := newMissionDataOn(t, dsn)
	drop := filepath.Join(t.TempDir(), "drop")
	if err := os.Mkdir(drop, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := mailConfig(t, "inboxes:\n  - {name: depot, kind: folder, mission: 26, path: "+drop+", interval: 1s, stable_for: 1ms}\n")
	s := startServe(t, append(store, "--config", cfg)...)
	// A file the profile cannot read at all fails its batch and leaves the
	// inbox too: the batch keeps it, to be run again after a fix.
	if err := os.WriteFile(filepath.Join(drop, "bad.csv"), []byte("a;b\r\n1;2\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeLeads(t, drop, "leads-20261123.csv", 40, 7)

	a := openTestAppOn(t, data, dsn)
	_, ing := newServices(a)
	var batches []ingest.Batch
	waitFor(t, "the dropped file to be loaded", func() bool {
		var err error
		batches, err = ing.Batches(context.Background(), ingest.BatchFilter{Mission: 26})
		if err != nil {
			t.Fatal(err)
		}
		return len(batches) == 2 && batches[0].Status == ingest.StatusDone
	})
	if batches[1].Name != "bad.csv" || batches[1].Status != ingest.StatusFailed {
		t.Errorf("first batch = %q %s, want bad.csv failed", batches[1].Name, batches[1].Status)
	}
	b := batches[0]
	if b.Source != "folder:depot" || b.Name != "leads-20261123.csv" || b.Received != 40 || b.Loaded == 0 {
		t.Errorf("batch = source %q name %q received %d loaded %d", b.Source, b.Name, b.Received, b.Loaded)
	}
	for _, name := range []string{"bad.csv", "leads-20261123.csv"} {
		waitFor(t, name+" to move to processed/", func() bool {
			_, err := os.Stat(filepath.Join(drop, "processed", name))
			return err == nil
		})
		if _, err := os.Stat(filepath.Join(drop, name)); !os.IsNotExist(err) {
			t.Errorf("%s is still in the inbox: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "outbox", strconv.FormatInt(b.ID, 10), "mission.csv")); err != nil {
		t.Errorf("legacy files: %v", err)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve stopped with status %d:\n%s", code, s.log.String())
	}
	pending, err := notify.NewOutbox(a.db, nil, notify.OutboxOptions{}).Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if pending != 2 {
		t.Errorf("%d mails pending, want the two batch summaries waiting for the mail server", pending)
	}
	rows, err := a.db.QueryContext(context.Background(), "SELECT text_body FROM notify_outbox")
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, body)
	}
	rows.Close()
	link := s.url + "/batches/" + strconv.FormatInt(b.ID, 10) + "\n"
	if !strings.Contains(strings.Join(bodies, "\n"), link) {
		t.Errorf("no summary links to %s:\n%s", link, strings.Join(bodies, "\n----\n"))
	}
	for _, want := range []string{"inboxes polled", "mail alerts on"} {
		if !strings.Contains(s.log.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestPurgeOutboxRemovesOnlyOldBatchFolders(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	old, recent := now.Add(-8*24*time.Hour), now.Add(-time.Hour)
	for name, mtime := range map[string]time.Time{"1": old, "2": recent, "notes": old, "007": old} {
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "mission.csv"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	n, err := purgeOutboxBefore(dir, now.Add(-7*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("purge = %d, %v; want 1 folder removed", n, err)
	}
	for name, kept := range map[string]bool{"1": false, "2": true, "notes": true, "007": true} {
		_, err := os.Stat(filepath.Join(dir, name))
		if (err == nil) != kept {
			t.Errorf("%s: kept = %v, want %v", name, err == nil, kept)
		}
	}
	if n, err := purgeOutboxBefore(filepath.Join(dir, "missing"), now); n != 0 || err != nil {
		t.Errorf("missing outbox: %d, %v", n, err)
	}
}

// mailConfig writes a configuration whose mail server is down (nothing
// listens on port 1) and which sends batch summaries and inbox alerts,
// plus the given YAML.
func mailConfig(t *testing.T, extra string) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "plateau.yaml")
	yml := `
notify:
  smtp: {host: 127.0.0.1, port: 1, tls: insecure, auth: none, from: plateau@example.fr, timeout: 2s}
  alerts:
    batch_summary: {to: [it@example.fr]}
    inbox_waiting: {to: [it@example.fr]}
` + extra
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestIngestCommandQueuesTheBatchSummary(t *testing.T) {
	data := newMissionData(t)
	cfg := mailConfig(t, "")
	file := writeLeads(t, t.TempDir(), "leads.csv", 20, 3)
	if code, _, stderr := plateau(t, "", "ingest", "--data", data, "--config", cfg, "--mission", "26", file); code != 0 {
		t.Fatalf("ingest: exit %d, %s", code, stderr)
	}
	a := openTestApp(t, data)
	pending, err := notify.NewOutbox(a.db, nil, notify.OutboxOptions{}).Pending(context.Background())
	if err != nil || pending != 1 {
		t.Fatalf("%d mails pending (%v), want the summary queued for the server to send", pending, err)
	}
}

func TestWaitingFilesCountsEachInbox(t *testing.T) {
	data := newMissionData(t)
	full, empty := t.TempDir(), t.TempDir()
	for _, n := range []string{"a.csv", "b.csv"} {
		if err := os.WriteFile(filepath.Join(full, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(full, "b.csv"), old, old); err != nil {
		t.Fatal(err)
	}
	cfgPath := mailConfig(t, "inboxes:\n  - {name: full, kind: folder, mission: 26, path: "+full+"}\n"+
		"  - {name: empty, kind: folder, mission: 26, path: "+empty+"}\n")
	sf := storeFlags{config: cfgPath, data: data}
	cfg, err := sf.load(stdio{})
	if err != nil {
		t.Fatal(err)
	}
	a := openTestApp(t, data)
	a.cfg = cfg
	_, ing := newServices(a)
	rs, err := openInboxes(a, ing)
	if err != nil {
		t.Fatal(err)
	}
	defer closeInboxes(rs)
	got, err := waitingFiles(a, rs)(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Source != "full" || got[0].Files != 2 || !got[0].Oldest.Equal(old) ||
		got[0].Link != cfg.BaseURL+"/batches?mission=26" {
		t.Fatalf("waiting = %+v", got)
	}
}

// TestServeStartsWhileAnSFTPInboxIsDown: an unreachable SFTP server is
// logged and retried; it delays its files, not the server.
func TestServeStartsWhileAnSFTPInboxIsDown(t *testing.T) {
	data := newMissionData(t)
	dir := t.TempDir()
	known := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(known, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "plateau.yaml")
	yml := "inboxes:\n  - {name: client, kind: sftp, mission: 26, host: 127.0.0.1, port: 1, user: plateau, password: x, known_hosts: " +
		known + ", connect_timeout: 2s}\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, "--data", data, "--config", cfg)
	resp, err := http.Get(s.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor(t, "the failed poll to be logged", func() bool {
		return strings.Contains(s.log.String(), "inbox: poll failed")
	})
	if code := s.stop(); code != 0 {
		t.Fatalf("serve stopped with status %d:\n%s", code, s.log.String())
	}
}
