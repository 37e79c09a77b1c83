package web

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// liveInterval is how often a mission's live view is computed while someone
// watches it.
const liveInterval = 2 * time.Second

// liveHubs shares the live view of each mission among all its viewers: one
// goroutine per watched mission computes a snapshot every interval and
// hands the same bytes to every subscriber, so the database works the same
// for one viewer or two hundred. A hub starts with its first viewer and
// stops when the last one leaves.
type liveHubs struct {
	compute func(ctx context.Context, mission int) ([]byte, error)
	// tick makes the hub's clock: a channel that fires each interval and
	// its stop. Tests drive it by hand.
	tick func() (<-chan time.Time, func())
	log  *slog.Logger

	mu   sync.Mutex
	hubs map[int]*liveHub
}

// liveHub is one mission's computation and its subscribers.
type liveHub struct {
	mission int
	subs    map[chan []byte]struct{}
	last    []byte
	cancel  context.CancelFunc
}

func newLiveHubs(compute func(ctx context.Context, mission int) ([]byte, error), every time.Duration, log *slog.Logger) *liveHubs {
	return &liveHubs{
		compute: compute,
		tick: func() (<-chan time.Time, func()) {
			t := time.NewTicker(every)
			return t.C, t.Stop
		},
		log:  log,
		hubs: map[int]*liveHub{},
	}
}

// subscribe returns a channel receiving the mission's snapshots (the
// latest one at once when the hub has one; a slow reader skips to the
// newest) and the function that ends the subscription.
func (h *liveHubs) subscribe(mission int) (<-chan []byte, func()) {
	ch := make(chan []byte, 1)
	h.mu.Lock()
	hub := h.hubs[mission]
	if hub == nil {
		ctx, cancel := context.WithCancel(context.Background())
		hub = &liveHub{mission: mission, subs: map[chan []byte]struct{}{}, cancel: cancel}
		h.hubs[mission] = hub
		go h.run(ctx, hub)
	}
	hub.subs[ch] = struct{}{}
	if hub.last != nil {
		ch <- hub.last
	}
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			delete(hub.subs, ch)
			if len(hub.subs) == 0 && h.hubs[mission] == hub {
				delete(h.hubs, mission)
				hub.cancel()
			}
		})
	}
}

// watched returns how many missions have a running hub.
func (h *liveHubs) watched() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.hubs)
}

// run computes the hub's snapshots until its last viewer leaves.
func (h *liveHubs) run(ctx context.Context, hub *liveHub) {
	tick, stop := h.tick()
	defer stop()
	for {
		h.refresh(ctx, hub)
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
	}
}

func (h *liveHubs) refresh(ctx context.Context, hub *liveHub) {
	b, err := h.compute(ctx, hub.mission)
	if err != nil {
		if ctx.Err() == nil {
			h.log.LogAttrs(ctx, slog.LevelWarn, "live view", slog.Int("mission", hub.mission), slog.String("error", err.Error()))
		}
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	hub.last = b
	for ch := range hub.subs {
		select {
		case <-ch: // the reader is behind: it gets the newest instead
		default:
		}
		ch <- b
	}
}
