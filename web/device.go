package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The device cookie marks a browser that has signed in as a person: it
// keeps a sign-in budget of its own for that person, so that a stranger
// guessing the person's password elsewhere cannot lock them out of the
// browser they use (as Entra's smart lockout tells familiar locations from
// unfamiliar ones). It is signed with Config.DeviceKey and holds no secret:
// v1.<device id>.<person id>.<issued, unix seconds>.<HMAC-SHA256>.
const (
	deviceCookie         = "tessera_device"
	deviceCookieLifetime = 180 * 24 * time.Hour
)

func (s *Server) deviceMAC(payload string) string {
	m := hmac.New(sha256.New, s.Config.DeviceKey)
	m.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// knownDevice returns the device id and person of r's device cookie, or ""
// when there is none, or it is forged, altered or too old.
func (s *Server) knownDevice(r *http.Request, now time.Time) (device, person string) {
	v := s.cookie(r, deviceCookie)
	i := strings.LastIndexByte(v, '.')
	if i < 0 {
		return "", ""
	}
	payload, mac := v[:i], v[i+1:]
	if !hmac.Equal([]byte(mac), []byte(s.deviceMAC(payload))) {
		return "", ""
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 4 || parts[0] != "v1" || parts[1] == "" || parts[2] == "" {
		return "", ""
	}
	issued, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || now.Sub(time.Unix(issued, 0)) > deviceCookieLifetime {
		return "", ""
	}
	return parts[1], parts[2]
}

// rememberDevice gives r's browser a device cookie for person, keeping the
// device id it already had.
func (s *Server) rememberDevice(w http.ResponseWriter, r *http.Request, person string, now time.Time) {
	device, _ := s.knownDevice(r, now)
	if device == "" {
		b := make([]byte, 16)
		rand.Read(b)
		device = base64.RawURLEncoding.EncodeToString(b)
	}
	payload := "v1." + device + "." + person + "." + strconv.FormatInt(now.Unix(), 10)
	s.setCookie(w, deviceCookie, payload+"."+s.deviceMAC(payload), int(deviceCookieLifetime/time.Second))
}
