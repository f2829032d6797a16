package graphsim

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// tokenLifetime is how long an access token lasts, as Entra issues them.
const tokenLifetime = 3599 * time.Second

// tokenError answers the token endpoint's OAuth2 error shape.
func tokenError(w http.ResponseWriter, status int, code, description string, aadsts int) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"error": code, "error_description": description, "error_codes": []int{aadsts},
		"timestamp": time.Now().UTC().Format("2006-01-02 15:04:05Z"), "trace_id": newID(), "correlation_id": newID(),
	})
}

// token is the client credentials grant of the v2.0 token endpoint.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("tenant") != s.cfg.TenantID {
		tokenError(w, http.StatusBadRequest, "invalid_request", "AADSTS90002: Tenant '"+r.PathValue("tenant")+"' not found.", 90002)
		return
	}
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'grant_type'.", 900144)
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	switch {
	case r.PostForm.Get("grant_type") != "client_credentials":
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.", 70003)
	case id != s.cfg.ClientID:
		tokenError(w, http.StatusBadRequest, "unauthorized_client", "AADSTS700016: Application with identifier '"+id+
			"' was not found in the directory '"+s.cfg.TenantID+"'.", 700016)
	case subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.ClientSecret)) != 1:
		tokenError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent "+
			"in the request is the client secret value, not the client secret ID, for a secret added to app '"+id+"'.", 7000215)
	case r.PostForm.Get("scope") != "https://graph.microsoft.com/.default":
		tokenError(w, http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The provided value for scope "+r.PostForm.Get("scope")+
			" is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.", 1002012)
	default:
		tok := newID() + "." + newID()
		s.mu.Lock()
		s.tokens[tok] = s.now().Add(tokenLifetime)
		s.stats.TokensIssued++
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store, no-cache")
		json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": int(tokenLifetime.Seconds()),
			"ext_expires_in": int(tokenLifetime.Seconds()), "access_token": tok})
	}
}

// openIDConfiguration is the tenant's OpenID Provider metadata.
func (s *Server) openIDConfiguration(w http.ResponseWriter, r *http.Request) {
	base := baseURL(r) + "/" + s.cfg.TenantID
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(map[string]any{
		"issuer":                                base + "/v2.0",
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"tenant_region_scope":                   "EU",
	})
}

// authorized checks the bearer token of a Graph request.
func (s *Server) authorized(r *http.Request) (ok bool, message string) {
	h := r.Header.Get("Authorization")
	tok, found := strings.CutPrefix(h, "Bearer ")
	if !found || tok == "" {
		return false, "Access token is empty."
	}
	s.mu.Lock()
	exp, known := s.tokens[tok]
	s.mu.Unlock()
	if !known || s.now().After(exp) {
		return false, "Access token has expired or is not yet valid."
	}
	return true, ""
}

// baseURL is the scheme and host the request came to.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
