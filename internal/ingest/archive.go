package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"time"

	"plateau/internal/db"
	"plateau/internal/vault"
)

// The original of a batch is kept in the database, in chunks sealed one by
// one with the mission's data key: every node can resume any batch (the
// nodes share nothing but the database), backups hold the originals, and
// crypto-shredding a mission erases them. Chunks keep memory bounded
// whatever the file's size.
const (
	archiveChunkSize = 1 << 20
	// archiveChunksPerTx is how many chunks commit together while a file
	// is received (8 MiB): few enough to keep the single SQLite writer
	// free for others, enough to amortise the commits.
	archiveChunksPerTx = 8
	// archiveReadAhead is how many opened chunks wait for the pipeline.
	archiveReadAhead = 2
)

func archiveAD(batch int64, seq int) vault.AD {
	return vault.AD{Table: "batch_archive", Column: "chunk", Row: strconv.FormatInt(batch, 10) + "/" + strconv.Itoa(seq)}
}

// receipt is what receiving a file found out.
type receipt struct {
	sum    [sha256.Size]byte
	size   int64
	chunks int
}

type sealedChunk struct {
	seq  int
	data []byte
	err  error
}

// receive streams r into the archive of batch b (status receiving) and
// returns the content's hash and size. Reading and sealing run on their own
// goroutine while the chunks are written, so a slow source and the
// database overlap.
func (s *Service) receive(ctx context.Context, b *Batch, r io.Reader, progress func(int64)) (receipt, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	scope := missionScope(b.Mission)
	chunks := make(chan sealedChunk, archiveChunksPerTx)
	var rc receipt
	go func() {
		defer close(chunks)
		h := sha256.New()
		buf := make([]byte, archiveChunkSize)
		for seq := 0; ; seq++ {
			n, err := io.ReadFull(r, buf)
			if n > 0 {
				rc.size += int64(n)
				if rc.size > s.opt.MaxSize {
					chunks <- sealedChunk{err: fmt.Errorf("%w: more than %d bytes", ErrTooLarge, s.opt.MaxSize)}
					return
				}
				h.Write(buf[:n])
				sealed, serr := s.v.Seal(ctx, scope, buf[:n], archiveAD(b.ID, seq))
				if serr != nil {
					chunks <- sealedChunk{err: fmt.Errorf("seal the original: %w", serr)}
					return
				}
				rc.chunks = seq + 1
				select {
				case chunks <- sealedChunk{seq: seq, data: sealed}:
				case <-ctx.Done():
					return
				}
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				h.Sum(rc.sum[:0])
				return
			}
			if err != nil {
				chunks <- sealedChunk{err: fmt.Errorf("read the file: %w", err)}
				return
			}
		}
	}()
	// drain lets the reader finish before returning, so that it never
	// reads from r after the caller closed it.
	drain := func() {
		cancel()
		for range chunks {
		}
	}
	pending := make([]sealedChunk, 0, archiveChunksPerTx)
	var written int64
	for {
		c, ok := <-chunks
		if ok && c.err != nil {
			drain()
			return receipt{}, c.err
		}
		if ok {
			pending = append(pending, c)
			written += int64(len(c.data))
		}
		if len(pending) == archiveChunksPerTx || (!ok && len(pending) > 0) {
			if err := s.writeChunks(ctx, b.ID, pending); err != nil {
				drain()
				return receipt{}, err
			}
			pending = pending[:0]
			if progress != nil {
				progress(written)
			}
		}
		if !ok {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return receipt{}, err
	}
	return rc, nil
}

// writeChunks stores sealed chunks and the batch's heartbeat.
func (s *Service) writeChunks(ctx context.Context, batch int64, cs []sealedChunk) error {
	err := s.d.Tx(ctx, func(tx *db.Tx) error {
		if s.q.asyncCommit != "" {
			// Registration commits synchronously, after every chunk.
			if _, err := tx.ExecContext(ctx, s.q.asyncCommit); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, sqlReceiving, db.Millis(s.now()), batch)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errors.New("the batch was abandoned meanwhile (no heartbeat for too long)")
		}
		for _, c := range cs {
			if _, err := tx.ExecContext(ctx, sqlInsertChunk, batch, c.seq, c.data); err != nil {
				return err
			}
		}
		s.at("receive", batch, 0)
		return nil
	})
	if err != nil {
		return fmt.Errorf("archive batch %d: %w", batch, err)
	}
	return nil
}

// archiveReader reads a batch's original back from its sealed chunks,
// checking it against the size and SHA-256 recorded at receipt. A
// goroutine reads and opens the next chunks while the pipeline parses.
type archiveReader struct {
	pieces chan sealedChunk
	cur    []byte
	err    error
	cancel context.CancelFunc
}

func (s *Service) openArchive(ctx context.Context, b Batch) *archiveReader {
	ctx, cancel := context.WithCancel(ctx)
	ar := &archiveReader{pieces: make(chan sealedChunk, archiveReadAhead), cancel: cancel}
	go func() {
		defer close(ar.pieces)
		var (
			h    hash.Hash = sha256.New()
			size int64
		)
		send := func(c sealedChunk) bool {
			select {
			case ar.pieces <- c:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for seq := range b.chunks {
			var sealed []byte
			if err := s.d.QueryRowContext(ctx, sqlArchiveChunk, b.ID, seq).Scan(&sealed); err != nil {
				send(sealedChunk{err: fmt.Errorf("read chunk %d of the original: %w", seq, err)})
				return
			}
			plain, err := s.v.Open(ctx, sealed, archiveAD(b.ID, seq))
			if err != nil {
				send(sealedChunk{err: &archiveError{fmt.Sprintf("chunk %d of the original does not open: %v", seq, err)}})
				return
			}
			h.Write(plain)
			size += int64(len(plain))
			if !send(sealedChunk{seq: seq, data: plain}) {
				return
			}
		}
		if size != b.Size || !bytes.Equal(h.Sum(nil), b.sum) {
			send(sealedChunk{err: &archiveError{"the archived original does not match the size and SHA-256 recorded at receipt"}})
		}
	}()
	return ar
}

// archiveError is a damaged or unreadable original: the batch cannot be
// processed.
type archiveError struct{ msg string }

func (e *archiveError) Error() string { return e.msg }

func (ar *archiveReader) Read(p []byte) (int, error) {
	for len(ar.cur) == 0 {
		if ar.err != nil {
			return 0, ar.err
		}
		c, ok := <-ar.pieces
		switch {
		case !ok:
			ar.err = io.EOF
		case c.err != nil:
			ar.err = c.err
		default:
			ar.cur = c.data
		}
	}
	n := copy(p, ar.cur)
	ar.cur = ar.cur[n:]
	return n, nil
}

// Close stops the read-ahead and waits for it.
func (ar *archiveReader) Close() {
	ar.cancel()
	for range ar.pieces {
	}
}

// discard removes a batch that is still receiving, and its chunks: its
// content was loaded already, or receiving it failed.
func (s *Service) discard(ctx context.Context, batch int64) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	return s.d.Tx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, sqlDeleteArchive, batch); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, sqlDeleteReceiving, batch)
		return err
	})
}
