package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc/hr"
)

// The SCIM bulk endpoint takes what Microsoft Entra's API-driven inbound
// provisioning takes: a BulkRequest POSTed as application/scim+json with a
// bearer token, answered 202 with the Location of the upload's status. A
// machine calls it, not a browser: no session and no CSRF token, only the
// bearer token (stored hashed, scoped to one HR source, revocable); its
// bytes still come through the one form decoder (jsonBody).

const scimErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"

// scimRoutes mounts the SCIM endpoint outside the signed-in pages.
func (s *Server) scimRoutes(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(s.readInput)
		r.Post("/scim/v2/bulkUpload", s.handleSCIMBulk)
		r.Get("/scim/v2/bulkUpload/{id}", s.handleSCIMStatus)
	})
}

// scimError answers in SCIM's error format (RFC 7644 §3.12). scimType,
// when not empty, is the RFC's keyword for a 400 (invalidSyntax,
// invalidValue); a bulk request over the operations limit is 413, as
// §3.7.3 says.
func (s *Server) scimError(w http.ResponseWriter, r *http.Request, err error, scimType string) {
	code := portal.ErrorCode(err)
	status := codeStatus[code]
	if code == portal.EINTERNAL {
		s.Logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "client", s.clientAddr(r), "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tessera"`)
	}
	if tooMany := (*hr.TooManyOperationsError)(nil); errors.As(err, &tooMany) {
		status, scimType = http.StatusRequestEntityTooLarge, ""
	}
	body := map[string]any{"schemas": []string{scimErrorSchema}, "status": strconv.Itoa(status), "detail": errText(r, err)}
	if scimType != "" && status == http.StatusBadRequest {
		body["scimType"] = scimType
	}
	writeSCIM(w, status, body)
}

func writeSCIM(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to tell it
}

// scimSystem authenticates the request's bearer token.
func (s *Server) scimSystem(r *http.Request) (string, error) {
	if s.HR == nil {
		return "", portal.Errorf(portal.ENOTFOUND, "This Tessera takes no SCIM requests.")
	}
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return "", portal.Errorf(portal.EUNAUTHORIZED, "Send the API token as Authorization: Bearer <token>.")
	}
	return s.HR.Authenticate(r.Context(), strings.TrimSpace(token))
}

func (s *Server) handleSCIMBulk(w http.ResponseWriter, r *http.Request) {
	systemID, err := s.scimSystem(r)
	if err != nil {
		s.scimError(w, r, err, "")
		return
	}
	body, ok := jsonBody(r)
	if !ok {
		s.scimError(w, r, portal.Errorf(portal.EINVALID, "Send the BulkRequest with Content-Type: application/scim+json."), "")
		return
	}
	u, err := s.HR.Receive(r.Context(), portal.Viewer{}, hr.Incoming{SystemID: systemID, Source: "scim", Filename: "bulkUpload",
		Content: body, Apply: true})
	if err != nil {
		// What the HR service refuses of a request is its body.
		s.scimError(w, r, err, "invalidSyntax")
		return
	}
	w.Header().Set("Location", strings.TrimSuffix(s.Config.BaseURL, "/")+"/scim/v2/bulkUpload/"+strconv.FormatInt(u.ID, 10))
	writeSCIM(w, http.StatusAccepted, scimStatus(u))
}

func (s *Server) handleSCIMStatus(w http.ResponseWriter, r *http.Request) {
	systemID, err := s.scimSystem(r)
	if err != nil {
		s.scimError(w, r, err, "")
		return
	}
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	var u *hr.Upload
	if err == nil {
		u, err = s.HR.Upload(r.Context(), id)
	}
	// A token sees its own source's uploads only.
	if err != nil || u.SystemID != systemID || u.Source != "scim" {
		s.scimError(w, r, portal.Errorf(portal.ENOTFOUND, "There is no such upload."), "")
		return
	}
	writeSCIM(w, http.StatusOK, scimStatus(u))
}

// scimStatus is an upload's status as the endpoint reports it; refused
// operations are numbered from 1, in the request's order, each with the
// status and scimType a SCIM service gives a value it cannot take (RFC
// 7644 §3.12: a required value missing, or one that does not fit the
// attribute's type).
func scimStatus(u *hr.Upload) map[string]any {
	refused := make([]map[string]any, len(u.Refusals))
	for i, r := range u.Refusals {
		refused[i] = map[string]any{"operation": r.Line, "reason": r.Reason, "status": "400", "scimType": "invalidValue"}
	}
	return map[string]any{"id": strconv.FormatInt(u.ID, 10), "status": u.Status, "receivedAt": u.ReceivedAt,
		"users": u.Rows, "joiners": u.Joiners, "movers": u.Movers, "leavers": u.Leavers,
		"refused": refused, "message": u.Message}
}
