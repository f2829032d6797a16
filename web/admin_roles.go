package web

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/web/view"
)

// roleRoutes mounts Administration → Roles.
func (a *adminPages) roleRoutes(r chi.Router) {
	r.Get("/roles", a.handleRoles)
	r.Post("/roles/{role}/grant", a.handleGrantRole)
	r.Post("/roles/{role}/revoke", a.handleRevokeRole)
	r.Post("/roles/{role}/group", a.handleSetRoleGroup)
}

func (a *adminPages) renderRoles(w http.ResponseWriter, r *http.Request, status int, v view.RolesView) {
	var err error
	if v.Roles, err = a.store.ListRoleGroups(r.Context(), viewer(r)); err != nil {
		a.Error(w, r, err)
		return
	}
	renderStatus(w, r, status, view.Roles(a.page(r, tr(r, "Roles"), "admin-roles"), v))
}

func (a *adminPages) handleRoles(w http.ResponseWriter, r *http.Request) {
	a.renderRoles(w, r, http.StatusOK, view.RolesView{Notice: adminNotice(r)})
}

// roleGroup finds the group that grants the role in the URL.
func (a *adminPages) roleGroup(r *http.Request) (portal.RoleGroup, error) {
	role := portal.Role(chi.URLParam(r, "role"))
	roles, err := a.store.ListRoleGroups(r.Context(), viewer(r))
	if err != nil {
		return portal.RoleGroup{}, err
	}
	for _, rg := range roles {
		if rg.Role == role {
			return rg, nil
		}
	}
	return portal.RoleGroup{}, portal.Errorf(portal.ENOTFOUND, "There is no such role.")
}

// roleRequest submits the request that adds a person to (or removes them
// from) a role's group, and shows the page again with its outcome.
func (a *adminPages) roleRequest(w http.ResponseWriter, r *http.Request, op portal.Operation, personID, account string) {
	rg, err := a.roleGroup(r)
	if err != nil {
		a.Error(w, r, err)
		return
	}
	if personID == "" {
		var p portal.PersonRef
		if p, err = a.People.FindPersonByName(r.Context(), account); err == nil {
			personID = p.ID
		}
	}
	var req *portal.Request
	if err == nil {
		req, err = a.Requests.Submit(r.Context(), viewer(r), portal.NewRequest{Operation: op, GroupID: rg.GroupID, PersonID: personID,
			Justification: op.Label() + " of " + rg.GroupName + ", for the " + rg.Role.Label() + " role (Administration → Roles)."})
	}
	if err != nil {
		if portal.ErrorCode(err) == portal.EINTERNAL {
			a.Error(w, r, err)
			return
		}
		a.renderRoles(w, r, codeStatus[portal.ErrorCode(err)], view.RolesView{Error: errText(r, err), Role: rg.Role, Account: account})
		return
	}
	notice := "role-granted"
	switch {
	case req.Status == portal.StatusAuthorizing:
		notice = "role-requested"
	case op == portal.OpRemoveMember:
		notice = "role-revoked"
	}
	http.Redirect(w, r, "/admin/roles?notice="+notice, http.StatusSeeOther)
}

func (a *adminPages) handleGrantRole(w http.ResponseWriter, r *http.Request) {
	a.roleRequest(w, r, portal.OpAddMember, "", input(r).Get("account"))
}

func (a *adminPages) handleRevokeRole(w http.ResponseWriter, r *http.Request) {
	a.roleRequest(w, r, portal.OpRemoveMember, input(r).Get("person"), "")
}

func (a *adminPages) handleSetRoleGroup(w http.ResponseWriter, r *http.Request) {
	role := portal.Role(chi.URLParam(r, "role"))
	err := a.store.SetRoleGroup(r.Context(), viewer(r), role, input(r).Get("group"))
	if formFailed(err) {
		a.renderRoles(w, r, codeStatus[portal.ErrorCode(err)], view.RolesView{Error: errText(r, err), Role: role})
		return
	} else if err != nil {
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/roles?notice=role-group-set", http.StatusSeeOther)
}
