package portal

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// AuditKey holds the two keys derived from TESSERA_SECRET_KEY that make the
// audit log something a database owner cannot quietly rewrite: the chain key
// (each entry's hash is an HMAC under it) and the checkpoint key (it signs
// the checkpoints of the log's tip written to Tessera's own log). Both are
// derived with HKDF under labels of their own, so neither is the key that
// seals bind passwords, and knowing one tells nothing of the other.
type AuditKey struct {
	chain      []byte
	checkpoint []byte
}

// AuditCheckpointMessage is the log message of a checkpoint line, for
// operators who grep for it.
const AuditCheckpointMessage = "audit checkpoint"

// NewAuditKey derives the audit keys from the 32-byte secret key.
func NewAuditKey(secret []byte) (*AuditKey, error) {
	if len(secret) != SecretKeySize {
		return nil, fmt.Errorf("%s must be %d bytes, not %d", SecretKeyEnv, SecretKeySize, len(secret))
	}
	return &AuditKey{chain: deriveKey(secret, "audit chain v1"), checkpoint: deriveKey(secret, "audit checkpoint v1")}, nil
}

// ChainKey is the key the database session hashes audit entries with. It is
// handed to PostgreSQL only as a setting of each of Tessera's own
// connections (never stored, never in a statement); nothing else may use it.
func (k *AuditKey) ChainKey() []byte { return k.chain }

// ID names the chain key without revealing it: the first 8 bytes of its
// SHA-256, in hex, as the database records it in each keyed entry.
func (k *AuditKey) ID() string {
	sum := sha256.Sum256(k.chain)
	return hex.EncodeToString(sum[:8])
}

// AuditCheckpoint is a signed statement, written to Tessera's log, that the
// audit log's newest entry was EntryID with Hash at time At. A database
// that no longer holds that entry with that hash was rewritten.
type AuditCheckpoint struct {
	EntryID   int64
	Hash      []byte
	At        time.Time
	KeyID     string // the chain key's ID; empty when Tessera had no key
	Signature []byte // HMAC under the checkpoint key; empty when unsigned
}

// message is what the signature covers.
func (c AuditCheckpoint) message() []byte {
	return []byte("tessera audit checkpoint v1\n" + strconv.FormatInt(c.EntryID, 10) + "\n" +
		hex.EncodeToString(c.Hash) + "\n" + c.At.UTC().Format(time.RFC3339Nano) + "\n" + c.KeyID)
}

// SignCheckpoint returns the checkpoint of the tip (entryID, hash) at at,
// signed with the checkpoint key. A nil key (no TESSERA_SECRET_KEY) gives an
// unsigned checkpoint, which still shows deletions but proves no author.
func (k *AuditKey) SignCheckpoint(entryID int64, hash []byte, at time.Time) AuditCheckpoint {
	c := AuditCheckpoint{EntryID: entryID, Hash: hash, At: at.UTC().Truncate(time.Microsecond)}
	if k == nil {
		return c
	}
	c.KeyID = k.ID()
	mac := hmac.New(sha256.New, k.checkpoint)
	mac.Write(c.message())
	c.Signature = mac.Sum(nil)
	return c
}

// CheckSignature returns nil when c was signed with this key, and otherwise
// says why it cannot be trusted.
func (k *AuditKey) CheckSignature(c AuditCheckpoint) error {
	if len(c.Signature) == 0 {
		return Errorf(EINVALID, "The checkpoint of entry %d is not signed (it was written without %s).", c.EntryID, SecretKeyEnv)
	}
	if k == nil {
		return Errorf(EINVALID, "Checking a checkpoint's signature needs %s.", SecretKeyEnv)
	}
	want := k.SignCheckpoint(c.EntryID, c.Hash, c.At)
	if c.KeyID != want.KeyID || !hmac.Equal(c.Signature, want.Signature) {
		return Errorf(EINVALID, "The checkpoint of entry %d was not signed with this %s: it was altered, or written by another Tessera.",
			c.EntryID, SecretKeyEnv)
	}
	return nil
}

// LogAttrs are the checkpoint's fields as slog attributes, the form
// ParseAuditCheckpoint reads back.
func (c AuditCheckpoint) LogAttrs() []slog.Attr {
	attrs := []slog.Attr{slog.Int64("entry", c.EntryID), slog.String("hash", hex.EncodeToString(c.Hash)),
		slog.String("at", c.At.UTC().Format(time.RFC3339Nano))}
	if len(c.Signature) > 0 {
		attrs = append(attrs, slog.String("key", c.KeyID), slog.String("signature", hex.EncodeToString(c.Signature)))
	}
	return attrs
}

// String is the checkpoint as `tessera audit verify --checkpoint` takes it.
func (c AuditCheckpoint) String() string {
	var b strings.Builder
	for i, a := range c.LogAttrs() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a.Key + "=" + a.Value.String())
	}
	return b.String()
}

var logPair = regexp.MustCompile(`([A-Za-z_.]+)=("(?:[^"\\]|\\.)*"|\S*)`)

// ParseAuditCheckpoint reads a checkpoint from a log line in slog's text or
// JSON form, or from just its values (`entry=42 hash=… at=… key=… signature=…`).
func ParseAuditCheckpoint(line string) (AuditCheckpoint, error) {
	line = strings.TrimSpace(line)
	fields := map[string]string{}
	if strings.HasPrefix(line, "{") {
		var raw map[string]any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			return AuditCheckpoint{}, Errorf(EINVALID, "The checkpoint is not valid JSON: %v", err)
		}
		for k, v := range raw {
			fields[k] = fmt.Sprint(v)
		}
		if n, ok := raw["entry"].(float64); ok {
			fields["entry"] = strconv.FormatFloat(n, 'f', -1, 64)
		}
	} else {
		for _, m := range logPair.FindAllStringSubmatch(line, -1) {
			v := m[2]
			if strings.HasPrefix(v, `"`) {
				if u, err := strconv.Unquote(v); err == nil {
					v = u
				}
			}
			fields[m[1]] = v
		}
	}
	var c AuditCheckpoint
	var err error
	if c.EntryID, err = strconv.ParseInt(fields["entry"], 10, 64); err != nil || c.EntryID < 0 {
		return c, Errorf(EINVALID, "The checkpoint has no entry number (entry=…).")
	}
	if c.Hash, err = hex.DecodeString(fields["hash"]); err != nil || (c.EntryID > 0 && len(c.Hash) != sha256.Size) {
		return c, Errorf(EINVALID, "The checkpoint's hash is not %d bytes in hex.", sha256.Size)
	}
	if c.At, err = time.Parse(time.RFC3339Nano, fields["at"]); err != nil {
		return c, Errorf(EINVALID, "The checkpoint's time (at=…) is not in RFC 3339 form.")
	}
	c.KeyID = fields["key"]
	if c.Signature, err = hex.DecodeString(fields["signature"]); err != nil {
		return c, Errorf(EINVALID, "The checkpoint's signature is not hex.")
	}
	return c, nil
}

// AuditCheckpointer reads the audit log's tip, for the checkpoints written to
// the log.
type AuditCheckpointer interface {
	// AuditTip returns the newest entry's id and hash (0 and nil when the
	// log is empty).
	AuditTip(ctx context.Context) (int64, []byte, error)
}
