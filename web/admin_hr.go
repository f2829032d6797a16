package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
	"github.com/tessera-idm/tessera/syncsvc/hr"
	"github.com/tessera-idm/tessera/web/view"
)

// HR sources: their settings, file uploads with their preview, and the
// confirmation of a file that stopped at the leaver threshold.

var hrNotices = map[string]string{
	"created":   i18n.Mark("The HR source was added, with its sync rule: HR is authoritative for names, job, department, manager and dates."),
	"saved":     i18n.Mark("The settings were saved."),
	"applying":  i18n.Mark("The file is being applied: the people it changes go to the other systems as soon as it is done."),
	"discarded": i18n.Mark("The file was discarded; nothing was applied."),
	"revoked":   i18n.Mark("The token was revoked: requests that carry it are refused from now on."),
}

func (a *adminPages) hrRoutes(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if a.HR == nil {
					a.Error(w, r, errors.New("web: the HR service is not configured"))
					return
				}
				next.ServeHTTP(w, r)
			})
		})
		r.Get("/hr", a.handleHRSources)
		r.Post("/hr", a.handleCreateHRSource)
		r.Get("/hr/{id}", a.handleHRSource)
		r.Post("/hr/{id}", a.handleSaveHRSource)
		r.Post("/hr/{id}/upload", a.handleHRUpload)
		r.Post("/hr/{id}/tokens", a.handleHRTokenCreate)
		r.Post("/hr/{id}/tokens/{token}/revoke", a.handleHRTokenRevoke)
		r.Get("/hr/uploads/{upload}", a.handleHRUploadPage)
		r.Post("/hr/uploads/{upload}/apply", a.handleHRDecide)
		r.Post("/hr/uploads/{upload}/discard", a.handleHRDecide)
	})
}

func (a *adminPages) handleHRSources(w http.ResponseWriter, r *http.Request) {
	a.renderHRSources(w, r, http.StatusOK, view.HRSourceForm{Notice: fixedNotice(r, hrNotices)})
}

func (a *adminPages) renderHRSources(w http.ResponseWriter, r *http.Request, status int, f view.HRSourceForm) {
	list, err := a.HR.Sources(r.Context())
	if err != nil {
		a.Error(w, r, err)
		return
	}
	renderStatus(w, r, status, view.HRSourceList(a.page(r, tr(r, "HR sources"), "admin-hr"), list, f))
}

