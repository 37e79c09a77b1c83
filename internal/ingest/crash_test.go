package ingest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"plateau/internal/campaign"
	"plateau/internal/db"
)

// crashChildEnv carries the child's configuration (JSON) from
// TestKilledAnywhereLoadsExactlyOnce to TestCrashChild.
const crashChildEnv = "PLATEAU_INGEST_CRASH_CHILD"

type crashConfig struct {
	DSN     string
	Key     string
	Dir     string
	File    string
	Mission int
	At      time.Time
	Chunk   int
}

// TestCrashChild is the process TestKilledAnywhereLoadsExactlyOnce kills:
// it ingests a file, printing a line at each point where a crash matters
// (inside the transactions, just before they commit) and pausing there so
// that the kill lands inside. Run alone, it does nothing.
func TestCrashChild(t *testing.T) {
	raw := os.Getenv(crashChildEnv)
	if raw == "" {
		t.Skip("the child of TestKilledAnywhereLoadsExactlyOnce")
	}
	var c crashConfig
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := db.Open(ctx, c.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	e := newDBEnv(t, d, envOptions{masterKey: c.Key, dir: c.Dir, chunk: c.Chunk})
	e.svc.hook = func(point string, _ int64, progress int) {
		fmt.Printf("at %s %d\n", point, progress)
		time.Sleep(20 * time.Millisecond)
	}
	f, err := os.Open(c.File)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// As a stream, so that every run receives the file again: the kill can
	// land in a receipt too.
	res, err := e.svc.Ingest(asCLI, c.Mission, SourceCLI, filepath.Base(c.File), onlyReader{f}, IngestOptions{ReceivedAt: c.At})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("done %d %s\n", res.Batch.ID, res.Batch.Status)
}

// TestKilledAnywhereLoadsExactlyOnce kills a loading process (SIGKILL) at
// random moments and at every kind of commit, again and again, then lets a
// last run finish: the mission must hold exactly the contacts the pipeline
// says, each once, and after every kill the stored counts must match the
// rows.
func TestKilledAnywhereLoadsExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes: not with -short")
	}
	t.Run("sqlite", func(t *testing.T) {
		killTest(t, "sqlite:"+filepath.Join(t.TempDir(), "plateau.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		killTest(t, postgresSchemaDSN(t))
	})
}

// postgresSchemaDSN returns the URL of a fresh, migrated schema of the test
// server, dropped after the test; it skips without PLATEAU_TEST_POSTGRES.
func postgresSchemaDSN(t *testing.T) string {
	t.Helper()
	return db.TestPostgresDSN(t)
}

func killTest(t *testing.T, dsn string) {
	ctx := context.Background()
	d, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	dir := t.TempDir()
	cfg := crashConfig{DSN: dsn, Key: base64.StdEncoding.EncodeToString(key), Dir: dir, Mission: 26, Chunk: 600}
	e := newDBEnv(t, d, envOptions{masterKey: cfg.Key, dir: dir})
	e.mission26(t)
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 7))

	var want []string
	kills := map[string]int{}
	// Two files received on two days: two batches, each killed several
	// times.
	for round := range 2 {
		data := leadFile(t, 8000, uint64(100+round))
		cfg.File = filepath.Join(dir, fmt.Sprintf("leads-%d.csv", round))
		if err := os.WriteFile(cfg.File, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.At = receivedAt.AddDate(0, 0, round)
		ex := expect(t, data, cfg.At)
		want = append(want, ex.ids...)
		sum := sha256.Sum256(data)

		for attempt := 0; ; attempt++ {
			// The kill: at a random moment, or inside a given commit.
			var point string
			var delay time.Duration
			switch k := rng.IntN(10); {
			case attempt == 0:
				point = "commit#1" // a sure kill mid-load: the test always proves something
			case attempt >= 6:
				point = "" // let it finish
			case k < 4:
				delay = time.Duration(rng.IntN(1500)) * time.Millisecond
			case k < 7:
				point = fmt.Sprintf("commit#%d", 1+rng.IntN(6))
			default:
				point = []string{"receive", "register", "outputs", "finish"}[rng.IntN(4)]
			}
			done, killedAt := runChild(t, cfg, point, delay)
			if killedAt != "" {
				kills[killedAt]++
			}
			e.checkConsistent(t, 26, sum[:])
			if done {
				break
			}
		}
		b, found, err := e.svc.byContent(ctx, 26, sum[:])
		if err != nil || !found || b.Status != StatusDone {
			t.Fatalf("round %d: batch %+v, %v, %v", round, b, found, err)
		}
		if b.Loaded != ex.summary.Loaded || b.Quarantined != ex.summary.Quarantined || b.Received != ex.summary.Received {
			t.Fatalf("round %d: batch counts %+v, want %s", round, b, ex.summary)
		}
	}
	slices.Sort(want)
	if got := e.contactIDs(t, 26); !slices.Equal(got, want) {
		t.Fatalf("%d contacts, want %d", len(got), len(want))
	}
	rep, err := e.log.Verify(ctx)
	if err != nil || rep.Problem != nil {
		t.Fatalf("audit trail after the kills: %+v, %v", rep.Problem, err)
	}
	t.Logf("kills: %v", kills)
	// The first attempt of each round is killed inside its first commit;
	// how the random kills spread depends on the machine's load.
	if kills["in commit"] < 2 {
		t.Fatalf("no kill landed before the load finished: %v", kills)
	}
}

