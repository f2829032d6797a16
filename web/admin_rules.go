package web

import (
	"context"
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
	"github.com/tessera-idm/tessera/web/view"
)

// Sets, dynamic groups, and the rule editor with its preview that both use.

// ruleEditor fills the rule editor for src: the attributes a rule may read
// and, when asked, what src selects.
func (a *adminPages) ruleEditor(ctx context.Context, src string, preview bool) (view.RuleEditor, error) {
	e := view.RuleEditor{Rule: src}
	var err error
	if e.Attributes, err = a.store.RuleAttributes(ctx); err != nil {
		return e, err
	}
	if preview {
		e.Preview, err = a.previewRule(ctx, src)
	}
	return e, err
}

// previewRule evaluates src for everyone. A rule that does not compile, or
// that fails for someone, is not an error of the page: its message is the
// preview.
func (a *adminPages) previewRule(ctx context.Context, src string) (view.RulePreview, error) {
	count, sample, err := a.store.PreviewRule(ctx, src, view.PreviewSize)
	if portal.ErrorCode(err) == portal.EINVALID {
		return view.RulePreview{Shown: true, Error: i18n.FromContext(ctx).Error(err)}, nil
	} else if err != nil {
		return view.RulePreview{}, err
	}
	return view.RulePreview{Shown: true, Count: count, Sample: sample}, nil
}

// handlePreviewRule answers the editor's live preview (htmx) with the
// preview region's content. htmx swaps only 2xx answers, so a rule that
// does not compile is shown with 200 too.
func (a *adminPages) handlePreviewRule(w http.ResponseWriter, r *http.Request) {
	pv, err := a.previewRule(r.Context(), input(r).Get("rule"))
	if err != nil {
		a.Error(w, r, err)
		return
	}
	render(w, r, view.RulePreviewResult(pv))
}

// Sets.

func (a *adminPages) handleSets(w http.ResponseWriter, r *http.Request) {
	sets, err := a.store.ListSets(r.Context())
	if err != nil {
		a.Error(w, r, err)
		return
	}
	render(w, r, view.SetList(a.page(r, tr(r, "Sets"), "admin-sets"), sets, adminNotice(r)))
}

// renderSet shows the set editor with f as typed, and with preview what
// its rule selects.
func (a *adminPages) renderSet(w http.ResponseWriter, r *http.Request, status int, f view.SetForm, preview bool) {
	var err error
	if f.Editor, err = a.ruleEditor(r.Context(), f.Editor.Rule, preview); err != nil {
		a.Error(w, r, err)
		return
	}
	title := tr(r, "New set")
	if f.ID != "" {
		title = tr(r, "Edit set")
	}
	renderStatus(w, r, status, view.SetEdit(a.page(r, title, "admin-sets"), f))
}

func (a *adminPages) handleNewSet(w http.ResponseWriter, r *http.Request) {
	a.renderSet(w, r, http.StatusOK, view.SetForm{}, false)
}

func (a *adminPages) handleEditSet(w http.ResponseWriter, r *http.Request) {
	s, err := a.store.FindSet(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		a.Error(w, r, err)
		return
	}
	a.renderSet(w, r, http.StatusOK, view.SetForm{ID: s.ID, Name: s.Name, Description: s.Description,
		Editor: view.RuleEditor{Rule: s.Rule}}, false)
}

func (a *adminPages) handleCreateSet(w http.ResponseWriter, r *http.Request) {
	a.saveSet(w, r, "")
}

func (a *adminPages) handleUpdateSet(w http.ResponseWriter, r *http.Request) {
	a.saveSet(w, r, chi.URLParam(r, "id"))
}

