package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"plateau/internal/db"
)

// checkpointDomain starts every signed checkpoint message, so a signature
// made for anything else never passes for a checkpoint.
const checkpointDomain = "plateau/audit/checkpoint/v1"

// finalCheckpointTimeout bounds the last checkpoint Run writes once its
// context has ended.
const finalCheckpointTimeout = 10 * time.Second

// checkpoint is one line of the checkpoint file. Key is the signer's public
// key, for people and tools reading the file; Verify ignores it and checks
// Sig with the public half of the signing key file.
type checkpoint struct {
	ID   int64  `json:"id"`   // last row id covered
	Hash string `json:"hash"` // that row's hash, hex
	At   string `json:"at"`   // RFC 3339, UTC
	Key  string `json:"key"`  // Ed25519 public key, base64
	Sig  string `json:"sig"`  // Ed25519 signature of checkpointMessage, base64
}

// checkpointMessage is what a checkpoint's signature covers: the domain,
// the row id, the raw hash and the time text, each length-prefixed.
func checkpointMessage(id int64, hash []byte, at string) []byte {
	var b bytes.Buffer
	field(&b, []byte(checkpointDomain))
	intField(&b, id)
	field(&b, hash)
	field(&b, []byte(at))
	return b.Bytes()
}

// Checkpoint signs and writes the current chain head if it moved since the
// last checkpoint.
//
// It refuses (with an error) to sign a head that does not extend the last
// checkpoint (fewer rows, or the same row with another hash): that means the
// table was truncated or rewritten, and signing it would bury the evidence.
func (l *Log) Checkpoint(ctx context.Context) error {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	// The file first, then the head: the head only moves forward, so a last
	// checkpoint ahead of it means tampering, even if another process (the
	// command line) appends to the same file meanwhile.
	last, torn, err := lastCheckpoint(l.opt.CheckpointFile)
	if err != nil {
		return fmt.Errorf("audit: checkpoint: %w", err)
	}
	id, hash, found, err := readHead(ctx, l.d)
	if err != nil {
		return fmt.Errorf("audit: checkpoint: %w", err)
	}
	if !found {
		return errors.New("audit: checkpoint: the chain head row is missing; run audit verify")
	}
	if id == 0 {
		return nil // an empty chain: nothing to vouch for yet
	}
	hexHash := hex.EncodeToString(hash)
	if last != nil {
		if last.ID == id && last.Hash == hexHash {
			return nil
		}
		if last.ID >= id {
			return fmt.Errorf("audit: checkpoint: the chain head (row %d) does not extend the last checkpoint (row %d); run audit verify", id, last.ID)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("audit: checkpoint: %w", err)
	}
	at := l.opt.Now().UTC().Format(time.RFC3339)
	line, err := json.Marshal(checkpoint{
		ID:   id,
		Hash: hexHash,
		At:   at,
		Key:  base64.StdEncoding.EncodeToString(l.pub),
		Sig:  base64.StdEncoding.EncodeToString(ed25519.Sign(l.key, checkpointMessage(id, hash, at))),
	})
	if err != nil {
		return fmt.Errorf("audit: checkpoint: %w", err)
	}
	line = append(line, '\n')
	if torn {
		// End the fragment a crash left behind, so our line stays whole.
		line = append([]byte{'\n'}, line...)
	}
	if err := appendDurably(l.opt.CheckpointFile, line); err != nil {
		return fmt.Errorf("audit: checkpoint: %w", err)
	}
	return nil
}

// Run writes a checkpoint every Interval when events arrived, and a last one
// when ctx ends.
func (l *Log) Run(ctx context.Context) {
	t := time.NewTicker(l.opt.Interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := l.Checkpoint(ctx); err != nil && ctx.Err() == nil {
				slog.ErrorContext(ctx, "audit checkpoint failed", "err", err)
			}
		case <-ctx.Done():
			// The events of the last interval deserve a checkpoint too, even
			// though the caller's context is over.
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalCheckpointTimeout)
			if err := l.Checkpoint(final); err != nil {
				slog.ErrorContext(final, "audit final checkpoint failed", "err", err)
			}
			cancel()
			return
		}
	}
}

// readHead returns the chain head; found is false when its row is gone.
func readHead(ctx context.Context, q db.Querier) (id int64, hash []byte, found bool, err error) {
	err = q.QueryRowContext(ctx, qReadHead).Scan(&id, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, fmt.Errorf("read the chain head: %w", err)
	}
	return id, hash, true, nil
}

// tailWindow is how much of the checkpoint file's end lastCheckpoint reads;
// a line is a few hundred bytes.
const tailWindow = 8 << 10

// lastCheckpoint returns the file's last checkpoint (nil if the file is
// missing, empty or its last line is not a checkpoint) and whether the file
// ends with a fragment that lacks its newline (a write cut by a crash).
func lastCheckpoint(path string) (last *checkpoint, torn bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("open checkpoint file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("stat checkpoint file: %w", err)
	}
	size := st.Size()
	if size == 0 {
		return nil, false, nil
	}
	n := min(size, tailWindow)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, size-n); err != nil && !errors.Is(err, io.EOF) {
		return nil, false, fmt.Errorf("read checkpoint file: %w", err)
	}
	torn = buf[len(buf)-1] != '\n'
	if torn {
		i := bytes.LastIndexByte(buf, '\n')
		if i < 0 {
			return nil, true, nil
		}
		buf = buf[:i]
	}
	buf = bytes.TrimRight(buf, "\r\n")
	start := bytes.LastIndexByte(buf, '\n') + 1
	if start == 0 && n < size {
		slog.Warn("audit checkpoint file ends with an oversized line; writing a fresh checkpoint")
		return nil, torn, nil
	}
	var cp checkpoint
	if err := json.Unmarshal(buf[start:], &cp); err != nil {
		slog.Warn("audit checkpoint file ends with a line that is not a checkpoint; writing a fresh checkpoint")
		return nil, torn, nil
	}
	return &cp, torn, nil
}

// appendDurably appends line to the file (created 0600, its folder 0700) and
// syncs it before returning, so a checkpoint reported written survives a
// crash.
func appendDurably(path string, line []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create checkpoint folder: %w", err)
	}
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open checkpoint file: %w", err)
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return fmt.Errorf("write checkpoint file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync checkpoint file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close checkpoint file: %w", err)
	}
	if created {
		syncDir(dir)
	}
	return nil
}

// syncDir makes a new directory entry durable. Best effort: some systems
// (Windows) cannot open a directory for syncing, and the data itself is
// already synced.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// loadOrCreateKey reads the PKCS #8 PEM Ed25519 key at path, creating it
// (0600, its folder 0700) when missing.
func loadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := createKey(path); err != nil {
			return nil, fmt.Errorf("audit: create signing key: %w", err)
		}
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("audit: read signing key: %w", err)
	}
	if runtime.GOOS != "windows" {
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			slog.Warn("audit signing key file is readable by other users; it should be mode 0600", "path", path)
		}
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("audit: signing key %s: not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("audit: signing key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("audit: signing key %s: not an Ed25519 key", path)
	}
	return key, nil
}

// createKey writes a new key to a temporary file and links it into place, so
// that the key file is never seen half-written and, if two processes race,
// both end up using the one that won.
func createKey(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".audit-signing-key-*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	syncDir(dir)
	return nil
}
