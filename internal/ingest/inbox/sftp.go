package inbox

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path"
	"strconv"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ErrHostKey is wrapped by every connection refused because the server's
// host key is not the one known_hosts lists for it.
var ErrHostKey = errors.New("host key check failed")

// SFTP is an inbox on an SFTP server. It connects on first use and, after a
// network error, drops the connection so that the next call connects again.
type SFTP struct {
	addr       string // host:port, as known_hosts names it
	dir        string
	where      string // for messages: user@host:port:dir
	knownHosts string
	hostKeys   ssh.HostKeyCallback
	// probe is a key no known_hosts lists; checking it returns the keys the
	// file does list for the host.
	probe   ssh.PublicKey
	user    string
	auth    []ssh.AuthMethod
	connect time.Duration
	io      time.Duration
	dispo   disposal
	lister  *lister
	log     *slog.Logger

	mu     sync.Mutex
	conn   *sftpConn // nil when not connected
	closed bool
}

// sftpConn is one SSH connection with its SFTP session.
type sftpConn struct {
	ssh  *ssh.Client
	sftp *sftp.Client
	done chan struct{}
	once sync.Once
}

func (c *sftpConn) close() {
	c.once.Do(func() {
		close(c.done)
		// The transport first: closing the SFTP session waits for its
		// reader, which a dead peer would never release.
		c.ssh.Close()
		c.sftp.Close()
	})
}

// OpenSFTP validates c, reads its known_hosts and key files and returns the
// inbox; it connects at the first call. log receives connection events and
// refused names; slog.Default() when nil.
func OpenSFTP(c SFTPConfig, log *slog.Logger) (*SFTP, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	wrap := func(err error) error { return fmt.Errorf("sftp inbox %s: %w", c.SourceName(), err) }
	hostKeys, err := knownhosts.New(c.KnownHosts)
	if err != nil {
		return nil, wrap(fmt.Errorf("known_hosts: %w", err))
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, wrap(err)
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, wrap(err)
	}
	auth, err := authMethods(c)
	if err != nil {
		return nil, wrap(err)
	}
	s := &SFTP{
		addr:       net.JoinHostPort(c.Host, strconv.Itoa(c.port())),
		dir:        c.dir(),
		knownHosts: c.KnownHosts,
		hostKeys:   hostKeys,
		probe:      probe,
		user:       c.User,
		auth:       auth,
		connect:    c.ConnectTimeout,
		io:         c.IOTimeout,
		dispo:      c.disposal(),
		lister:     newLister(log),
		log:        log,
	}
	s.where = c.User + "@" + s.addr + ":" + s.dir
	if s.connect == 0 {
		s.connect = DefaultConnectTimeout
	}
	if s.io == 0 {
		s.io = DefaultIOTimeout
	}
	return s, nil
}

// authMethods returns the password or private key authentication of c.
func authMethods(c SFTPConfig) ([]ssh.AuthMethod, error) {
	if c.Password != "" {
		pw := c.Password
		// Many servers ask for the password through keyboard-interactive.
		ki := func(_, _ string, questions []string, echos []bool) ([]string, error) {
			switch {
			case len(questions) == 0:
				return nil, nil
			case len(questions) == 1 && !echos[0]:
				return []string{pw}, nil
			}
			return nil, errors.New("the server asks more than a password")
		}
		return []ssh.AuthMethod{ssh.Password(pw), ssh.KeyboardInteractive(ki)}, nil
	}
	pem, err := os.ReadFile(c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("key_file: %w", err)
	}
	var signer ssh.Signer
	if c.KeyPassphrase != "" {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(c.KeyPassphrase))
	} else {
		signer, err = ssh.ParsePrivateKey(pem)
	}
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("key_file %s is encrypted: set key_passphrase", c.KeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("key_file %s: %w", c.KeyFile, err)
	}
	return []ssh.AuthMethod{ssh.PublicKeys(signer)}, nil
}

// session returns the current connection, connecting if there is none.
func (s *SFTP) session(ctx context.Context) (*sftpConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("sftp inbox is closed")
	}
	if s.conn != nil {
		return s.conn, nil
	}
	c, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	s.conn = c
	s.log.Info("sftp: connected", "server", s.where)
	go s.keepAlive(c)
	return c, nil
}

