package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestAbandonedRequestIsNotAServerError: a request whose client went away
// fails with the cancellation; nothing is answered (nobody reads it) and
// it is not counted as a 500, for the pages and for the API.
func TestAbandonedRequestIsNotAServerError(t *testing.T) {
	s := newStack(t)
	for _, tc := range []struct {
		name string
		fail func(http.ResponseWriter, *http.Request, error)
	}{
		{"page", s.srv.fail},
		{"api", s.srv.failAPI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			r := httptest.NewRequest(http.MethodGet, "/api/v1/missions", nil)
			st := &state{id: "test"}
			r = r.WithContext(context.WithValue(ctx, stateKey{}, st))
			w := httptest.NewRecorder()
			tc.fail(w, r, fmt.Errorf("load the mission: %w", context.Canceled))
			if !st.abandoned || w.Body.Len() != 0 {
				t.Fatalf("abandoned %v, body %q: want nothing answered", st.abandoned, w.Body.String())
			}

			// The same error while the client is still there is the
			// server's failure.
			r = httptest.NewRequest(http.MethodGet, "/api/v1/missions", nil)
			st = &state{id: "test"}
			r = r.WithContext(context.WithValue(context.Background(), stateKey{}, st))
			w = httptest.NewRecorder()
			tc.fail(w, r, errors.Join(errors.New("boom"), context.Canceled))
			if st.abandoned || w.Code != http.StatusInternalServerError {
				t.Fatalf("abandoned %v, status %d: want a 500", st.abandoned, w.Code)
			}
		})
	}
}
