package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

//go:embed static
var staticFS embed.FS

// staticFiles are the embedded assets and a digest of them all: pages link
// to /static/NAME?v=DIGEST, so the files can be cached for a year and a new
// release is still fetched at once.
type staticFiles struct {
	files   map[string][]byte
	version string
}

func loadStatic() (*staticFiles, error) {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("load static files: %w", err)
	}
	sf := &staticFiles{files: map[string][]byte{}}
	h := sha256.New()
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sf.files[p] = b
		h.Write([]byte(p))
		h.Write(b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load static files: %w", err)
	}
	sf.version = hex.EncodeToString(h.Sum(nil))[:12]
	return sf, nil
}

// handleStatic serves GET /static/{file...}.
func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("file")
	b, ok := s.static.files[name]
	if !ok || !fs.ValidPath(name) {
		return notFound(fmt.Errorf("static file %q", name))
	}
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
	return nil
}