// runChild runs TestCrashChild and kills it after delay, or when it
// reaches point ("commit#3": the third commit; "" and no delay: never). It
// reports whether the child finished, and where it was killed.
func runChild(t *testing.T, cfg crashConfig, point string, delay time.Duration) (bool, string) {
	t.Helper()
	raw, _ := json.Marshal(cfg)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+string(raw))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	want, nth := point, 1
	if p, n, ok := strings.Cut(point, "#"); ok {
		want = p
		fmt.Sscan(n, &nth)
	}
	var timer <-chan time.Time
	if delay > 0 {
		timer = time.After(delay)
	}
	kill := func(where string) (bool, string) {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		for range lines {
		}
		_ = cmd.Wait()
		return false, where
	}
	seen, done, last := 0, false, "start"
	var log []string
	limit := time.After(3 * time.Minute)
	for {
		select {
		case <-limit:
			kill("")
			t.Fatalf("child still running after 3 minutes:\n%s\n%s", strings.Join(log, "\n"), stderr.String())
		case <-timer:
			return kill("after " + last)
		case line, ok := <-lines:
			if !ok {
				err := cmd.Wait()
				if err != nil || !done {
					t.Fatalf("child failed (%v):\n%s\n%s", err, strings.Join(log, "\n"), stderr.String())
				}
				return true, ""
			}
			log = append(log, line)
			f := strings.Fields(line)
			switch {
			case len(f) >= 2 && f[0] == "at":
				last = f[1]
				if want != "" && f[1] == want {
					if seen++; seen == nth {
						return kill("in " + want)
					}
				}
			case len(f) >= 1 && f[0] == "done":
				done = true
			}
		}
	}
}

// checkConsistent checks, after a kill, that the batch of this content
// holds exactly the rows its progress says.
func (e *dbEnv) checkConsistent(t *testing.T, mission int, sum []byte) {
	t.Helper()
	ctx := context.Background()
	b, found, err := e.svc.byContent(ctx, mission, sum)
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		return
	}
	var contacts int
	err = e.camp.OpenFiles(ctx, campaign.FileFilter{Mission: mission}, func(r campaign.FileRow) error {
		if r.BatchID == b.ID {
			contacts++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	q, err := e.svc.Quarantine(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if contacts != b.Loaded || len(q) != b.Quarantined || (len(q) > 0 && q[len(q)-1].N > b.Progress) {
		t.Fatalf("batch %d (%s, progress %d): %d contacts and %d quarantine rows, its counts say %d and %d",
			b.ID, b.Status, b.Progress, contacts, len(q), b.Loaded, b.Quarantined)
	}
}
