//go:build linux

package inbox

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

const sshdPath = "/usr/sbin/sshd"

// sshd is a real OpenSSH server started for one test, on a loopback port,
// with its own host key, configuration and authorized key. It serves SFTP
// with internal-sftp; the test user is the user running the tests.
type sshd struct {
	t          *testing.T
	dir        string // configuration, keys and log
	port       int
	user       string
	hostKey    ssh.PublicKey
	clientKey  string // private key file authorised to log in
	knownHosts string // lists the server's real host key
	config     string
	log        string
	cmd        *exec.Cmd
}

// startSSHD starts sshd, or skips the test when OpenSSH is not installed
// (fails instead when CI is set, so CI never silently skips it).
func startSSHD(t *testing.T) *sshd {
	t.Helper()
	if _, err := os.Stat(sshdPath); err != nil {
		msg := fmt.Sprintf("%s not found: install the Debian package openssh-server to run the SFTP integration tests", sshdPath)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	// sshd refuses to start without its privilege separation folder, which
	// Debian creates only from the service unit.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("create /run/sshd (sshd needs it; run the tests as root): %v", err)
	}
	s := &sshd{t: t, dir: t.TempDir(), user: u.Username}

	hostPriv := writeKey(t, filepath.Join(s.dir, "host_ed25519"), "")
	s.hostKey = hostPriv
	clientPub := writeKey(t, filepath.Join(s.dir, "client_ed25519"), "")
	s.clientKey = filepath.Join(s.dir, "client_ed25519")
	writeFile(t, filepath.Join(s.dir, "authorized_keys"), string(ssh.MarshalAuthorizedKey(clientPub)))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()

	s.knownHosts = filepath.Join(s.dir, "known_hosts")
	writeFile(t, s.knownHosts, knownhosts.Line([]string{s.addr()}, s.hostKey)+"\n")
	s.log = filepath.Join(s.dir, "sshd.log")
	s.config = filepath.Join(s.dir, "sshd_config")
	s.writeConfig(true)
	// PerSourcePenalties (OpenSSH 9.8+) would ban 127.0.0.1 after the
	// refused connections some tests make on purpose; older versions do
	// not know the option.
	if out, err := exec.Command(sshdPath, "-t", "-f", s.config).CombinedOutput(); err != nil {
		s.writeConfig(false)
		if out2, err := exec.Command(sshdPath, "-t", "-f", s.config).CombinedOutput(); err != nil {
			t.Fatalf("sshd -t: %v\n%s\n%s", err, out, out2)
		}
	}
	s.start()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("sshd log:\n%s", s.logs())
		}
	})
	return s
}

func (s *sshd) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

func (s *sshd) writeConfig(penalties bool) {
	conf := strings.Join([]string{
		"Port " + strconv.Itoa(s.port),
		"ListenAddress 127.0.0.1",
		"HostKey " + filepath.Join(s.dir, "host_ed25519"),
		"PidFile " + filepath.Join(s.dir, "sshd.pid"),
		"AuthorizedKeysFile " + filepath.Join(s.dir, "authorized_keys"),
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"StrictModes no",
		"UsePAM no",
		"Subsystem sftp internal-sftp",
		"LogLevel VERBOSE",
	}, "\n") + "\n"
	if penalties {
		conf += "PerSourcePenalties no\n"
	}
	writeFile(s.t, s.config, conf)
}

// start runs sshd in the foreground (-D), logging to a file (-e), and waits
// until it accepts connections.
func (s *sshd) start() {
	s.t.Helper()
	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	defer logf.Close()
	// A file, not a pipe: the per-connection children inherit it and
	// would keep a pipe open after the server is killed.
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", s.config)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr(), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			s.t.Fatalf("sshd exited: %v\n%s", err, s.logs())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("sshd does not accept connections on %s\n%s", s.addr(), s.logs())
		}
	}
	s.cmd = cmd
}

// stop kills sshd and every per-connection process it forked: those run
// in their own sessions, so killing the listener alone would leave open
// connections working.
func (s *sshd) stop() {
	if s.cmd == nil {
		return
	}
	pid := s.cmd.Process.Pid
	for _, child := range descendants(pid) {
		syscall.Kill(child, syscall.SIGKILL)
	}
	s.cmd.Process.Kill()
	// Wait until the port is free, so a restart can bind it.
	for range 100 {
		if c, err := net.DialTimeout("tcp", s.addr(), 100*time.Millisecond); err != nil {
			break
		} else {
			c.Close()
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.cmd = nil
}

func (s *sshd) restart() {
	s.stop()
	s.start()
}

func (s *sshd) logs() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// descendants returns the processes below pid, read from /proc.
func descendants(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// config returns an SFTP configuration for this server, serving remote.
func (s *sshd) sftpConfig(remote string) SFTPConfig {
	return SFTPConfig{
		Common:     Common{Name: "test", Mission: 26},
		Host:       "127.0.0.1",
		Port:       s.port,
		User:       s.user,
		KeyFile:    s.clientKey,
		KnownHosts: s.knownHosts,
		Dir:        remote,
		// Short, so a test that goes wrong fails fast.
		ConnectTimeout: 10 * time.Second,
		IOTimeout:      10 * time.Second,
	}
}
