package notify

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A real SMTP server for the tests: Debian's python3-aiosmtpd driven by
// testdata/smtpd.py, requiring STARTTLS (or implicit TLS) and AUTH, with a
// throwaway self-signed certificate made here.

// testServerName is the only name the test certificate carries (no IP
// address), so connecting to 127.0.0.1 verifies only with server_name set.
const testServerName = "smtp.plateau.test"

const (
	testUser     = "robot@plateau.test"
	testPassword = "correct horse battery staple"
)

type testSMTP struct {
	Port     int
	Dir      string // received messages
	CAFile   string // the server's self-signed certificate
	Implicit bool
}

// python3WithAiosmtpd finds an interpreter that can import aiosmtpd: the
// Debian package installs it for /usr/bin/python3, which a pyenv or venv
// python3 on PATH may hide. PLATEAU_TEST_PYTHON overrides the search.
func python3WithAiosmtpd(t *testing.T) string {
	t.Helper()
	var candidates []string
	if p := os.Getenv("PLATEAU_TEST_PYTHON"); p != "" {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/usr/bin/python3")
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		if exec.Command(p, "-c", "import aiosmtpd").Run() == nil {
			return p
		}
	}
	msg := "SMTP tests need python3 with aiosmtpd: apt-get install python3-aiosmtpd (or set PLATEAU_TEST_PYTHON)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// writeTestCert writes a self-signed ECDSA certificate for testServerName
// and its key as PEM files in dir.
func writeTestCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: testServerName},
		DNSNames:              []string{testServerName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// freePort returns a loopback port nobody listens on (now).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newTestSMTP prepares a server (certificate, folders, port) without
// starting it, so a test can first see delivery fail.
func newTestSMTP(t *testing.T, implicit bool) *testSMTP {
	t.Helper()
	dir := t.TempDir()
	cert, _ := writeTestCert(t, dir)
	mails := filepath.Join(dir, "mails")
	if err := os.Mkdir(mails, 0o700); err != nil {
		t.Fatal(err)
	}
	return &testSMTP{Port: freePort(t), Dir: mails, CAFile: cert, Implicit: implicit}
}

// startTestSMTP starts a server listening on a fresh port.
func startTestSMTP(t *testing.T, implicit bool) *testSMTP {
	t.Helper()
	s := newTestSMTP(t, implicit)
	s.Start(t)
	return s
}

// lockedBuffer collects a child's stderr while the test may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start runs the server until the test ends.
func (s *testSMTP) Start(t *testing.T) {
	t.Helper()
	python := python3WithAiosmtpd(t)
	dir := filepath.Dir(s.CAFile)
	args := []string{filepath.Join("testdata", "smtpd.py"),
		"--port", strconv.Itoa(s.Port),
		"--cert", s.CAFile, "--key", filepath.Join(dir, "key.pem"),
		"--user", testUser, "--password", testPassword}
	if s.Implicit {
		args = append(args, "--implicit")
	}
	cmd := exec.Command(python, append(args, s.Dir)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start SMTP server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		stdin.Close() // the server stops when its input closes
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("SMTP server log:\n%s", stderr.String())
		}
	})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-ready:
		if line != "ready" {
			t.Fatalf("SMTP server did not start (%q):\n%s", line, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("SMTP server not ready after 30s:\n%s", stderr.String())
	}
}

// Config is the client configuration that the server accepts.
func (s *testSMTP) Config() SMTPConfig {
	mode := StartTLS
	if s.Implicit {
		mode = ImplicitTLS
	}
	return SMTPConfig{
		Host:       "127.0.0.1",
		Port:       s.Port,
		TLS:        mode,
		ServerName: testServerName,
		CAFile:     s.CAFile,
		Auth:       AuthPlain,
		Username:   testUser,
		Password:   testPassword,
		From:       "Plateau <plateau@plateau.test>",
		Timeout:    10 * time.Second,
	}
}

// received is one message the server accepted.
type received struct {
	Session struct {
		StartTLS      bool     `json:"starttls"`
		ImplicitTLS   bool     `json:"implicit_tls"`
		Authenticated bool     `json:"authenticated"`
		Login         string   `json:"login"`
		MailFrom      string   `json:"mail_from"`
		RcptTos       []string `json:"rcpt_tos"`
	}
	Header  mail.Header
	Subject string // decoded
	Text    string // decoded text/plain part
	HTML    string // decoded text/html part, if any
}

// Received returns the messages stored so far, in arrival order.
func (s *testSMTP) Received(t *testing.T) []received {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(s.Dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	var out []received
	for _, name := range names {
		var r received
		meta, err := os.ReadFile(strings.TrimSuffix(name, ".eml") + ".json")
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(meta, &r.Session); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		parseMail(t, raw, &r)
		out = append(out, r)
	}
	return out
}

// WaitReceived waits until n messages have arrived and returns them.
func (s *testSMTP) WaitReceived(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.Received(t)
		if len(got) >= n || time.Now().After(deadline) {
			if len(got) != n {
				t.Fatalf("server received %d messages, want %d", len(got), n)
			}
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func parseMail(t *testing.T, raw []byte, r *received) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("received message does not parse: %v", err)
	}
	r.Header = m.Header
	if r.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatalf("subject: %v", err)
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("content type: %v", err)
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		r.Text = decodePart(t, m.Header.Get("Content-Transfer-Encoding"), m.Body)
		return
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		body := decodePart(t, p.Header.Get("Content-Transfer-Encoding"), p)
		switch ct := p.Header.Get("Content-Type"); {
		case strings.HasPrefix(ct, "text/plain"):
			r.Text = body
		case strings.HasPrefix(ct, "text/html"):
			r.HTML = body
		}
	}
}

func decodePart(t *testing.T, encoding string, body io.Reader) string {
	t.Helper()
	if strings.EqualFold(encoding, "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}
