package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"strings"
	"time"

	"github.com/pquerna/otp"

	"plateau/internal/auth"
	"plateau/internal/vault"
)

// enrolmentTTL bounds how long a pending enrolment's cookie is honoured.
const enrolmentTTL = 15 * time.Minute

// totpData is the enrolment page.
type totpData struct {
	Secret   string // grouped by four for typing by hand
	Enrolled bool   // re-enrolment: the current code keeps working until confirmed
}

// pendingEnrolment travels sealed in the __Host-plateau-totp cookie between
// the enrolment page, its QR image and a retry after a wrong code. auth's
// BeginTOTP makes a new secret at each call and has no getter for the
// pending one; the cookie keeps the nodes stateless (any node can serve the
// image) without a second secret being issued.
type pendingEnrolment struct {
	URL     string `json:"u"` // otpauth:// URL
	Expires int64  `json:"e"` // Unix seconds
}

// handleTOTPForm serves GET /account/totp: a new secret, as a QR code and as
// text. A session at the enrolment stage can reach no other page.
func (s *Server) handleTOTPForm(w http.ResponseWriter, r *http.Request) error {
	return s.beginEnrolment(w, r, http.StatusOK, "")
}

func (s *Server) beginEnrolment(w http.ResponseWriter, r *http.Request, status int, errKey string) error {
	st := stateOf(r)
	enr, err := s.auth.BeginTOTP(r.Context(), st.user.ID)
	if err != nil {
		return fmt.Errorf("begin TOTP enrolment of user %d: %w", st.user.ID, err)
	}
	sealed, err := s.sealEnrolment(r, enr.URL)
	if err != nil {
		return err
	}
	s.setCookie(w, totpCookie, sealed)
	return s.renderEnrolment(w, r, status, errKey, enr.Secret)
}

func (s *Server) renderEnrolment(w http.ResponseWriter, r *http.Request, status int, errKey, secret string) error {
	st := stateOf(r)
	return s.render(w, r, status, "totp_enrol", page{Title: "totp.enrol.title", Section: "account", Error: errKey,
		Data: totpData{Secret: groupSecret(secret), Enrolled: st.user.TOTPEnabled}})
}

// handleTOTPConfirm serves POST /account/totp: the first code proves the
// authenticator holds the secret. At the enrolment stage the session
// becomes a full one under a new token.
func (s *Server) handleTOTPConfirm(w http.ResponseWriter, r *http.Request) error {
	st := stateOf(r)
	code := strings.Join(strings.Fields(r.PostForm.Get("code")), "")
	token, err := s.auth.ConfirmTOTP(r.Context(), st.user.ID, code, st.token)
	if errors.Is(err, auth.ErrNotFound) {
		// No pending secret (another tab confirmed it, or it expired).
		return s.beginEnrolment(w, r, http.StatusUnprocessableEntity, "totp.error.restarted")
	}
	if err != nil {
		key, status, ok := authMessage(err)
		if !ok {
			return fmt.Errorf("confirm TOTP of user %d: %w", st.user.ID, err)
		}
		// Show the same secret again: the user has already scanned it.
		if pending, perr := s.openEnrolment(r); perr == nil {
			return s.renderEnrolment(w, r, status, key, pending.Secret())
		}
		return s.beginEnrolment(w, r, status, "totp.error.restarted")
	}
	s.clearCookie(w, totpCookie)
	if token != "" {
		s.startSession(w, r, token)
		return redirect(w, r, "/?ok=totp_enabled")
	}
	return redirect(w, r, "/account?ok=totp_enabled")
}

// handleTOTPQR serves GET /account/totp/qr.png: the QR code of the pending
// enrolment.
func (s *Server) handleTOTPQR(w http.ResponseWriter, r *http.Request) error {
	key, err := s.openEnrolment(r)
	if err != nil {
		return notFound(fmt.Errorf("TOTP QR code: %w", err))
	}
	img, err := key.Image(256, 256)
	if err != nil {
		return fmt.Errorf("TOTP QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fmt.Errorf("TOTP QR code: %w", err)
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = buf.WriteTo(w)
	return nil
}

// enrolmentAD binds the sealed cookie to the session it was issued to: it
// does not open in another session, nor for another user.
func enrolmentAD(sessionID string) vault.AD {
	return vault.AD{Table: "web_cookie", Column: totpCookie, Row: sessionID}
}

func (s *Server) sealEnrolment(r *http.Request, otpURL string) (string, error) {
	st := stateOf(r)
	b, err := json.Marshal(pendingEnrolment{URL: otpURL, Expires: s.now().Add(enrolmentTTL).Unix()})
	if err != nil {
		return "", fmt.Errorf("seal TOTP enrolment: %w", err)
	}
	ct, err := s.vault.Seal(r.Context(), vault.ScopeSystem, b, enrolmentAD(st.session.ID))
	if err != nil {
		return "", fmt.Errorf("seal TOTP enrolment: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(ct), nil
}

var errNoEnrolment = errors.New("no pending enrolment")

func (s *Server) openEnrolment(r *http.Request) (*otp.Key, error) {
	st := stateOf(r)
	c, err := r.Cookie(totpCookie)
	if err != nil || c.Value == "" || st.session == nil {
		return nil, errNoEnrolment
	}
	ct, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoEnrolment, err)
	}
	b, err := s.vault.Open(r.Context(), ct, enrolmentAD(st.session.ID))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoEnrolment, err)
	}
	var p pendingEnrolment
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%w: %w", errNoEnrolment, err)
	}
	if s.now().Unix() > p.Expires {
		return nil, fmt.Errorf("%w: expired", errNoEnrolment)
	}
	key, err := otp.NewKeyFromURL(p.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoEnrolment, err)
	}
	return key, nil
}

// groupSecret writes a base32 secret in blocks of four, easier to copy by
// hand; authenticator apps ignore the spaces.
func groupSecret(secret string) string {
	var b strings.Builder
	for i, c := range secret {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}