// dial connects, checks the host key, logs in and starts SFTP, all within
// the connect timeout and ctx.
func (s *SFTP) dial(ctx context.Context) (*sftpConn, error) {
	d := net.Dialer{Timeout: s.connect}
	raw, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", s.addr, err)
	}
	// The SSH handshake has no context: a deadline bounds it, and a
	// cancelled ctx moves the deadline to now.
	if err := raw.SetDeadline(time.Now().Add(s.connect)); err != nil {
		raw.Close()
		return nil, fmt.Errorf("connect to %s: %w", s.addr, err)
	}
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var hostErr error
	cfg := &ssh.ClientConfig{
		User: s.user,
		Auth: s.auth,
		HostKeyCallback: func(host string, remote net.Addr, key ssh.PublicKey) error {
			hostErr = s.checkHostKey(host, remote, key)
			return hostErr
		},
		HostKeyAlgorithms: s.hostKeyAlgorithms(raw.RemoteAddr()),
	}
	sc, chans, reqs, err := ssh.NewClientConn(raw, s.addr, cfg)
	if err != nil {
		raw.Close()
		var neg *ssh.AlgorithmNegotiationError
		switch {
		case hostErr != nil:
			return nil, hostErr
		case ctx.Err() != nil:
			return nil, fmt.Errorf("connect to %s: %w", s.addr, ctx.Err())
		case errors.As(err, &neg) && neg.What == "host key" && cfg.HostKeyAlgorithms != nil:
			return nil, fmt.Errorf("%w: %s offers none of the key types known_hosts %s lists for it (%v, it offers %v); "+
				"its key may have changed: check the new fingerprint with the SFTP provider and update the file",
				ErrHostKey, s.addr, s.knownHosts, cfg.HostKeyAlgorithms, neg.RequestedAlgorithms)
		}
		return nil, fmt.Errorf("ssh to %s as %s: %w", s.addr, s.user, err)
	}
	client := ssh.NewClient(sc, chans, reqs)
	sc2, err := sftp.NewClient(client)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("start sftp on %s: %w", s.addr, err)
	}
	c := &sftpConn{ssh: client, sftp: sc2, done: make(chan struct{})}
	if !stop() {
		c.close()
		return nil, fmt.Errorf("connect to %s: %w", s.addr, ctx.Err())
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		c.close()
		return nil, fmt.Errorf("connect to %s: %w", s.addr, err)
	}
	return c, nil
}

// checkHostKey checks key against known_hosts and, when it fails, says what
// happened and what to do in words an operator can act on.
func (s *SFTP) checkHostKey(host string, remote net.Addr, key ssh.PublicKey) error {
	err := s.hostKeys(host, remote, key)
	if err == nil {
		return nil
	}
	fp := key.Type() + " " + ssh.FingerprintSHA256(key)
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case errors.As(err, &revoked):
		return fmt.Errorf("%w: %s presented the key %s, which known_hosts %s (line %d) marks as revoked; "+
			"the connection was refused", ErrHostKey, s.addr, fp, revoked.Revoked.Filename, revoked.Revoked.Line)
	case errors.As(err, &keyErr) && len(keyErr.Want) == 0:
		h, p, _ := net.SplitHostPort(s.addr)
		return fmt.Errorf("%w: %s is not listed in known_hosts %s (it presented the key %s); "+
			"check that fingerprint with the SFTP provider, then add the key with: ssh-keyscan -p %s %s >> %s",
			ErrHostKey, s.addr, s.knownHosts, fp, p, h, s.knownHosts)
	case errors.As(err, &keyErr):
		return fmt.Errorf("%w: %s presented the key %s, which does not match known_hosts %s (line %d); "+
			"the connection was refused before logging in. It may be an attack (man in the middle); "+
			"if the provider really changed the server's key, check the new fingerprint with them and update the file",
			ErrHostKey, s.addr, fp, s.knownHosts, keyErr.Want[0].Line)
	}
	return fmt.Errorf("%w: %s: %v", ErrHostKey, s.addr, err)
}

// hostKeyAlgorithms returns the algorithms of the keys known_hosts lists for
// the server, so that the server is asked for a key we can check (it may
// hold several); nil, the library's defaults, when none is listed.
func (s *SFTP) hostKeyAlgorithms(remote net.Addr) []string {
	var keyErr *knownhosts.KeyError
	if !errors.As(s.hostKeys(s.addr, remote, s.probe), &keyErr) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, k := range keyErr.Want {
		t := k.Key.Type()
		names := []string{t}
		if t == ssh.KeyAlgoRSA {
			// An RSA key signs with SHA-2 today; SHA-1 stays refused.
			names = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
		}
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				algos = append(algos, n)
			}
		}
	}
	return algos
}