func (a *adminPages) handleCreateHRSource(w http.ResponseWriter, r *http.Request) {
	in := input(r)
	set := hr.Settings{Folder: in.Get("folder"), Columns: hr.DefaultColumns()}
	id, err := a.HR.CreateSource(r.Context(), viewer(r), in.Get("name"), set)
	if err != nil {
		if code := portal.ErrorCode(err); code == portal.EINVALID || code == portal.ECONFLICT {
			a.renderHRSources(w, r, http.StatusBadRequest, view.HRSourceForm{Name: in.Get("name"), Settings: set,
				Error: errText(r, err)})
			return
		}
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/hr/"+url.PathEscape(id)+"?notice=created", http.StatusSeeOther)
}

func (a *adminPages) handleHRSource(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	set, name, err := a.HR.Settings(r.Context(), id)
	if err != nil {
		a.Error(w, r, err)
		return
	}
	a.renderHRSource(w, r, http.StatusOK, view.HRSourceForm{ID: id, Name: name, Settings: set, Notice: fixedNotice(r, hrNotices)})
}

func (a *adminPages) renderHRSource(w http.ResponseWriter, r *http.Request, status int, f view.HRSourceForm) {
	uploads, err := a.HR.Uploads(r.Context(), f.ID, 50)
	if err != nil {
		a.Error(w, r, err)
		return
	}
	if f.Tokens, err = a.HR.Tokens(r.Context(), f.ID); err != nil {
		a.Error(w, r, err)
		return
	}
	f.BulkURL = strings.TrimSuffix(a.Config.BaseURL, "/") + "/scim/v2/bulkUpload"
	schema, err := a.store.Schema(r.Context())
	if err != nil {
		a.Error(w, r, err)
		return
	}
	f.Extras = hr.ExtraFields(schema)
	renderStatus(w, r, status, view.HRSourcePage(a.page(r, f.Name, "admin-hr"), f, uploads))
}

// delimiters are the settings form's words for the delimiters.
var delimiters = map[string]rune{"comma": ',', "semicolon": ';', "tab": '\t', "bar": '|'}

func (a *adminPages) handleSaveHRSource(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	_, name, err := a.HR.Settings(r.Context(), id)
	if err != nil {
		a.Error(w, r, err)
		return
	}
	in := input(r)
	set := hr.Settings{SystemID: id, Folder: in.Get("folder"), Delimiter: delimiters[in.Get("delimiter")], Encoding: in.Get("encoding"),
		TimeZone: in.Get("time_zone"), Columns: map[string]string{}}
	f := view.HRSourceForm{ID: id, Name: name, Settings: set}
	for _, fld := range hr.Fields {
		set.Columns[fld] = strings.TrimSpace(in.Get("col_" + fld))
	}
	schema, err := a.store.Schema(r.Context())
	if err != nil {
		a.Error(w, r, err)
		return
	}
	for _, at := range hr.ExtraFields(schema) {
		set.Columns[at.Name] = strings.TrimSpace(in.Get("col_" + at.Name))
	}
	var bad error
	if set.LeaverThreshold, err = strconv.Atoi(in.Get("leaver_threshold")); err != nil {
		bad = portal.Errorf(portal.EINVALID, "The leaver threshold is a whole number of percent, from 1 to 100.")
	}
	if set.PrehireDays, err = strconv.Atoi(in.Get("prehire_days")); err != nil && bad == nil {
		bad = portal.Errorf(portal.EINVALID, "Pre-hire days are a whole number, from 0 to 365.")
	}
	if set.Delimiter == 0 && bad == nil {
		bad = portal.Errorf(portal.EINVALID, "Choose a delimiter.")
	}
	if bad == nil {
		bad = a.HR.SaveSettings(r.Context(), viewer(r), set)
	}
	if bad != nil {
		if portal.ErrorCode(bad) == portal.EINVALID {
			f.Settings, f.Error = set, errText(r, bad)
			a.renderHRSource(w, r, http.StatusBadRequest, f)
			return
		}
		a.Error(w, r, bad)
		return
	}
	http.Redirect(w, r, "/admin/hr/"+url.PathEscape(id)+"?notice=saved", http.StatusSeeOther)
}

func (a *adminPages) handleHRUpload(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	content, filename, ok := fileInput(r, "file")
	if !ok {
		a.Error(w, r, portal.Errorf(portal.EINVALID, "Choose a file to upload."))
		return
	}
	u, err := a.HR.Receive(r.Context(), viewer(r), hr.Incoming{SystemID: id, Source: "upload", Filename: filename, Content: content})
	if err != nil {
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/hr/uploads/"+strconv.FormatInt(u.ID, 10), http.StatusSeeOther)
}

func (a *adminPages) hrUploadID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(chi.URLParam(r, "upload"), 10, 64)
	if err != nil {
		return 0, portal.Errorf(portal.ENOTFOUND, "There is no such HR file.")
	}
	return id, nil
}

func (a *adminPages) handleHRUploadPage(w http.ResponseWriter, r *http.Request) {
	id, err := a.hrUploadID(r)
	if err != nil {
		a.Error(w, r, err)
		return
	}
	u, err := a.HR.Upload(r.Context(), id)
	if err != nil {
		a.Error(w, r, err)
		return
	}
	exports, err := a.HR.Exports(r.Context(), id)
	if err != nil {
		a.Error(w, r, err)
		return
	}
	render(w, r, view.HRUploadPage(a.page(r, u.Filename, "admin-hr"), u, exports, fixedNotice(r, hrNotices)))
}

func (a *adminPages) handleHRDecide(w http.ResponseWriter, r *http.Request) {
	id, err := a.hrUploadID(r)
	if err != nil {
		a.Error(w, r, err)
		return
	}
	notice := "applying"
	if strings.HasSuffix(r.URL.Path, "/discard") {
		notice = "discarded"
		err = a.HR.Discard(r.Context(), viewer(r), id)
	} else {
		err = a.HR.Confirm(r.Context(), viewer(r), id)
	}
	if err != nil {
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/hr/uploads/"+strconv.FormatInt(id, 10)+"?notice="+notice, http.StatusSeeOther)
}

func (a *adminPages) handleHRTokenCreate(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	set, name, err := a.HR.Settings(r.Context(), id)
	if err != nil {
		a.Error(w, r, err)
		return
	}
	f := view.HRSourceForm{ID: id, Name: name, Settings: set}
	token, err := a.HR.CreateToken(r.Context(), viewer(r), id, input(r).Get("name"))
	if err != nil {
		if portal.ErrorCode(err) != portal.EINVALID {
			a.Error(w, r, err)
			return
		}
		f.Error = errText(r, err)
		a.renderHRSource(w, r, http.StatusBadRequest, f)
		return
	}
	// Shown on this response only, never through a redirect's URL.
	w.Header().Set("Cache-Control", "no-store")
	f.NewToken = token
	a.renderHRSource(w, r, http.StatusOK, f)
}

func (a *adminPages) handleHRTokenRevoke(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if err := a.HR.RevokeToken(r.Context(), viewer(r), id, chi.URLParam(r, "token")); err != nil {
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/hr/"+url.PathEscape(id)+"?notice=revoked", http.StatusSeeOther)
}
