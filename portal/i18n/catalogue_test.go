package i18n

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// keyRoots are the folders whose Go code (generated templ code included)
// is searched for keys: the first string literal given to T (i18n.T,
// Printer.T), tr (web's), Mark, sentence or portal.Textf, and the format of
// every portal.Errorf.
var keyRoots = []string{"../../web", "../../workflow", "../../portal", "../../syncsvc", "../../cmd"}

// errorfRoots are the folders whose portal.Errorf formats are keys.
var errorfRoots = []string{"../../web", "../../workflow", "../../portal", "../../syncsvc", "../../cmd"}

// eachCall calls fn with every call in the non-test Go code under roots,
// with its file, path, function name and the package it is called on.
func eachCall(t *testing.T, fset *token.FileSet, roots []string, fn func(f *ast.File, path string, call *ast.CallExpr, name, recv string)) {
	t.Helper()
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				var name, recv string
				switch fun := call.Fun.(type) {
				case *ast.Ident:
					name = fun.Name
				case *ast.SelectorExpr:
					name = fun.Sel.Name
					if id, ok := fun.X.(*ast.Ident); ok {
						recv = id.Name
					}
				}
				fn(f, path, call, name, recv)
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// isPortalErrorf reports whether a call is portal.Errorf (or Errorf inside
// package portal) with a format.
func isPortalErrorf(f *ast.File, call *ast.CallExpr, name, recv string) bool {
	return name == "Errorf" && (recv == "portal" || (recv == "" && f.Name.Name == "portal")) && len(call.Args) > 1
}

// usedKeys finds every key the code uses, with one place that uses it.
func usedKeys(t *testing.T) map[string]string {
	t.Helper()
	keys := map[string]string{}
	fset := token.NewFileSet()
	eachCall(t, fset, keyRoots, func(f *ast.File, path string, call *ast.CallExpr, name, recv string) {
		args := call.Args
		switch {
		case name == "T" || name == "tr" || name == "Mark" || name == "sentence" || name == "Textf":
		case isPortalErrorf(f, call, name, recv) && under(path, errorfRoots):
			args = args[1:2]
		default:
			return
		}
		for _, a := range args {
			if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				key, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatalf("%s: %v", fset.Position(lit.Pos()), err)
				}
				keys[key] = fset.Position(lit.Pos()).String()
				break
			}
		}
	})
	return keys
}

// TestErrorFormatsGerman walks every portal.Errorf in the code (portal and
// its adapters, syncsvc, web, workflow, cmd) and fails when its format is
// not a literal, so that the catalogue cannot see it, or has no German: a
// refusal on a German page then reads German. It also fails on a
// portal.Error built by hand, whose Message would bypass the catalogue.
func TestErrorFormatsGerman(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	n := 0
	eachCall(t, fset, errorfRoots, func(f *ast.File, path string, call *ast.CallExpr, name, recv string) {
		if !isPortalErrorf(f, call, name, recv) {
			return
		}
		n++
		lit, ok := call.Args[1].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			t.Errorf("%s: portal.Errorf's format is not a literal: the catalogue cannot translate it", fset.Position(call.Pos()))
			return
		}
		format, _ := strconv.Unquote(lit.Value)
		if _, ok := german[format]; !ok {
			t.Errorf("%s: no German for the error format %q: add it to germanErrors (de_errors.go)", fset.Position(lit.Pos()), format)
		}
	})
	if n < 400 {
		t.Fatalf("found only %d portal.Errorf calls: is the walk looking in the right folders?", n)
	}
	for _, root := range errorfRoots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				lit, ok := n.(*ast.CompositeLit)
				if !ok {
					return true
				}
				typ := lit.Type
				if sel, ok := typ.(*ast.SelectorExpr); ok && sel.Sel.Name == "Error" {
					if id, ok := sel.X.(*ast.Ident); ok && id.Name == "portal" {
						t.Errorf("%s: a portal.Error built by hand: use portal.Errorf, so that its message is translated", fset.Position(lit.Pos()))
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

var verbRe = regexp.MustCompile(`%(\[\d+\])?[-+# 0]*\d*(\.\d+)?[a-zA-Z%]`)

// verbs lists the kinds of a format's verbs, sorted: "%[2]s and %d" → [d s].
func verbs(format string) []string {
	var out []string
	for _, v := range verbRe.FindAllString(format, -1) {
		out = append(out, v[len(v)-1:])
	}
	sort.Strings(out)
	return out
}

// TestCatalogueComplete fails when a key the code uses is missing in a
// shipped language, or a translation does not take the same arguments as
// its key. English is the language of the keys; it needs its own entry
// only for a plural.
func TestCatalogueComplete(t *testing.T) {
	t.Parallel()
	used := usedKeys(t)
	if len(used) < 50 {
		t.Fatalf("found only %d keys: is the search looking in the right folders?", len(used))
	}
	var missing []string
	for key, where := range used {
		if _, ok := englishPluralForms[key]; ok {
			if _, ok := germanPluralForms[key]; !ok {
				missing = append(missing, where+": German plural "+strconv.Quote(key))
			}
			continue
		}
		if _, ok := germanPluralForms[key]; ok {
			missing = append(missing, where+": English plural "+strconv.Quote(key))
			continue
		}
		if _, ok := german[key]; !ok {
			missing = append(missing, where+": German "+strconv.Quote(key))
		}
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Error("missing: " + m)
	}
	for key, de := range german {
		if !slices.Equal(verbs(key), verbs(de)) {
			t.Errorf("German %q takes other arguments than its key %q", de, key)
		}
	}
	for _, ps := range []map[string]Plural{englishPluralForms, germanPluralForms} {
		for key, p := range ps {
			if !slices.Equal(verbs(key), verbs(p.Other)) {
				t.Errorf("plural %q takes other arguments than its key %q", p.Other, key)
			}
		}
	}
	var unused []string
	for key := range german {
		if _, ok := used[key]; !ok {
			unused = append(unused, key)
		}
	}
	slices.Sort(unused)
	for _, key := range unused {
		t.Logf("German entry no code uses (remove it): %q", key)
	}
}

func under(path string, roots []string) bool {
	for _, r := range roots {
		if strings.HasPrefix(path, r+"/") {
			return true
		}
	}
	return false
}
