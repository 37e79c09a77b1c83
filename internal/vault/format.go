package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"golang.org/x/crypto/hkdf"
)

// Sealed value layout (version 1):
//
//	version (1 byte) | data key id (4 bytes, big-endian) | nonce (12 bytes) | ciphertext + GCM tag (16 bytes)
//
// The first five bytes are also the start of the associated data, so neither
// the version nor the key id can be changed without the tag failing.
const (
	sealVersion = 1
	idLen       = 4
	headerLen   = 1 + idLen
	nonceLen    = 12
	tagLen      = 16
	minSealed   = headerLen + nonceLen + tagLen
	keyLen      = 32
)

// Wrapped data key layout (version 1), as stored in vault_keys.wrapped:
//
//	version (1 byte) | nonce (12 bytes) | wrapped key + GCM tag (48 bytes)
const (
	wrapVersion = 1
	wrappedLen  = 1 + nonceLen + keyLen + tagLen
)

// wrapLabel separates the wrap's associated data from any other use of the
// master key.
const wrapLabel = "plateau/vault/data-key/v1"

// HKDF info prefixes; distinct so that no purpose string given to one
// function can reproduce a key of the other.
const (
	blindIndexInfo = "blind-index:"
	deriveInfo     = "derive:"
)

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != keyLen {
		return nil, fmt.Errorf("vault: key is %d bytes, want %d", len(key), keyLen)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return aead, nil
}

// randomKey returns 32 bytes from the system's CSPRNG.
func randomKey() []byte {
	k := make([]byte, keyLen)
	// crypto/rand.Read never fails (it crashes the program rather than
	// return weak bytes).
	_, _ = rand.Read(k)
	return k
}

// masterKeyID is the public fingerprint of a master key: the first 8 bytes of
// its SHA-256, in hex.
func masterKeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// appendField appends s with a length prefix, so that consecutive fields
// cannot be re-split ("ab","c" differs from "a","bc").
func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// sealAD is the associated data of a sealed value: its header, then where it
// is stored.
func sealAD(header []byte, ad AD) []byte {
	b := make([]byte, 0, len(header)+3*8+len(ad.Table)+len(ad.Column)+len(ad.Row))
	b = append(b, header...)
	b = appendField(b, ad.Table)
	b = appendField(b, ad.Column)
	return appendField(b, ad.Row)
}

// wrapAD binds a wrapped data key to its id and scope, so that a wrapped key
// copied onto another row (another scope) does not unwrap.
func wrapAD(id uint32, scope string) []byte {
	b := make([]byte, 0, len(wrapLabel)+8+4+8+len(scope))
	b = appendField(b, wrapLabel)
	b = binary.BigEndian.AppendUint32(b, id)
	return appendField(b, scope)
}

func wrapKey(master cipher.AEAD, id uint32, scope string, key []byte) []byte {
	out := make([]byte, 1+nonceLen, wrappedLen)
	out[0] = wrapVersion
	_, _ = rand.Read(out[1:])
	return master.Seal(out, out[1:1+nonceLen], key, wrapAD(id, scope))
}

var errUnwrap = errors.New("does not unwrap with the master key")

func unwrapKey(master cipher.AEAD, id uint32, scope string, wrapped []byte) ([]byte, error) {
	if len(wrapped) != wrappedLen || wrapped[0] != wrapVersion {
		return nil, errUnwrap
	}
	key, err := master.Open(nil, wrapped[1:1+nonceLen], wrapped[1+nonceLen:], wrapAD(id, scope))
	if err != nil {
		return nil, errUnwrap
	}
	return key, nil
}

// subKey derives a 32-byte key from a data key (HKDF-SHA256, no salt: the
// input is already uniformly random).
func subKey(key []byte, info string) []byte {
	out := make([]byte, keyLen)
	if _, err := io.ReadFull(hkdf.New(sha256.New, key, nil, []byte(info)), out); err != nil {
		// 32 bytes are far below HKDF-SHA256's limit (255*32).
		panic("vault: hkdf: " + err.Error())
	}
	return out
}

func blindIndex(key []byte, purpose string, value []byte) []byte {
	mac := hmac.New(sha256.New, subKey(key, blindIndexInfo+purpose))
	mac.Write(value)
	return mac.Sum(nil)
}

// blindMACs hands out HMACs keyed with one data key's blind-index subkey for
// one purpose. Deriving the subkey (HKDF) and keying an HMAC cost more than
// the HMAC of a phone number itself, and a load computes one blind index a
// contact: the keyed HMACs are pooled and Reset between uses. The pool lives
// in its dataKey, so it dies with it (DestroyScope, cache expiry).
type blindMACs struct {
	pool sync.Pool // of hash.Hash
}

func newBlindMACs(key []byte, purpose string) *blindMACs {
	sub := subKey(key, blindIndexInfo+purpose)
	return &blindMACs{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, sub) }}}
}

// sum returns the blind index of value; the same bytes as blindIndex.
func (m *blindMACs) sum(value []byte) []byte {
	mac := m.pool.Get().(hash.Hash)
	mac.Write(value)
	out := mac.Sum(make([]byte, 0, sha256.Size))
	mac.Reset()
	m.pool.Put(mac)
	return out
}
