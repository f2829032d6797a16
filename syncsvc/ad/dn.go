package ad

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// GUIDString formats a raw objectGUID as AD shows it,
// 00112233-4455-6677-8899-aabbccddeeff: the first three fields are stored
// little-endian, the last two as bytes.
func GUIDString(raw []byte) (string, error) {
	if len(raw) != 16 {
		return "", fmt.Errorf("ad: objectGUID has %d bytes, not 16", len(raw))
	}
	return fmt.Sprintf("%08x-%04x-%04x-%s-%s",
		binary.LittleEndian.Uint32(raw[0:4]),
		binary.LittleEndian.Uint16(raw[4:6]),
		binary.LittleEndian.Uint16(raw[6:8]),
		hex.EncodeToString(raw[8:10]),
		hex.EncodeToString(raw[10:16])), nil
}

// GUIDBytes is the inverse of GUIDString.
func GUIDBytes(s string) ([]byte, error) {
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 || len(s) != 36 {
		return nil, errors.New("ad: malformed GUID " + s)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("ad: malformed GUID %s: %w", s, err)
	}
	binary.LittleEndian.PutUint32(b[0:4], binary.BigEndian.Uint32(b[0:4]))
	binary.LittleEndian.PutUint16(b[4:6], binary.BigEndian.Uint16(b[4:6]))
	binary.LittleEndian.PutUint16(b[6:8], binary.BigEndian.Uint16(b[6:8]))
	return b, nil
}

// GUIDDN is the DN form AD accepts for the object with the given GUID, in
// searches and updates alike: it survives renames and moves.
func GUIDDN(guid string) string { return "<GUID=" + guid + ">" }
