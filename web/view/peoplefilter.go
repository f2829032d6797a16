package view

import (
	"net/url"
	"slices"
	"strconv"

	"github.com/tessera-idm/tessera/portal"
)

// PeopleFilters are the white pages' attribute filters: those the search
// keeps and, once the person opened the filter form, the attributes they
// may filter by and what they last typed in it.
type PeopleFilters struct {
	Open      bool
	Available []portal.Attribute
	Active    []ActiveFilter
	// Attr and Value are the filter form's fields, kept when refused.
	Attr, Value string
}

// ActiveFilter is one filter a search keeps: the attribute, and the value
// as the person typed it (a reference's is an account name or email).
type ActiveFilter struct {
	Attribute portal.Attribute
	Value     string
}

// Param is the filter as the search's links and form carry it.
func (f ActiveFilter) Param() string { return f.Attribute.Name + "=" + f.Value }

// Columns are the extra attributes filtered by, which the results show
// beside the core ones.
func (pf PeopleFilters) Columns() []portal.Attribute {
	var cols []portal.Attribute
	for _, f := range pf.Active {
		if !f.Attribute.Core() && !slices.ContainsFunc(cols, func(a portal.Attribute) bool { return a.Name == f.Attribute.Name }) {
			cols = append(cols, f.Attribute)
		}
	}
	return cols
}

// Without returns the filters without the i-th.
func (pf PeopleFilters) Without(i int) PeopleFilters {
	pf.Active = slices.Delete(slices.Clone(pf.Active), i, i+1)
	return pf
}

// URL is the white pages' address of a search with these filters, at
// offset (none when negative), with the filter form open or not.
func (pf PeopleFilters) URL(q string, offset int, open bool) string {
	v := url.Values{}
	if q != "" {
		v.Set("q", q)
	}
	for _, f := range pf.Active {
		v.Add("filter", f.Param())
	}
	if open {
		v.Set("filters", "open")
	}
	if offset > 0 {
		v.Set("offset", strconv.Itoa(offset))
	}
	if len(v) == 0 {
		return "/people"
	}
	return "/people?" + v.Encode()
}
