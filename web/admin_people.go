package web

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/web/view"
)

// peopleRoutes mounts Administration → People: everyone searched, every
// attribute seen, people created by hand, their manager set, disabled and
// enabled; each change a request under policy.
func (a *adminPages) peopleRoutes(r chi.Router) {
	r.Get("/people", a.handleAdminPeople)
	r.Get("/people/new", a.handleNewPersonPage)
	r.Post("/people/new", a.handleCreatePerson)
	r.Get("/people/{id}", a.handleAdminPerson)
	r.Post("/people/{id}/manager", a.handleSetManager)
	r.Post("/people/{id}/status", a.handleSetStatus)
}

func (a *adminPages) handleAdminPeople(w http.ResponseWriter, r *http.Request) {
	q := input(r).Get("q")
	res, err := a.People.SearchPeople(r.Context(), portal.PersonFilter{Query: q, Offset: offsetParam(r)})
	errMsg, status, ok := a.searchOutcome(w, r, err)
	if !ok {
		return
	}
	renderStatus(w, r, status, view.AdminPeople(a.page(r, tr(r, "People"), "admin-people"), q, res, errMsg))
}

func (a *adminPages) renderPerson(w http.ResponseWriter, r *http.Request, status int, id string, f view.AdminPersonForm) {
	prof, err := a.People.FindProfile(r.Context(), id)
	if err != nil {
		a.Error(w, r, err)
		return
	}
	prof.Redact(viewer(r))
	renderStatus(w, r, status, view.AdminPerson(a.page(r, portal.Isolate(prof.Person.DisplayName), "admin-people"), prof, f))
}

func (a *adminPages) handleAdminPerson(w http.ResponseWriter, r *http.Request) {
	a.renderPerson(w, r, http.StatusOK, chi.URLParam(r, "id"), view.AdminPersonForm{Notice: adminNotice(r)})
}

// personChange submits an update_person request of an administrator's and
// shows its outcome on the person's page.
func (a *adminPages) personChange(w http.ResponseWriter, r *http.Request, id string, changes map[string]string, f view.AdminPersonForm) {
	req, err := a.Requests.Submit(r.Context(), viewer(r), portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: id,
		Changes: changes, Justification: input(r).Get("justification")})
	if err != nil {
		if portal.ErrorCode(err) == portal.EINTERNAL || portal.ErrorCode(err) == portal.ENOTFOUND {
			a.Error(w, r, err)
			return
		}
		f.Error = errText(r, err)
		a.renderPerson(w, r, codeStatus[portal.ErrorCode(err)], id, f)
		return
	}
	if req.Status == portal.StatusAuthorizing {
		http.Redirect(w, r, "/requests/"+req.ID+"?notice=submitted", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/admin/people/"+id+"?notice=person-changed", http.StatusSeeOther)
}

func (a *adminPages) handleSetManager(w http.ResponseWriter, r *http.Request) {
	id, name := chi.URLParam(r, "id"), input(r).Get("manager")
	f := view.AdminPersonForm{Manager: name}
	managerID := ""
	if name != "" {
		m, err := a.People.FindPersonByName(r.Context(), name)
		if err != nil {
			if portal.ErrorCode(err) == portal.EINTERNAL {
				a.Error(w, r, err)
				return
			}
			f.Error = errText(r, err)
			a.renderPerson(w, r, http.StatusBadRequest, id, f)
			return
		}
		managerID = m.ID
	}
	a.personChange(w, r, id, map[string]string{"managerId": managerID}, f)
}

func (a *adminPages) handleSetStatus(w http.ResponseWriter, r *http.Request) {
	enabled := ""
	switch input(r).Get("action") {
	case "enable":
		enabled = "true"
	case "disable":
		enabled = "false"
	default:
		a.Error(w, r, portal.Errorf(portal.EINVALID, "Choose to enable or to disable the person."))
		return
	}
	a.personChange(w, r, chi.URLParam(r, "id"), map[string]string{"enabled": enabled}, view.AdminPersonForm{})
}

func (a *adminPages) handleNewPersonPage(w http.ResponseWriter, r *http.Request) {
	schema, err := a.People.Schema(r.Context())
	if err != nil {
		a.Error(w, r, err)
		return
	}
	renderStatus(w, r, http.StatusOK, view.NewPerson(a.page(r, tr(r, "New person"), "admin-people"),
		view.NewPersonForm{Values: map[string]string{}, Extras: schema.Extra()}))
}

func (a *adminPages) handleCreatePerson(w http.ResponseWriter, r *http.Request) {
	in := input(r)
	schema, err := a.People.Schema(r.Context())
	if err != nil {
		a.Error(w, r, err)
		return
	}
	f := view.NewPersonForm{Values: map[string]string{}, Extras: schema.Extra(), Manager: in.Get("manager"), EndDate: in.Get("end_date"),
		Justification: in.Get("justification")}
	changes := map[string]string{}
	for _, name := range portal.NewPersonAttributes() {
		if v := in.Get(name); v != "" {
			f.Values[name], changes[name] = v, v
		}
	}
	if f.EndDate != "" {
		changes[portal.EndDateKey] = f.EndDate
	}
	var unknown []string // references to no one, by label
	for _, x := range f.Extras {
		val := in.Get(view.ExtraField(x.Name))
		if x.Type == portal.TypeStrings {
			// One field a value; the empty ones hold none.
			val = portal.JoinValues(portal.SplitValues(strings.Join(in[view.ExtraField(x.Name)], "\n")))
		}
		if strings.TrimSpace(val) == "" {
			continue
		}
		f.Values[x.Name], changes[x.Name] = val, val
		if x.Type == portal.TypeReference {
			// A person is named by account name or email, and asked for
			// by ID.
			ref, err := a.People.FindPersonByName(r.Context(), val)
			if portal.ErrorCode(err) == portal.ENOTFOUND {
				unknown = append(unknown, x.Label)
				continue
			} else if err != nil {
				a.Error(w, r, err)
				return
			}
			changes[x.Name] = ref.ID
		}
	}
	fail := func(err error) {
		if portal.ErrorCode(err) == portal.EINTERNAL {
			a.Error(w, r, err)
			return
		}
		f.Error = errText(r, err)
		renderStatus(w, r, codeStatus[portal.ErrorCode(err)], view.NewPerson(a.page(r, tr(r, "New person"), "admin-people"), f))
	}
	if len(unknown) > 0 {
		fail(portal.Errorf(portal.EINVALID, "%s names no one: give an account name or email.", strings.Join(unknown, ", ")))
		return
	}
	if f.Manager != "" {
		m, err := a.People.FindPersonByName(r.Context(), f.Manager)
		if err != nil {
			fail(err)
			return
		}
		changes["managerId"] = m.ID
	}
	req, err := a.Requests.Submit(r.Context(), viewer(r), portal.NewRequest{Operation: portal.OpCreatePerson, Changes: changes,
		Justification: f.Justification})
	if err != nil {
		fail(err)
		return
	}
	if req.Status == portal.StatusAuthorizing {
		http.Redirect(w, r, "/requests/"+req.ID+"?notice=submitted", http.StatusSeeOther)
		return
	}
	done, _, err := a.Requests.FindRequest(r.Context(), viewer(r), req.ID)
	if err != nil {
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/people/"+done.PersonID+"?notice=person-created", http.StatusSeeOther)
}
