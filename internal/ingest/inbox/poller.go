package inbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Defaults of PollerOptions.
const (
	DefaultInterval   = time.Minute
	DefaultStableFor  = 30 * time.Second
	DefaultRetryAfter = 10 * time.Minute
	DefaultMaxSize    = 2 << 30 // 2 GiB
)

// PollerOptions tune a Poller; zero values take the defaults.
type PollerOptions struct {
	// Interval is the time between two polls in Run.
	Interval time.Duration
	// StableFor is how long a file's size and modification time must stay the
	// same, across polls, before the file is taken. The wait starts at the
	// first poll that sees the file as it now is (the server's clock is not
	// trusted), so a file is taken at the first poll at least StableFor
	// after the one that saw its last change.
	StableFor time.Duration
	// RetryAfter is how long a file whose load failed is left alone before it
	// is offered again; a new version of the file (other size or time) is
	// offered as soon as it is stable.
	RetryAfter time.Duration
	// MaxSize is the largest file taken, in bytes; larger files are logged and
	// left in the inbox.
	MaxSize int64
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives the poller's events; slog.Default() when nil.
	Logger *slog.Logger
}

// Result says what one poll did. Names are in the order they were handled.
type Result struct {
	// Loaded files were handled, then moved or deleted.
	Loaded []string
	// Failed files could not be opened, loaded or moved; they stay in the
	// inbox and are offered again after RetryAfter.
	Failed []string
	// Pending files were left for a later poll: still changing, seen too
	// recently to be known stable, too large, or waiting to be retried.
	Pending []string
}

// Poller takes the files of one inbox once they are stable and hands them to
// a Handler, one at a time, in name order (clients name their files by date,
// so name order is also arrival order, and it does not depend on the
// server's clock).
type Poller struct {
	name string
	in   Inbox
	h    Handler
	opt  PollerOptions
	log  *slog.Logger

	mu   sync.Mutex // one poll at a time: one file handled at a time
	seen map[string]*sighting
}

// sighting is what the poller remembers of a file between polls.
type sighting struct {
	size    int64
	modTime time.Time
	since   time.Time // first poll that saw this size and time
	failed  time.Time // last failed load of this version; zero if none
	tooBig  bool      // already logged as too large
}

