package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/web/view"
)

// Administration → Schema: the extra person attributes administrators add,
// change and remove.

func (a *adminPages) schemaRoutes(r chi.Router) {
	r.Get("/schema", a.handleSchema)
	r.Get("/schema/new", a.handleNewAttribute)
	r.Post("/schema", a.handleAddAttribute)
	r.Get("/schema/{name}", a.handleEditAttribute)
	r.Post("/schema/{name}", a.handleUpdateAttribute)
	r.Post("/schema/{name}/remove", a.handleRemoveAttribute)
}

func (a *adminPages) handleSchema(w http.ResponseWriter, r *http.Request) {
	schema, err := a.store.Schema(r.Context())
	if err != nil {
		a.Error(w, r, err)
		return
	}
	render(w, r, view.SchemaList(a.page(r, tr(r, "Schema"), "admin-schema"), schema, adminNotice(r)))
}

// renderAttribute shows the attribute editor with f as typed and, for an
// attribute that exists, what uses it.
func (a *adminPages) renderAttribute(w http.ResponseWriter, r *http.Request, status int, f view.SchemaForm) {
	title := tr(r, "Add an attribute")
	if !f.New {
		title = tr(r, "Attribute %s", f.Attribute.Name)
		var err error
		if f.Uses, err = a.store.AttributeUses(r.Context(), f.Attribute.Name); err != nil {
			a.Error(w, r, err)
			return
		}
	}
	renderStatus(w, r, status, view.SchemaEdit(a.page(r, title, "admin-schema"), f))
}

// schemaForm fills the editor from a stored attribute.
func schemaForm(at portal.Attribute) view.SchemaForm {
	f := view.SchemaForm{Attribute: at}
	if at.MaxLen > 0 && (at.Type == portal.TypeString || at.Type == portal.TypeStrings) {
		f.MaxLen = strconv.Itoa(at.MaxLen)
	}
	if at.Min != nil {
		f.Min = strconv.FormatInt(*at.Min, 10)
	}
	if at.Max != nil {
		f.Max = strconv.FormatInt(*at.Max, 10)
	}
	return f
}

func (a *adminPages) handleNewAttribute(w http.ResponseWriter, r *http.Request) {
	f := schemaForm(portal.Attribute{Type: portal.TypeString, Visibility: portal.VisibleToEveryone,
		MaxLen: portal.DefaultAttributeLen})
	f.New = true
	a.renderAttribute(w, r, http.StatusOK, f)
}

func (a *adminPages) handleEditAttribute(w http.ResponseWriter, r *http.Request) {
	at, err := a.store.FindAttribute(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		a.Error(w, r, err)
		return
	}
	a.renderAttribute(w, r, http.StatusOK, schemaForm(*at))
}

// attributeFromForm reads the editor; the form as typed comes back with
// the error when a number does not read.
func attributeFromForm(r *http.Request, name string) (view.SchemaForm, error) {
	in := input(r)
	f := view.SchemaForm{
		Attribute: portal.Attribute{Name: name, Label: in.Get("label"), Type: in.Get("attr_type"),
			Visibility: portal.Visibility(in.Get("visibility")), Editable: in.Get("editable") == "on"},
		MaxLen: in.Get("max_len"), Min: in.Get("min"), Max: in.Get("max"),
	}
	if f.MaxLen != "" && (f.Attribute.Type == portal.TypeString || f.Attribute.Type == portal.TypeStrings) {
		n, err := strconv.Atoi(f.MaxLen)
		if err != nil {
			return f, portal.Errorf(portal.EINVALID, "The longest value is a number of characters, such as 64.")
		}
		f.Attribute.MaxLen = n
	}
	if f.Attribute.Type == portal.TypeInt {
		for _, b := range []struct {
			text string
			to   **int64
			bad  *portal.Error
		}{{f.Min, &f.Attribute.Min, portal.Errorf(portal.EINVALID, "The smallest value is a whole number, such as 10.")},
			{f.Max, &f.Attribute.Max, portal.Errorf(portal.EINVALID, "The largest value is a whole number, such as 10.")}} {
			if b.text == "" {
				continue
			}
			n, err := strconv.ParseInt(b.text, 10, 64)
			if err != nil {
				return f, b.bad
			}
			*b.to = &n
		}
	}
	return f, nil
}

func (a *adminPages) handleAddAttribute(w http.ResponseWriter, r *http.Request) {
	f, err := attributeFromForm(r, input(r).Get("name"))
	f.New = true
	a.saveAttribute(w, r, f, err, a.store.AddAttribute, "attribute-added")
}

func (a *adminPages) handleUpdateAttribute(w http.ResponseWriter, r *http.Request) {
	f, err := attributeFromForm(r, chi.URLParam(r, "name"))
	a.saveAttribute(w, r, f, err, a.store.UpdateAttribute, "attribute-saved")
}

// saveAttribute saves the attribute of a valid form with save and goes back
// to the schema with notice; a refused one is shown again with its error.
func (a *adminPages) saveAttribute(w http.ResponseWriter, r *http.Request, f view.SchemaForm, err error,
	save func(context.Context, portal.Viewer, portal.Attribute) error, notice string) {
	if err == nil {
		err = save(r.Context(), viewer(r), f.Attribute)
	}
	if formFailed(err) {
		f.Error = errText(r, err)
		a.renderAttribute(w, r, http.StatusUnprocessableEntity, f)
		return
	} else if err != nil {
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/schema?notice="+notice, http.StatusSeeOther)
}

func (a *adminPages) handleRemoveAttribute(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	err := a.store.RemoveAttribute(r.Context(), viewer(r), name)
	if formFailed(err) {
		at, ferr := a.store.FindAttribute(r.Context(), name)
		if ferr != nil {
			a.Error(w, r, ferr)
			return
		}
		f := schemaForm(*at)
		f.Error = errText(r, err)
		a.renderAttribute(w, r, http.StatusConflict, f)
		return
	} else if err != nil {
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/schema?notice=attribute-removed", http.StatusSeeOther)
}
