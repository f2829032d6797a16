package web

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
)

// TestOneFormDecoder keeps every handler on the one form decoder: outside
// form.go, nothing reads the request's query or form itself, so nothing
// can skip readInput's checks.
func TestOneFormDecoder(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	forbidden := map[string]bool{"FormValue": true, "PostFormValue": true, "ParseForm": true, "ParseMultipartForm": true,
		"Form": true, "PostForm": true, "MultipartForm": true, "FormFile": true, "Query": true, "RawQuery": true, "Body": true}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || name == "form.go" {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && forbidden[sel.Sel.Name] {
				t.Errorf("%s: reads the request's input itself (.%s); use input(r)", fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
}

// TestBadText names the field and what is wrong.
func TestBadText(t *testing.T) {
	for _, tt := range []struct {
		in        string
		multiline bool
		want      string
	}{
		{"Zoë D'Angelo-Łukasiewicz", false, ""},
		{"\u202egnalegnA", false, ""},
		{"two\r\nlines\tand a tab", true, ""},
		{"two\nlines", false, "Name must be one line, without tabs or line breaks."},
		{"a\tb", false, "Name must be one line, without tabs or line breaks."},
		{"zoe\x00", true, "Name holds a NUL character, which is not allowed."},
		{"\xff", false, "Name holds bytes that are not text (not UTF-8). Type it again rather than pasting it."},
		{"\xc0\xaf", false, "Name holds bytes that are not text (not UTF-8). Type it again rather than pasting it."},
		{"\xed\xa0\x80", false, "Name holds bytes that are not text (not UTF-8). Type it again rather than pasting it."},
		{"a\x1bb", true, "Name holds a control character (U+001B), which is not allowed."},
		{"a\x7f", true, "Name holds a control character (U+007F), which is not allowed."},
		{"a\u0085", true, "Name holds a control character (U+0085), which is not allowed."},
	} {
		msg, bad := badText(tt.in, portal.LabelOf("Name"), tt.multiline)
		require.Equal(t, tt.want != "", bad, "%q", tt.in)
		if bad {
			require.Equal(t, tt.want, msg.String(), "%q", tt.in)
			// German pages say it in German, the field named as they name it.
			require.NotEqual(t, tt.want, i18n.For("de").Text(msg), "%q", tt.in)
			require.True(t, strings.HasPrefix(i18n.For("de").Text(msg), "Name "), "%q: %s", tt.in, i18n.For("de").Text(msg))
		}
	}
}

// TestTemplateFieldsAreKnown: every field a template names is in fields,
// so the decoder knows whether it may hold several lines and whether it
// is trimmed.
func TestTemplateFieldsAreKnown(t *testing.T) {
	files, err := filepath.Glob("view/*.templ")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, name := range files {
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		for _, m := range templFieldRE.FindAllStringSubmatch(string(src), -1) {
			if m[1] == "viewport" || m[1] == "htmx-config" { // <meta name>
				continue
			}
			_, ok := fields[m[1]]
			require.True(t, ok, "%s: field %q is not in fields (web/form.go)", name, m[1])
		}
	}
}

var templFieldRE = regexp.MustCompile(`\bname="([^"]+)"`)
