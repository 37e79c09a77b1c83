package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"plateau/internal/audit"
	"plateau/internal/auth"
)

// maxBodyBytes bounds every request body: the forms are a few fields.
const maxBodyBytes = 64 << 10

// contentSecurityPolicy forbids inline scripts and styles: every asset comes
// from /static/ (img data: is for nothing but browsers' own placeholders).
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// state is what the middleware learns about a request and the handlers and
// the logs share. The outer middleware puts a pointer in the context, so the
// inner layers can fill it although each works on a shallow copy of the
// request.
type state struct {
	id      string
	pattern string // the route, never the raw path (the setup token is a path segment)
	lang    string
	actor   audit.Actor

	token     string // the session cookie's value
	session   *auth.Session
	user      *auth.User
	viaBearer bool   // authenticated by an API token: no cookie, no CSRF
	pre       string // the pre-session cookie's value, for anonymous forms
	abandoned bool   // the client went away before the answer
}

// statusClientClosed is what the metrics and logs record for a request its
// client abandoned (nginx's 499: no answer was sent).
const statusClientClosed = 499

type stateKey struct{}

// stateOf returns the request's state; a request that did not go through
// observe (a unit test calling a handler directly) gets a fresh one.
func stateOf(r *http.Request) *state {
	if st, ok := r.Context().Value(stateKey{}).(*state); ok {
		return st
	}
	return &state{lang: defaultLang}
}

// recorder remembers the status and the size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	n, err := rw.ResponseWriter.Write(b)
	rw.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

func (rw *recorder) written() bool { return rw.status != 0 }

// observe is the outermost layer: request id, security headers, body limit,
// the actor in the context, then one log line and the metrics per request.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &state{id: newRequestID()}
		st.actor = audit.Actor{Source: s.clientIP(r), Agent: r.UserAgent()}
		st.lang = s.cat.match(r.Header.Get("Accept-Language"))
		ctx := context.WithValue(r.Context(), stateKey{}, st)
		ctx = audit.WithActor(ctx, st.actor)
		r = r.WithContext(ctx)

		h := w.Header()
		h.Set("X-Request-Id", st.id)
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if s.cfg.TLS {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		// The API bounds each body itself (lists of contacts are large).
		if r.Body != nil && !strings.HasPrefix(r.URL.Path, "/api/v1/") {
			r.Body = http.MaxBytesReader(w, r.Body, bodyLimit(r))
		}

		rw := &recorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				err := fmt.Errorf("panic: %v\n%s", p, debug.Stack())
				if !rw.written() {
					s.fail(rw, r, err)
				} else {
					s.log.LogAttrs(ctx, slog.LevelError, "http panic", slog.String("request_id", st.id), slog.String("error", err.Error()))
				}
			}
			status := rw.status
			switch {
			case status == 0 && st.abandoned:
				status = statusClientClosed
			case status == 0:
				status = http.StatusOK
			}
			route := st.pattern
			if route == "" {
				route = "unmatched"
			}
			elapsed := time.Since(start)
			s.httpMetrics.observe(route, status, elapsed)
			// One line per request costs as much as a claim at full load:
			// the successful ones are logged at debug level only.
			level := slog.LevelInfo
			if status < 400 {
				level = slog.LevelDebug
			}
			s.log.LogAttrs(ctx, level, "http request",
				slog.String("request_id", st.id),
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Int64("bytes", rw.bytes),
				slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			)
		}()
		next.ServeHTTP(rw, r)
	})
}

// newRequestID returns 16 random hexadecimal digits.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// clientIP is the address the throttling and the audit trail see. Behind a
// reverse proxy it is the last X-Forwarded-For entry: the one our proxy
// appended, which a client cannot forge (the entries before it can be).
func (s *Server) clientIP(r *http.Request) string {
	if s.cfg.TrustProxyHeaders {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip := net.ParseIP(strings.TrimSpace(last)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// httpMetrics are the request counter and latency histogram.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) (*httpMetrics, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "plateau_http_requests_total",
		Help: "HTTP requests served, by route pattern and status code.",
	}, []string{"route", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "plateau_http_request_duration_seconds",
		Help:    "Time to serve an HTTP request, by route pattern.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	}, []string{"route"})
	var err error
	if requests, err = register(reg, requests); err != nil {
		return nil, err
	}
	if duration, err = register(reg, duration); err != nil {
		return nil, err
	}
	return &httpMetrics{requests: requests, duration: duration}, nil
}

// register registers c, or reuses the collector already registered under
// the same name (two servers sharing one registry, as in tests).
func register[C prometheus.Collector](reg *prometheus.Registry, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("register HTTP metrics: %w", err)
	}
	return c, nil
}

func (m *httpMetrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}
