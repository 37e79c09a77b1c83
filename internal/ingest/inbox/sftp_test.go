//go:build linux

package inbox

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestSFTPAgainstOpenSSH(t *testing.T) {
	srv := startSSHD(t)

	t.Run("loads stable files once, leaves growing ones, moves to processed", func(t *testing.T) {
		remote := t.TempDir()
		writeFile(t, filepath.Join(remote, "2021-03-10_Rapport_mission.csv"), "type;name\nA;B\n")
		writeFile(t, filepath.Join(remote, "growing.csv"), "type;name\n")
		writeFile(t, filepath.Join(remote, ".upload.tmp"), "x")
		writeFile(t, filepath.Join(remote, "big.csv.filepart"), "x")
		writeFile(t, filepath.Join(remote, "bad\x01name.csv"), "x")
		os.Mkdir(filepath.Join(remote, "sub.csv"), 0o700)
		os.Symlink(filepath.Join(remote, "growing.csv"), filepath.Join(remote, "link.csv"))
		os.Symlink("/etc/passwd", filepath.Join(remote, "passwd.csv"))

		in := openTestSFTP(t, srv.sftpConfig(remote))
		files, err := in.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got := names(files); !slices.Equal(got, []string{"2021-03-10_Rapport_mission.csv", "growing.csv"}) {
			t.Fatalf("List = %v", got)
		}
		for _, bad := range []string{"link.csv", "passwd.csv", "sub.csv", "../" + filepath.Base(remote), "/etc/passwd"} {
			if rc, err := in.Open(t.Context(), bad); err == nil {
				rc.Close()
				t.Errorf("Open(%q) succeeded", bad)
			}
		}

		clk, l := newClock(), newLoads()
		p := NewPoller("test", in, l.handle, PollerOptions{Now: clk.Now, Logger: quietLog()})
		poll := func() Result {
			t.Helper()
			res, err := p.PollOnce(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		if res := poll(); len(res.Loaded) != 0 {
			t.Fatalf("taken at first sight: %+v", res)
		}
		appendFile(t, filepath.Join(remote, "growing.csv"), "A;B\n")
		clk.Advance(30 * time.Second)
		res := poll()
		if !slices.Equal(res.Loaded, []string{"2021-03-10_Rapport_mission.csv"}) || !slices.Equal(res.Pending, []string{"growing.csv"}) {
			t.Fatalf("second poll %+v", res)
		}
		clk.Advance(30 * time.Second)
		if res := poll(); !slices.Equal(res.Loaded, []string{"growing.csv"}) {
			t.Fatalf("third poll %+v", res)
		}
		if res := poll(); len(res.Loaded)+len(res.Pending)+len(res.Failed) != 0 {
			t.Fatalf("fourth poll %+v", res)
		}
		if l.data["2021-03-10_Rapport_mission.csv"] != "type;name\nA;B\n" || l.data["growing.csv"] != "type;name\nA;B\n" {
			t.Errorf("loaded %q", l.data)
		}
		for _, name := range []string{"2021-03-10_Rapport_mission.csv", "growing.csv"} {
			if _, err := os.Stat(filepath.Join(remote, "processed", name)); err != nil {
				t.Errorf("not moved: %v", err)
			}
		}
		// Everything that was not taken is still there, untouched.
		for _, name := range []string{".upload.tmp", "big.csv.filepart", "bad\x01name.csv", "sub.csv", "link.csv", "passwd.csv"} {
			if _, err := os.Lstat(filepath.Join(remote, name)); err != nil {
				t.Errorf("%q: %v", name, err)
			}
		}
	})

	t.Run("a name clash in processed adds a suffix", func(t *testing.T) {
		remote := t.TempDir()
		in := openTestSFTP(t, srv.sftpConfig(remote))
		for _, day := range []string{"monday\n", "tuesday\n"} {
			writeFile(t, filepath.Join(remote, "leads.csv"), day)
			if err := in.Done(t.Context(), "leads.csv"); err != nil {
				t.Fatal(err)
			}
		}
		for name, want := range map[string]string{"leads.csv": "monday\n", "leads-2.csv": "tuesday\n"} {
			if b, err := os.ReadFile(filepath.Join(remote, "processed", name)); err != nil || string(b) != want {
				t.Errorf("processed/%s = %q, %v", name, b, err)
			}
		}
	})

	t.Run("delete after load", func(t *testing.T) {
		remote := t.TempDir()
		writeFile(t, filepath.Join(remote, "leads.csv"), "a\n")
		c := srv.sftpConfig(remote)
		c.AfterLoad = Delete
		in := openTestSFTP(t, c)
		clk, l := newClock(), newLoads()
		p := NewPoller("test", in, l.handle, PollerOptions{Now: clk.Now, Logger: quietLog()})
		p.PollOnce(t.Context())
		clk.Advance(time.Minute)
		if res, err := p.PollOnce(t.Context()); err != nil || !slices.Equal(res.Loaded, []string{"leads.csv"}) {
			t.Fatalf("%+v %v", res, err)
		}
		if entries, _ := os.ReadDir(remote); len(entries) != 0 {
			t.Errorf("left behind: %v", entries)
		}
	})

	t.Run("an encrypted key with its passphrase", func(t *testing.T) {
		remote := t.TempDir()
		writeFile(t, filepath.Join(remote, "a.csv"), "a")
		// ssh-keygen (openssh-client, a dependency of openssh-server) with
		// few KDF rounds: the 16 rounds Go uses take seconds under -race.
		key := filepath.Join(t.TempDir(), "id_ed25519")
		gen := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-a", "2", "-N", "correct horse battery staple", "-C", "plateau test", "-f", key)
		if out, err := gen.CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		pub, err := os.ReadFile(key + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		appendFile(t, filepath.Join(srv.dir, "authorized_keys"), string(pub))

		c := srv.sftpConfig(remote)
		c.KeyFile = key
		if _, err := OpenSFTP(c, quietLog()); err == nil || !strings.Contains(err.Error(), "key_passphrase") {
			t.Errorf("encrypted key without passphrase: %v", err)
		}
		c.KeyPassphrase = "wrong"
		if _, err := OpenSFTP(c, quietLog()); err == nil {
			t.Error("wrong passphrase accepted")
		}
		c.KeyPassphrase = "correct horse battery staple"
		files, err := openTestSFTP(t, c).List(t.Context())
		if err != nil || len(files) != 1 {
			t.Fatalf("List = %v, %v", files, err)
		}
	})

	t.Run("a key the server does not know is refused", func(t *testing.T) {
		c := srv.sftpConfig(t.TempDir())
		c.KeyFile = filepath.Join(t.TempDir(), "other")
		writeKey(t, c.KeyFile, "")
		_, err := openTestSFTP(t, c).List(t.Context())
		if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("a wrong host key is refused before logging in", func(t *testing.T) {
		remote := t.TempDir()
		writeFile(t, filepath.Join(remote, "a.csv"), "a")
		impostor := writeKey(t, filepath.Join(t.TempDir(), "impostor"), "")
		c := srv.sftpConfig(remote)
		c.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
		writeFile(t, c.KnownHosts, knownhosts.Line([]string{srv.addr()}, impostor)+"\n")
		// A login with the right known_hosts shows in the log as
		// "Accepted publickey": the count must not move with the wrong one.
		if _, err := openTestSFTP(t, srv.sftpConfig(remote)).List(t.Context()); err != nil {
			t.Fatal(err)
		}
		before := strings.Count(srv.logs(), "Accepted ")
		if before == 0 {
			t.Fatalf("sshd does not log accepted logins; the check would prove nothing:\n%s", srv.logs())
		}

		in := openTestSFTP(t, c)
		p := NewPoller("test", in, newLoads().handle, PollerOptions{Logger: quietLog()})
		_, err := p.PollOnce(t.Context())
		if !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), "does not match") {
			t.Fatalf("err = %v, want a host key mismatch", err)
		}
		t.Logf("the operator reads: %v", err)
		if after := strings.Count(srv.logs(), "Accepted "); after != before {
			t.Error("the client logged in despite the wrong host key")
		}
		if _, err := os.Stat(filepath.Join(remote, "a.csv")); err != nil {
			t.Error(err)
		}
	})

	t.Run("a server that no longer offers the key type known_hosts lists is refused", func(t *testing.T) {
		c := srv.sftpConfig(t.TempDir())
		c.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := ssh.NewPublicKey(&priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, c.KnownHosts, knownhosts.Line([]string{srv.addr()}, pub)+"\n")
		_, err = openTestSFTP(t, c).List(t.Context())
		if !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), "none of the key types") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("a server missing from known_hosts is refused with the way to add it", func(t *testing.T) {
		c := srv.sftpConfig(t.TempDir())
		c.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
		other := writeKey(t, filepath.Join(t.TempDir(), "k"), "")
		writeFile(t, c.KnownHosts, knownhosts.Line([]string{"sftp.example.fr"}, other)+"\n")
		_, err := openTestSFTP(t, c).List(t.Context())
		if !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), "ssh-keyscan -p ") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestSFTPReconnectsAfterServerRestart(t *testing.T) {
	srv := startSSHD(t)
	remote := t.TempDir()
	in := openTestSFTP(t, srv.sftpConfig(remote))
	clk, l := newClock(), newLoads()
	p := NewPoller("test", in, l.handle, PollerOptions{Now: clk.Now, Logger: quietLog()})
	if _, err := p.PollOnce(t.Context()); err != nil {
		t.Fatal(err)
	}

	srv.stop()
	if _, err := p.PollOnce(t.Context()); err == nil {
		t.Fatal("poll succeeded with the server down")
	}
	if _, err := p.PollOnce(t.Context()); err == nil {
		t.Fatal("poll succeeded with the server down")
	}
	srv.start()

	writeFile(t, filepath.Join(remote, "after-restart.csv"), "a\n")
	if _, err := p.PollOnce(t.Context()); err != nil {
		t.Fatalf("no reconnection at the next poll: %v", err)
	}
	clk.Advance(time.Minute)
	if res, err := p.PollOnce(t.Context()); err != nil || !slices.Equal(res.Loaded, []string{"after-restart.csv"}) {
		t.Fatalf("%+v %v", res, err)
	}

	// A restart between two polls, with the connection still believed open.
	srv.restart()
	writeFile(t, filepath.Join(remote, "second.csv"), "b\n")
	var err error
	for range 2 { // the first poll may find the old connection dead
		if _, err = p.PollOnce(t.Context()); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("no reconnection after a restart: %v", err)
	}
	clk.Advance(time.Minute)
	if res, err := p.PollOnce(t.Context()); err != nil || !slices.Equal(res.Loaded, []string{"second.csv"}) {
		t.Fatalf("%+v %v", res, err)
	}
}