// NewPoller returns a poller of in named name (the source handed to h and
// written in logs). The caller keeps ownership of in and closes it after Run.
func NewPoller(name string, in Inbox, h Handler, opt PollerOptions) *Poller {
	if opt.Interval <= 0 {
		opt.Interval = DefaultInterval
	}
	if opt.StableFor <= 0 {
		opt.StableFor = DefaultStableFor
	}
	if opt.RetryAfter <= 0 {
		opt.RetryAfter = DefaultRetryAfter
	}
	if opt.MaxSize <= 0 {
		opt.MaxSize = DefaultMaxSize
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Poller{
		name: name, in: in, h: h, opt: opt,
		log:  log.With("inbox", name),
		seen: map[string]*sighting{},
	}
}

// Run polls at once, then every Interval, until ctx is cancelled; it then
// returns nil. A poll that fails (server unreachable...) is logged and the
// next poll tries again, reconnecting if needed.
func (p *Poller) Run(ctx context.Context) error {
	t := time.NewTicker(p.opt.Interval)
	defer t.Stop()
	failures := 0
	for {
		_, err := p.PollOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			// An outage lasts many polls: say it once loudly, then quietly.
			failures++
			if failures == 1 {
				p.log.Error("inbox: poll failed; retrying at every interval", "err", err.Error())
			} else {
				p.log.Debug("inbox: poll failed again", "err", err.Error(), "failures", failures)
			}
		case failures > 0:
			p.log.Info("inbox: reachable again", "failed_polls", failures)
			failures = 0
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// PollOnce lists the inbox once and loads, in name order, every file that
// has been stable for StableFor. It returns an error only when the inbox
// could not be listed or ctx was cancelled; a file that fails is reported in
// Result.Failed and logged.
func (p *Poller) PollOnce(ctx context.Context) (Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var res Result
	files, err := p.in.List(ctx)
	if err != nil {
		return res, fmt.Errorf("list inbox %s: %w", p.name, err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })

	now := p.opt.Now()
	present := make(map[string]bool, len(files))
	for _, f := range files {
		present[f.Name] = true
		s := p.seen[f.Name]
		if s == nil || s.size != f.Size || !s.modTime.Equal(f.ModTime) {
			p.seen[f.Name] = &sighting{size: f.Size, modTime: f.ModTime, since: now}
		}
	}
	for name := range p.seen {
		if !present[name] {
			delete(p.seen, name)
		}
	}

	for _, f := range files {
		s := p.seen[f.Name]
		switch {
		case f.Size > p.opt.MaxSize:
			if !s.tooBig {
				p.log.Warn("inbox: file too large, left in the inbox",
					"file", f.Name, "size", f.Size, "max_size", p.opt.MaxSize)
				s.tooBig = true
			}
			res.Pending = append(res.Pending, f.Name)
		case now.Sub(s.since) < p.opt.StableFor:
			res.Pending = append(res.Pending, f.Name)
		case !s.failed.IsZero() && now.Sub(s.failed) < p.opt.RetryAfter:
			res.Pending = append(res.Pending, f.Name)
		default:
			start := p.opt.Now()
			if err := p.take(ctx, f); err != nil {
				if ctx.Err() != nil {
					return res, fmt.Errorf("poll inbox %s: %w", p.name, ctx.Err())
				}
				s.failed = p.opt.Now()
				res.Failed = append(res.Failed, f.Name)
				p.log.Error("inbox: file not loaded, it stays in the inbox",
					"file", f.Name, "size", f.Size, "err", err.Error(), "retry_after", p.opt.RetryAfter.String())
				continue
			}
			delete(p.seen, f.Name)
			res.Loaded = append(res.Loaded, f.Name)
			p.log.Info("inbox: file loaded", "file", f.Name, "size", f.Size,
				"duration", p.opt.Now().Sub(start).String())
		}
	}
	return res, nil
}

// take opens, loads and then releases one file.
func (p *Poller) take(ctx context.Context, f File) error {
	rc, err := p.in.Open(ctx, f.Name)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	err = p.h(ctx, p.name, f, &exactReader{ctx: ctx, r: rc, left: f.Size})
	// Closed before Done: Windows cannot move a file that is still open.
	if cerr := rc.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if err := p.in.Done(ctx, f.Name); err != nil {
		// The loader will recognise the content next time and load nothing.
		return fmt.Errorf("loaded, but not moved or deleted (it will be offered again, and recognised): %w", err)
	}
	return nil
}

// Waiting returns the files waiting in the inbox, in name order: everything
// the poller would consider, stable or not, including files whose load
// failed. It is what the "N files are waiting" alert counts.
func (p *Poller) Waiting(ctx context.Context) ([]File, error) {
	files, err := p.in.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list inbox %s: %w", p.name, err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

// errChanged is returned by exactReader when the file no longer has the size
// it had when it was found stable: the client is writing it again.
var errChanged = errors.New("file changed while it was being read")

// exactReader yields exactly the size the file was listed with, or an error:
// a file that grows or shrinks while it is read is not loaded half-written.
// It also stops at once when ctx is cancelled.
type exactReader struct {
	ctx  context.Context
	r    io.Reader
	left int64
}

func (e *exactReader) Read(b []byte) (int, error) {
	if err := e.ctx.Err(); err != nil {
		return 0, err
	}
	if e.left <= 0 {
		var probe [1]byte
		switch n, err := io.ReadFull(e.r, probe[:]); {
		case n > 0:
			return 0, fmt.Errorf("%w: it grew", errChanged)
		case errors.Is(err, io.EOF):
			return 0, io.EOF
		default:
			return 0, err
		}
	}
	if int64(len(b)) > e.left {
		b = b[:e.left]
	}
	n, err := e.r.Read(b)
	e.left -= int64(n)
	if errors.Is(err, io.EOF) {
		if e.left > 0 {
			return n, fmt.Errorf("%w: it shrank", errChanged)
		}
		// The next Read checks that nothing follows.
		err = nil
	}
	return n, err
}