// saveSet creates (id empty) or updates a set from the form, or with the
// Preview button shows what its rule selects and stores nothing. A refused
// set is shown again as typed, with the reason.
func (a *adminPages) saveSet(w http.ResponseWriter, r *http.Request, id string) {
	f := view.SetForm{ID: id, Name: input(r).Get("name"), Description: input(r).Get("description"),
		Editor: view.RuleEditor{Rule: input(r).Get("rule")}}
	if input(r).Get("action") == "preview" {
		a.renderSet(w, r, http.StatusOK, f, true)
		return
	}
	s := portal.Set{ID: id, Name: f.Name, Description: f.Description, Rule: f.Editor.Rule}
	var err error
	notice := "set-created"
	if id == "" {
		_, err = a.store.CreateSet(r.Context(), viewer(r), s)
	} else {
		_, err = a.store.UpdateSet(r.Context(), viewer(r), s)
		notice = "set-saved"
	}
	if formFailed(err) {
		f.Error = errText(r, err)
		a.renderSet(w, r, codeStatus[portal.ErrorCode(err)], f, false)
		return
	} else if err != nil {
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/sets?notice="+notice, http.StatusSeeOther)
}

// Dynamic groups.

// handleAdminGroups finds the group whose membership rule to edit.
func (a *adminPages) handleAdminGroups(w http.ResponseWriter, r *http.Request) {
	q := input(r).Get("q")
	res, err := a.Groups.SearchGroups(r.Context(), portal.GroupFilter{Query: q, Offset: offsetParam(r)})
	errMsg, status := "", http.StatusOK
	if portal.ErrorCode(err) == portal.EINVALID {
		errMsg, status = errText(r, err), http.StatusBadRequest
	} else if err != nil {
		a.Error(w, r, err)
		return
	}
	renderStatus(w, r, status, view.AdminGroups(a.page(r, tr(r, "Dynamic groups"), "admin-groups"), q, res, errMsg))
}

// findGroup reads the group of the URL, or renders the error page and
// returns nil.
func (a *adminPages) findGroup(w http.ResponseWriter, r *http.Request) *portal.Group {
	d, err := a.Groups.FindGroup(r.Context(), chi.URLParam(r, "id"), 0, 1)
	if err != nil {
		a.Error(w, r, err)
		return nil
	}
	return &d.Group
}

func (a *adminPages) renderGroupRule(w http.ResponseWriter, r *http.Request, status int, f view.GroupRuleForm, preview bool) {
	var err error
	if f.Editor, err = a.ruleEditor(r.Context(), f.Editor.Rule, preview); err != nil {
		a.Error(w, r, err)
		return
	}
	title := tr(r, "Membership rule of %s", portal.Isolate(f.Group.DisplayName))
	renderStatus(w, r, status, view.GroupRuleEdit(a.page(r, title, "admin-groups"), f))
}

func (a *adminPages) handleGroupRule(w http.ResponseWriter, r *http.Request) {
	g := a.findGroup(w, r)
	if g == nil {
		return
	}
	a.renderGroupRule(w, r, http.StatusOK, view.GroupRuleForm{Group: *g, Editor: view.RuleEditor{Rule: g.MembershipRule},
		Notice: adminNotice(r)}, false)
}

// handleSaveGroupRule saves the group's rule (making it dynamic), previews
// it, or with action "clear" makes the group static again.
func (a *adminPages) handleSaveGroupRule(w http.ResponseWriter, r *http.Request) {
	g := a.findGroup(w, r)
	if g == nil {
		return
	}
	f := view.GroupRuleForm{Group: *g, Editor: view.RuleEditor{Rule: input(r).Get("rule")}}
	var err error
	notice := "rule-saved"
	switch input(r).Get("action") {
	case "preview":
		a.renderGroupRule(w, r, http.StatusOK, f, true)
		return
	case "clear":
		err, notice = a.store.ClearDynamicRule(r.Context(), viewer(r), g.ID), "rule-cleared"
	case "save", "":
		err = a.store.SaveDynamicRule(r.Context(), viewer(r), g.ID, f.Editor.Rule)
	default:
		err = portal.Errorf(portal.EINVALID, "The form asked for something this page does not do.")
	}
	if formFailed(err) {
		f.Error = errText(r, err)
		a.renderGroupRule(w, r, codeStatus[portal.ErrorCode(err)], f, false)
		return
	} else if err != nil {
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/groups/"+url.PathEscape(g.ID)+"/rule?notice="+notice, http.StatusSeeOther)
}
