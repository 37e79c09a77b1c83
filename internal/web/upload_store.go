package web

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"plateau/internal/vault"
)

// An upload waits between its preview and the "Load" button in a pending
// file: sealed, chunk by chunk, with the mission's data key, so that no
// lead is ever on disk in clear, whatever the folder. The folder is under
// the system's temporary directory, named after a key derived from the
// vault: stable across restarts (a restart sweeps what an earlier run left)
// and distinct for each installation.
//
// A pending file is a sequence of records, each a 4-byte big-endian length
// and a sealed value: the metadata (JSON), the data chunks, then an end
// record holding the size, so that a truncated file is never taken for a
// shorter upload.

const (
	// maxUploadBytes bounds an uploaded file.
	maxUploadBytes = 200 << 20
	// uploadTTL is how long a pending upload waits for its "Load".
	uploadTTL = time.Hour
	// uploadChunk is the size of a sealed chunk of a pending upload.
	uploadChunk = 1 << 20
	// maxSealedRecord bounds one record of a pending file when it is read.
	maxSealedRecord = uploadChunk + 1024
)

// pendingUpload describes a file between its preview and its load.
type pendingUpload struct {
	ID      string    `json:"-"`
	Mission int       `json:"mission"`
	Name    string    `json:"name"` // sanitised
	User    int64     `json:"user"` // only the uploader may load it
	Size    int64     `json:"-"`
	Created time.Time `json:"created"`
}

var uploadIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// errUploadGone: the pending upload expired, was loaded already, or never
// existed.
var errUploadGone = errors.New("no such pending upload")

// uploadDir returns the folder of the pending uploads, made if needed
// (mode 0700).
func (s *Server) uploadDir(ctx context.Context) (string, error) {
	k, err := s.vault.DeriveKey(ctx, "web-pending-uploads")
	if err != nil {
		return "", fmt.Errorf("pending uploads folder: %w", err)
	}
	base := s.cfg.WorkDir
	if base == "" {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "plateau-uploads-"+hex.EncodeToString(k[:8]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("pending uploads folder: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", fmt.Errorf("pending uploads folder: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("pending uploads folder %s is not a folder", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return "", fmt.Errorf("pending uploads folder: %w", err)
		}
	}
	return dir, nil
}

// sweepUploads removes the pending files older than uploadTTL, and the
// partial ones a dead request left.
func (s *Server) sweepUploads(ctx context.Context) {
	dir, err := s.uploadDir(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "web: sweep pending uploads", "error", err.Error())
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		s.log.WarnContext(ctx, "web: sweep pending uploads", "error", err.Error())
		return
	}
	cutoff := s.now().Add(-uploadTTL)
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue
		}
		// A preview's folder of outputs left by a crash goes too.
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err == nil {
			s.log.InfoContext(ctx, "web: expired pending upload removed", "file", e.Name())
		}
	}
}

func uploadAD(id, what string) vault.AD {
	return vault.AD{Table: "web_pending_upload", Column: what, Row: id}
}

func missionVaultScope(mission int) string { return "mission:" + strconv.Itoa(mission) }

// storeUpload seals src into a new pending file and returns it. On any
// error nothing is left behind.
func (s *Server) storeUpload(ctx context.Context, pu pendingUpload, src io.Reader) (pendingUpload, error) {
	dir, err := s.uploadDir(ctx)
	if err != nil {
		return pendingUpload{}, err
	}
	var idb [16]byte
	_, _ = rand.Read(idb[:]) // crypto/rand.Read never fails on supported platforms
	pu.ID = hex.EncodeToString(idb[:])
	pu.Created = s.now()
	part := filepath.Join(dir, pu.ID+".part")
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return pendingUpload{}, fmt.Errorf("create pending upload: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			_ = os.Remove(part)
		}
	}()
	w := bufio.NewWriterSize(f, 64<<10)
	scope := missionVaultScope(pu.Mission)
	put := func(plain []byte, ad vault.AD) error {
		sealed, err := s.vault.Seal(ctx, scope, plain, ad)
		if err != nil {
			return fmt.Errorf("seal pending upload: %w", err)
		}
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(sealed)))
		if _, err := w.Write(n[:]); err != nil {
			return fmt.Errorf("write pending upload: %w", err)
		}
		if _, err := w.Write(sealed); err != nil {
			return fmt.Errorf("write pending upload: %w", err)
		}
		return nil
	}
	meta, err := json.Marshal(pu)
	if err != nil {
		return pendingUpload{}, fmt.Errorf("pending upload: %w", err)
	}
	if err := put(meta, uploadAD(pu.ID, "meta")); err != nil {
		return pendingUpload{}, err
	}
	buf := make([]byte, uploadChunk)
	for seq := 0; ; seq++ {
		n, rerr := io.ReadFull(src, buf)
		if n > 0 {
			pu.Size += int64(n)
			if err := put(buf[:n], uploadAD(pu.ID+"/"+strconv.Itoa(seq), "chunk")); err != nil {
				return pendingUpload{}, err
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return pendingUpload{}, fmt.Errorf("receive upload: %w", rerr)
		}
	}
	if err := put([]byte(strconv.FormatInt(pu.Size, 10)), uploadAD(pu.ID, "end")); err != nil {
		return pendingUpload{}, err
	}
	if err := w.Flush(); err != nil {
		return pendingUpload{}, fmt.Errorf("write pending upload: %w", err)
	}
	if err := f.Close(); err != nil {
		return pendingUpload{}, fmt.Errorf("write pending upload: %w", err)
	}
	if err := os.Rename(part, filepath.Join(dir, pu.ID+".upload")); err != nil {
		return pendingUpload{}, fmt.Errorf("keep pending upload: %w", err)
	}
	ok = true
	return pu, nil
}

