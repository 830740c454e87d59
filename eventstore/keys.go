package eventstore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/uuid"
)

// Crypto-shredding. Every person (an account) has a data key of their own,
// AES-256-GCM, made on first use and kept in data_keys wrapped (encrypted)
// by the key-encryption key of the configuration. The personal fields of
// an event (domain.PersonalFieldsOf) are stored encrypted under the key of
// the person they belong to; erasing the person deletes the key, and from
// then on those fields read as null wherever the log is read. The log's
// rows are never touched.

// KEKSize is the size of a key-encryption key: AES-256.
const KEKSize = 32

// ParseKEK reads a key-encryption key written as 64 hexadecimal digits.
func ParseKEK(s string) ([]byte, error) {
	key, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(key) != KEKSize {
		return nil, fmt.Errorf("a data key must be %d bytes written as %d hexadecimal digits", KEKSize, 2*KEKSize)
	}
	return key, nil
}

// NewKEK makes a random key-encryption key.
func NewKEK() []byte {
	key := make([]byte, KEKSize)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return key
}

// Keyring does the cryptography of personal data: it wraps and unwraps
// data keys with the key-encryption key, seals personal fields on append
// and opens them on read. It keeps the data keys it has unwrapped, so that
// reading a person's events costs one unwrapping, not one per event; a key
// read as gone is dropped from it.
type Keyring struct {
	kek      cipher.AEAD
	indexKey []byte

	mu sync.Mutex
	// open holds unwrapped keys by subject, with the wrapped form they
	// came from: a key is only used for the wrapped bytes it was read as,
	// so the cache never outlives a key.
	open map[uuid.UUID]openKey
	// sealing holds the keys appends seal with, read or made by the store.
	sealing map[uuid.UUID]cipher.AEAD
}

type openKey struct {
	wrapped []byte
	aead    cipher.AEAD
}

// keyCacheSize bounds each of the keyring's caches; a full cache is
// emptied and starts over.
const keyCacheSize = 50_000

// NewKeyring returns a keyring over a key-encryption key of KEKSize bytes.
func NewKeyring(kek []byte) (*Keyring, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("eventstore: the key-encryption key must be %d bytes, not %d", KEKSize, len(kek))
	}
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	// The email index is keyed by a key derived from the KEK, never the
	// KEK itself.
	mac := hmac.New(sha256.New, kek)
	mac.Write([]byte("jobboard email index v1"))
	return &Keyring{
		kek:      aead,
		indexKey: mac.Sum(nil),
		open:     map[uuid.UUID]openKey{},
		sealing:  map[uuid.UUID]cipher.AEAD{},
	}, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// EmailIndex is the keyed hash an email is looked up by (credentials),
// so that the index that keeps addresses unique does not keep them in
// clear. email must be normalised.
func (k *Keyring) EmailIndex(email string) []byte {
	mac := hmac.New(sha256.New, k.indexKey)
	mac.Write([]byte(email))
	return mac.Sum(nil)
}

// newDataKey makes a data key for subject, returning it wrapped (as
// stored) and ready to use.
func (k *Keyring) newDataKey(subject uuid.UUID) ([]byte, cipher.AEAD, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, nil, err
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, nil, err
	}
	return k.wrap(subject, key), aead, nil
}

// wrap encrypts a data key with the KEK, bound to its subject: a wrapped
// key moved to another subject's row does not unwrap.
func (k *Keyring) wrap(subject uuid.UUID, key []byte) []byte {
	nonce := make([]byte, k.kek.NonceSize(), k.kek.NonceSize()+len(key)+k.kek.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return k.kek.Seal(nonce, nonce, key, subject[:])
}

// ErrWrongKEK says a data key did not unwrap: the configured
// key-encryption key is not the one the keys were made with.
var ErrWrongKEK = errors.New("eventstore: a data key does not unwrap with the configured DATA_KEY (is it the one the log was written with?)")

// unwrap returns the data key that wrapped holds, from the cache when it
// was unwrapped before.
func (k *Keyring) unwrap(subject uuid.UUID, wrapped []byte) (cipher.AEAD, error) {
	k.mu.Lock()
	if c, ok := k.open[subject]; ok && bytes.Equal(c.wrapped, wrapped) {
		k.mu.Unlock()
		return c.aead, nil
	}
	k.mu.Unlock()
	ns := k.kek.NonceSize()
	if len(wrapped) < ns {
		return nil, ErrWrongKEK
	}
	key, err := k.kek.Open(nil, wrapped[:ns], wrapped[ns:], subject[:])
	if err != nil {
		return nil, ErrWrongKEK
	}
	aead, err := newAEAD(key)
	clear(key)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	if len(k.open) >= keyCacheSize {
		clear(k.open)
	}
	k.open[subject] = openKey{wrapped: bytes.Clone(wrapped), aead: aead}
	k.mu.Unlock()
	return aead, nil
}

// Forget drops whatever the keyring holds of subject's key: called when
// the key is deleted, and when a read finds it gone.
func (k *Keyring) Forget(subject uuid.UUID) {
	k.mu.Lock()
	delete(k.open, subject)
	delete(k.sealing, subject)
	k.mu.Unlock()
}

func (k *Keyring) sealingKey(subject uuid.UUID) (cipher.AEAD, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	aead, ok := k.sealing[subject]
	return aead, ok
}

func (k *Keyring) keepSealingKey(subject uuid.UUID, aead cipher.AEAD) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.sealing) >= keyCacheSize {
		clear(k.sealing)
	}
	k.sealing[subject] = aead
}
