package inbox

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// These tests use an in-process SSH server (golang.org/x/crypto/ssh with
// the pkg/sftp server), for what a real OpenSSH cannot easily show here:
// OpenSSH checks passwords against system accounts, which the tests do not
// touch, and a server that goes silent needs a network in between.

// startGoSFTPServer serves root over SFTP to user "leads", who logs in with
// password, by the password method or keyboard-interactive. It returns the
// address and the host key.
func startGoSFTPServer(t *testing.T, root, password string, keyboardInteractive bool) (addr string, hostKey ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	good := func(user string, pw []byte) bool {
		return user == "leads" && subtle.ConstantTimeCompare(pw, []byte(password)) == 1
	}
	cfg := &ssh.ServerConfig{}
	if keyboardInteractive {
		cfg.KeyboardInteractiveCallback = func(c ssh.ConnMetadata, ask ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			answers, err := ask("", "", []string{"Password: "}, []bool{false})
			if err == nil && len(answers) == 1 && good(c.User(), []byte(answers[0])) {
				return nil, nil
			}
			return nil, errors.New("denied")
		}
	} else {
		cfg.PasswordCallback = func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if good(c.User(), pw) {
				return nil, nil
			}
			return nil, errors.New("denied")
		}
	}
	cfg.AddHostKey(signer)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { serveSFTP(conn, cfg, root) })
		}
	})
	return l.Addr().String(), signer.PublicKey()
}

// goServerConfig returns a configuration for the server at addr, with a
// known_hosts file that lists hostKey for it.
func goServerConfig(t *testing.T, addr string, hostKey ssh.PublicKey, remote string) SFTPConfig {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, kh, knownhosts.Line([]string{addr}, hostKey)+"\n")
	return SFTPConfig{
		Common:     Common{Name: "test", Mission: 26},
		Host:       host,
		Port:       p,
		User:       "leads",
		Password:   "s3cret-Pa55",
		KnownHosts: kh,
		Dir:        remote,
	}
}

func serveSFTP(conn net.Conn, cfg *ssh.ServerConfig, root string) {
	defer conn.Close()
	sc, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			defer ch.Close()
			for req := range chReqs {
				ok := req.Type == "subsystem" && len(req.Payload) > 4 && string(req.Payload[4:]) == "sftp"
				req.Reply(ok, nil)
				if ok {
					srv, err := sftp.NewServer(ch, sftp.WithServerWorkingDirectory(root))
					if err != nil {
						return
					}
					srv.Serve()
					return
				}
			}
		}()
	}
}

func TestSFTPPasswordLogin(t *testing.T) {
	for _, ki := range []bool{false, true} {
		name := "password"
		if ki {
			name = "keyboard-interactive"
		}
		t.Run(name, func(t *testing.T) {
			remote := t.TempDir()
			writeFile(t, filepath.Join(remote, "leads.csv"), "a;b\n")
			addr, hostKey := startGoSFTPServer(t, remote, "s3cret-Pa55", ki)
			c := goServerConfig(t, addr, hostKey, remote)
			in := openTestSFTP(t, c)
			files, err := in.List(t.Context())
			if err != nil || len(files) != 1 || files[0].Name != "leads.csv" || files[0].Size != 4 {
				t.Fatalf("List = %+v, %v", files, err)
			}
			if err := in.Done(t.Context(), "leads.csv"); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(remote, "processed", "leads.csv")); err != nil {
				t.Error(err)
			}

			c.Password = "wrong"
			_, err = openTestSFTP(t, c).List(t.Context())
			if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
				t.Errorf("wrong password: %v", err)
			}
		})
	}
}

// freezer forwards TCP connections to a server until it is frozen; frozen,
// it swallows every byte, like a network that went dead without closing.
type freezer struct {
	addr   string
	frozen atomic.Bool
}

func startFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{addr: l.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	pipe := func(dst, src net.Conn) {
		defer dst.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if err != nil {
				return
			}
			if f.frozen.Load() {
				continue
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
	wg.Go(func() {
		for {
			down, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				down.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, down, up)
			mu.Unlock()
			wg.Go(func() { pipe(up, down) })
			wg.Go(func() { pipe(down, up) })
		}
	})
	return f
}

func TestSFTPDropsASilentConnectionAndReconnects(t *testing.T) {
	remote := t.TempDir()
	writeFile(t, filepath.Join(remote, "leads.csv"), "a\n")
	addr, hostKey := startGoSFTPServer(t, remote, "s3cret-Pa55", false)
	link := startFreezer(t, addr)
	c := goServerConfig(t, link.addr, hostKey, remote)
	c.IOTimeout = time.Second
	in := openTestSFTP(t, c)
	if _, err := in.List(t.Context()); err != nil {
		t.Fatal(err)
	}

	link.frozen.Store(true)
	start := time.Now()
	if _, err := in.List(t.Context()); err == nil {
		t.Fatal("List succeeded through a dead network")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("a dead connection was noticed after %s, want about io_timeout (1s)", d)
	}

	link.frozen.Store(false)
	files, err := in.List(t.Context())
	if err != nil || len(files) != 1 {
		t.Fatalf("no reconnection: %v, %v", files, err)
	}
}

func TestSFTPConnectTimeout(t *testing.T) {
	// A server that accepts the connection and then says nothing.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	_, hostKey := startGoSFTPServer(t, t.TempDir(), "x", false)
	c := goServerConfig(t, l.Addr().String(), hostKey, ".")
	c.ConnectTimeout = 300 * time.Millisecond
	start := time.Now()
	if _, err := openTestSFTP(t, c).List(t.Context()); err == nil {
		t.Fatal("List succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %s, want about connect_timeout (300ms)", d)
	}

	// A cancelled context stops the handshake at once, whatever the timeout.
	c.ConnectTimeout = time.Minute
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := openTestSFTP(t, c).List(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %s", d)
	}
}