// pendingFile is the path of a pending upload in a state: "upload"
// (waiting) or "loading" (claimed by a load).
func (s *Server) pendingFile(ctx context.Context, id, state string) (string, error) {
	if !uploadIDRE.MatchString(id) {
		return "", errUploadGone
	}
	dir, err := s.uploadDir(ctx)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, id+"."+state), nil
}

// claimUpload moves a waiting upload to the loading state, so that a
// second click on "Load" finds nothing, and returns its path.
func (s *Server) claimUpload(ctx context.Context, id string) (string, error) {
	from, err := s.pendingFile(ctx, id, "upload")
	if err != nil {
		return "", err
	}
	to := strings.TrimSuffix(from, ".upload") + ".loading"
	if err := os.Rename(from, to); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", errUploadGone
		}
		return "", fmt.Errorf("claim pending upload: %w", err)
	}
	// A claimed file is swept like a waiting one if its load never ends.
	now := s.now()
	_ = os.Chtimes(to, now, now)
	return to, nil
}

// pendingReader reads a pending file back, unsealing it as it goes.
type pendingReader struct {
	ctx   context.Context
	s     *Server
	f     *os.File
	br    *bufio.Reader
	meta  pendingUpload
	seq   int
	chunk []byte
	read  int64
	done  bool
}

// openPending opens a pending file and reads its metadata.
func (s *Server) openPending(ctx context.Context, path, id string) (*pendingReader, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errUploadGone
	}
	if err != nil {
		return nil, fmt.Errorf("open pending upload: %w", err)
	}
	pr := &pendingReader{ctx: ctx, s: s, f: f, br: bufio.NewReaderSize(f, 64<<10)}
	meta, err := pr.record(uploadAD(id, "meta"))
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := json.Unmarshal(meta, &pr.meta); err != nil {
		f.Close()
		return nil, fmt.Errorf("pending upload metadata: %w", err)
	}
	pr.meta.ID = id
	return pr, nil
}

// sealed reads the next record's sealed bytes.
func (pr *pendingReader) sealed() ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(pr.br, n[:]); err != nil {
		return nil, fmt.Errorf("pending upload %s is truncated: %w", pr.meta.ID, err)
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxSealedRecord {
		return nil, fmt.Errorf("pending upload %s is damaged", pr.meta.ID)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(pr.br, b); err != nil {
		return nil, fmt.Errorf("pending upload %s is truncated: %w", pr.meta.ID, err)
	}
	return b, nil
}

func (pr *pendingReader) record(ad vault.AD) ([]byte, error) {
	b, err := pr.sealed()
	if err != nil {
		return nil, err
	}
	plain, err := pr.s.vault.Open(pr.ctx, b, ad)
	if err != nil {
		return nil, fmt.Errorf("open pending upload %s: %w", pr.meta.ID, err)
	}
	return plain, nil
}

// Read returns the upload's bytes; the end record is checked before io.EOF.
func (pr *pendingReader) Read(p []byte) (int, error) {
	for len(pr.chunk) == 0 {
		if pr.done {
			return 0, io.EOF
		}
		if err := pr.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, pr.chunk)
	pr.chunk = pr.chunk[n:]
	pr.read += int64(n)
	return n, nil
}

// next reads the next data chunk, or the end record, which must count the
// bytes read.
func (pr *pendingReader) next() error {
	b, err := pr.sealed()
	if err != nil {
		return err
	}
	plain, err := pr.s.vault.Open(pr.ctx, b, uploadAD(pr.meta.ID+"/"+strconv.Itoa(pr.seq), "chunk"))
	if err == nil {
		pr.seq++
		pr.chunk = plain
		return nil
	}
	end, eerr := pr.s.vault.Open(pr.ctx, b, uploadAD(pr.meta.ID, "end"))
	if eerr != nil {
		return fmt.Errorf("open pending upload %s: %w", pr.meta.ID, err)
	}
	if size, perr := strconv.ParseInt(string(end), 10, 64); perr != nil || size != pr.read {
		return fmt.Errorf("pending upload %s: %d bytes read, the end record says otherwise", pr.meta.ID, pr.read)
	}
	pr.done = true
	return nil
}

// Close closes the file.
func (pr *pendingReader) Close() error { return pr.f.Close() }