// keepAlive pings the server every half IOTimeout and drops the connection
// when a ping is not answered within half IOTimeout: a server or network
// that went silent would otherwise block a read forever.
func (s *SFTP) keepAlive(c *sftpConn) {
	every := s.io / 2
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := c.ssh.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		timer := time.NewTimer(every)
		select {
		case err := <-reply:
			timer.Stop()
			if err != nil {
				s.drop(c)
				return
			}
		case <-timer.C:
			s.log.Warn("sftp: server silent, connection dropped", "server", s.where, "io_timeout", s.io.String())
			s.drop(c)
			return
		case <-c.done:
			timer.Stop()
			return
		}
	}
}

// drop closes c and forgets it, so that the next call connects again.
func (s *SFTP) drop(c *sftpConn) {
	s.mu.Lock()
	if s.conn == c {
		s.conn = nil
	}
	s.mu.Unlock()
	c.close()
}

// watch drops c when err is a connection failure rather than a file error
// (missing file, permission...), and returns err.
func (s *SFTP) watch(c *sftpConn, err error) error {
	if err == nil {
		return nil
	}
	var status *sftp.StatusError
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrExist),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &status) && status.FxCode() != sftp.ErrSSHFxNoConnection &&
		status.FxCode() != sftp.ErrSSHFxConnectionLost:
		return err
	}
	s.log.Warn("sftp: connection dropped after an error; the next poll reconnects",
		"server", s.where, "err", err.Error())
	s.drop(c)
	return err
}

func (s *SFTP) remote(name string) string { return path.Join(s.dir, name) }

// List returns the regular files of the remote folder (not its subfolders).
func (s *SFTP) List(ctx context.Context) ([]File, error) {
	c, err := s.session(ctx)
	if err != nil {
		return nil, err
	}
	// SFTP servers list entries with lstat: links show as links.
	infos, err := c.sftp.ReadDirContext(ctx, s.dir)
	if err := s.watch(c, err); err != nil {
		return nil, fmt.Errorf("list %s: %w", s.where, err)
	}
	return s.lister.files(s.where, infos), nil
}

// Open opens name for reading, refusing anything but a regular file.
func (s *SFTP) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("open %q: %w", name, err)
	}
	c, err := s.session(ctx)
	if err != nil {
		return nil, err
	}
	p := s.remote(name)
	// SFTP opens follow links and cannot compare inodes; checking the
	// entry first, then the opened file, is the best it allows.
	lst, err := c.sftp.Lstat(p)
	if err := s.watch(c, err); err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if !lst.Mode().IsRegular() {
		return nil, fmt.Errorf("open %s: not a regular file", name)
	}
	f, err := c.sftp.Open(p)
	if err := s.watch(c, err); err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	st, err := f.Stat()
	if err := s.watch(c, err); err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if !st.Mode().IsRegular() || st.Size() != lst.Size() {
		f.Close()
		return nil, fmt.Errorf("open %s: the file was replaced while it was being opened", name)
	}
	return &remoteFile{s: s, c: c, f: f}, nil
}

// remoteFile drops the connection when a read fails for network reasons.
type remoteFile struct {
	s *SFTP
	c *sftpConn
	f *sftp.File
}

func (r *remoteFile) Read(b []byte) (int, error) {
	n, err := r.f.Read(b)
	if err != nil && !errors.Is(err, io.EOF) {
		err = r.s.watch(r.c, err)
	}
	return n, err
}

func (r *remoteFile) Close() error { return r.s.watch(r.c, r.f.Close()) }

// Done moves name to the processed folder or deletes it.
func (s *SFTP) Done(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := s.session(ctx)
	if err != nil {
		return err
	}
	return s.dispo.apply(fileOps{
		lstat: func(n string) (fs.FileInfo, error) {
			fi, err := c.sftp.Lstat(s.remote(n))
			return fi, s.watch(c, err)
		},
		mkdir:  func(n string) error { return s.watch(c, c.sftp.Mkdir(s.remote(n))) },
		rename: func(from, to string) error { return s.watch(c, c.sftp.Rename(s.remote(from), s.remote(to))) },
		remove: func(n string) error { return s.watch(c, c.sftp.Remove(s.remote(n))) },
	}, name)
}

// Close closes the connection; the inbox cannot be used afterwards.
func (s *SFTP) Close() error {
	s.mu.Lock()
	c := s.conn
	s.conn, s.closed = nil, true
	s.mu.Unlock()
	if c != nil {
		c.close()
	}
	return nil
}
