package validation

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
)

// ErrUnknownKeyTag is a well-formed key tag that this service never issued:
// to a caller, the same as a tag of a key that does not exist.
var ErrUnknownKeyTag = errors.New("unknown key tag")

// An NCP keyTag is 64 lowercase hex characters, as in NCP's public samples.
// Ours is the key id's 16 bytes followed by the first 16 bytes of a SHA-256
// digest of the id: derived from the key and nothing secret, stable for the
// key's life, and decodable without an index lookup. The digest half makes a
// tag that was not issued by us (a typo, a guessed id) fail the check instead
// of naming some other key.

const keyTagLen = 64

func tagDigest(id string) []byte {
	sum := sha256.Sum256([]byte("ncp-keytag/v1:" + id))
	return sum[:16]
}

// KeyTagFor returns the NCP keyTag of a key id. The id must already be valid.
func KeyTagFor(id string) string {
	raw, _ := hex.DecodeString(stripDashes(id))
	return hex.EncodeToString(raw) + hex.EncodeToString(tagDigest(id))
}

// KeyTag checks an NCP keyTag and returns the key id it names.
func KeyTag(tag string) (string, error) {
	if tag == "" {
		return "", missing("keyTag")
	}
	bad := badFormat("keyTag", tag, "is not a key tag issued by this service")
	if len(tag) != keyTagLen {
		return "", bad
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", bad
		}
	}
	h := tag[:32]
	id := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	want := hex.EncodeToString(tagDigest(id))
	if subtle.ConstantTimeCompare([]byte(want), []byte(tag[32:])) != 1 {
		return "", ErrUnknownKeyTag
	}
	return id, nil
}

// NewKeyID checks an id a key is to be created with (a seed file's): a key
// id (KeyID) that is a UUID, as every id this service issues is, so that
// its keyTag derives from it.
func NewKeyID(field, id string) error {
	if err := KeyID(field, id); err != nil {
		return err
	}
	if _, err := hex.DecodeString(stripDashes(id)); err != nil {
		return badFormat(field, id, "must be a lowercase UUID")
	}
	return nil
}

func stripDashes(id string) string {
	out := make([]byte, 0, len(id))
	for i := 0; i < len(id); i++ {
		if id[i] != '-' {
			out = append(out, id[i])
		}
	}
	return string(out)
}
