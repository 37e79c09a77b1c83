package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
)

// hashDomain starts every row's hash so that it can never be mistaken for
// another SHA-256 Plateau computes, and names the encoding's version.
const hashDomain = "plateau/audit/row/v1"

// row is one audit_events row as stored.
type row struct {
	id, at                                             int64
	actor, source, agent, action, objectType, objectID string
	before, after                                      string
	prevHash, hash                                     []byte
}

// genesis is the prev_hash of row 1 and the head's hash while the chain is
// empty: 32 zero bytes.
func genesis() []byte { return make([]byte, sha256.Size) }

// computeHash returns SHA-256 over an unambiguous encoding of every column
// but hash itself: a fixed sequence of fields, each prefixed with its length
// as 8 big-endian bytes, so no two different rows encode alike. The id is
// included, so a row's contents moved to another id no longer match.
func (r *row) computeHash() []byte {
	h := sha256.New()
	field(h, []byte(hashDomain))
	intField(h, r.id)
	intField(h, r.at)
	for _, s := range []string{r.actor, r.source, r.agent, r.action, r.objectType, r.objectID, r.before, r.after} {
		field(h, []byte(s))
	}
	field(h, r.prevHash)
	return h.Sum(nil)
}

func field(w io.Writer, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	// Writes to a hash or a bytes.Buffer never fail.
	_, _ = w.Write(n[:])
	_, _ = w.Write(b)
}

func intField(w io.Writer, v int64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	field(w, b[:])
}
