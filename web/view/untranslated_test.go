package view

import (
	"fmt"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"html"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/a-h/templ/parser/v2"
	"github.com/a-h/templ/parser/v2/visitor"

	"github.com/tessera-idm/tessera/portal/i18n"
)

// readAttributes are the attributes whose constant value a person reads or
// hears (a screen reader speaks aria-label and alt; an input button shows its value).
var readAttributes = []string{"title", "aria-label", "placeholder", "alt", "aria-description", "aria-roledescription", "label", "data-label"}

// allowedText are the only words a template may write as they are, in every
// language: the product's name, and fixed technical notations that are the
// same in every language.
var allowedText = []string{
	"Tessera", // the product's name
	"UTC",     // the time zone's name, the same in every language
	"FIDO2",   // a standard's name
	// Notations typed as they are: an LDAP base (a placeholder) and the
	// rule language's prefix of a person's attribute.
	"DC=example,DC=com",
	"person.",
}

// TestNoUntranslatedText fails when a template writes text a person reads
// as a literal (a text node, or the value of an attribute in
// readAttributes) rather than through the catalogue (i18n.T, tr): such a
// text stays English on a German page. Text that holds no letter (a
// separator such as "·" or ":") is allowed, as are the words in
// allowedText.
func TestNoUntranslatedText(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.templ")
	if err != nil || len(files) < 10 {
		t.Fatalf("found only %d templates (%v): is the test in web/view?", len(files), err)
	}
	checked := 0
	for _, name := range files {
		checked++
		tf, err := parser.Parse(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, problem := range untranslated(tf) {
			t.Errorf("%s:%s", name, problem)
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d templates", checked)
	}
	// Go code writes text for pages too: a label in a table of fields, a
	// refusal built with fmt.Sprintf. Such a literal must be a key of the
	// catalogue (marked where it is written, so that the catalogue's test
	// finds it), or it stays English on a German page.
	texts := 0
	for _, root := range goTextRoots {
		texts += goLiterals(t, root, func(pos token.Position, s string) {
			if i18n.For("de").Name(s) == s && !slices.Contains(allowedGoText, s) {
				t.Errorf("%s: %q is shown as it is: mark it as a key (Mark, tr, portal.Textf, portal.Errorf) and translate it", pos, s)
			}
		})
	}
	if texts < 200 {
		t.Fatalf("found only %d texts in Go code: is the walk looking in the right folders?", texts)
	}
	// Scripts cannot reach the catalogue: a text they show comes from the
	// page (passkeyMessages), never from a literal of theirs.
	scripts, err := filepath.Glob("../../static/assets/js/*.js")
	if err != nil || len(scripts) < 2 {
		t.Fatalf("found only %d scripts (%v)", len(scripts), err)
	}
	for _, name := range scripts {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "//") {
				continue
			}
			for _, m := range jsString.FindAllStringSubmatch(line, -1) {
				if s := m[1] + m[2]; readsAsText(s, false) {
					t.Errorf("%s:%d: the script shows %q as it is: give it the text from the page, translated", name, i+1, s)
				}
			}
		}
	}
}

// jsString is a script's string literal, in double or single quotes.
var jsString = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'`)

// goTextRoots are the folders whose Go code writes text people read.
var goTextRoots = []string{"..", "../../portal"}

// allowedGoText are Go literals that read as text but are not shown to
// people in their language, each for its reason.
var allowedGoText = []string{
	// Prometheus's help for operators' dashboards (/metrics).
	"Connections currently in use.", "Idle connections.", "All open connections.", "Largest size of the pool.",
	"Successful acquires.", "Acquires that had to wait for a connection.", "Time spent acquiring connections.",
	"Acquires canceled by their context.",
	// HTTP's words, in a header (RFC 6750).
	"Bearer realm=\"tessera\"", "Bearer ",
	// English writes a label's article in lower case inside a sentence.
	"The ",
	// The English copy a timeline keeps beside the Text pages translate
	// (portal/postgres/approvals.go: addApprovers's detail).
	"Sent to ", "No decision by the deadline; escalated to ",
	// Words a request keeps as a person's own: the justification of a
	// role granted from the command line, and the demo's requests.
	"Granted from the command line (tessera admin grant).",
	"Reviewing pull requests for the Ginkgo project.", "On call from Monday; need it for incident response.", "Senior ",
}

// operatorCalls take text for operators (logs, wrapped errors, panics),
// not for the pages; markCalls mark or translate the text they take.
var (
	operatorCalls = []string{"errors.New", "fmt.Errorf", "panic", "Debug", "Info", "Warn", "Error", "DebugContext", "InfoContext", "WarnContext", "ErrorContext", "Log", "Println", "Printf", "Fprintf", "Fprintln", "Fatal", "Fatalf", "Wrap", "NewDesc"}
	markCalls     = []string{"Mark", "T", "tr", "Textf", "Errorf", "sentence", "Name", "LabelOf", "LowerLabel"}
)

// goLiterals calls fn with each literal in the non-test Go code under root
// (templ's generated code aside: TestNoUntranslatedText reads the
// templates) that reads as a sentence or a label and is not the text of a
// call in operatorCalls or markCalls; it returns how many texts it saw.
func goLiterals(t *testing.T, root string, fn func(token.Position, string)) int {
	t.Helper()
	fset := token.NewFileSet()
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || d.Name() == "i18n" || d.Name() == "demo" || d.Name() == "view" && root == "..") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || strings.HasSuffix(path, "_templ.go") {
			return nil
		}
		f, err := goparser.ParseFile(fset, path, nil, goparser.SkipObjectResolution)
		if err != nil {
			return err
		}
		var stack []ast.Node
		ast.Inspect(f, func(node ast.Node) bool {
			if node == nil {
				stack = stack[:len(stack)-1]
				return true
			}
			stack = append(stack, node)
			switch node.(type) {
			case *ast.ImportSpec, *ast.Field:
				stack = stack[:len(stack)-1]
				return false // import paths, struct tags
			}
			lit, ok := node.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if _, ok := stack[len(stack)-2].(*ast.CaseClause); ok {
				return true // a value compared with, not written
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil || !readsAsText(s, labelled(stack)) {
				return true
			}
			n++
			if call := enclosingCall(stack); slices.Contains(operatorCalls, call) || slices.Contains(markCalls, call) {
				return true
			}
			fn(fset.Position(lit.Pos()), s)
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// readsAsText reports whether s reads as words for people: a capital and a
// small letter, then more words ("Reset your password"); a single word only
// as the value of a label. SQL, identifiers and formats of machines
// (all capitals, no spaces) do not.
func readsAsText(s string, label bool) bool {
	r := []rune(s)
	if len(r) < 2 || !unicode.IsUpper(r[0]) || !unicode.IsLower(r[1]) {
		return false
	}
	return label || strings.Contains(s, " ")
}

// labelled reports whether the literal on top of stack is the value of a
// field named label or Label in a composite literal.
func labelled(stack []ast.Node) bool {
	if len(stack) < 2 {
		return false
	}
	kv, ok := stack[len(stack)-2].(*ast.KeyValueExpr)
	if !ok {
		return false
	}
	id, ok := kv.Key.(*ast.Ident)
	return ok && strings.EqualFold(id.Name, "label")
}

// enclosingCall is the name of the innermost call the literal on top of
// stack is an argument of (through concatenations and conversions), or "".
func enclosingCall(stack []ast.Node) string {
	for i := len(stack) - 2; i >= 0; i-- {
		switch n := stack[i].(type) {
		case *ast.BinaryExpr, *ast.ParenExpr:
			continue
		case *ast.CallExpr:
			switch fun := n.Fun.(type) {
			case *ast.Ident:
				return fun.Name
			case *ast.SelectorExpr:
				if id, ok := fun.X.(*ast.Ident); ok && (id.Name == "errors" || id.Name == "fmt" && fun.Sel.Name == "Errorf") {
					return id.Name + "." + fun.Sel.Name
				}
				return fun.Sel.Name
			}
			return ""
		default:
			return ""
		}
	}
	return ""
}

// untranslated lists the literal texts of tf a person reads, with where.
func untranslated(tf *parser.TemplateFile) []string {
	var out []string
	v := visitor.New()
	elem := v.Element
	v.Element = func(n *parser.Element) error {
		for _, a := range n.Attributes {
			ca, ok := a.(*parser.ConstantAttribute)
			if !ok {
				continue
			}
			key := ca.Key.String()
			if slices.Contains(readAttributes, key) || (key == "value" && n.Name == "input" && shownValue(n)) {
				if readable(ca.Value) {
					out = append(out, fmt.Sprintf("%d: attribute %s=%q is not translated", ca.Range.From.Line+1, key, ca.Value))
				}
			}
		}
		return elem(n)
	}
	v.Text = func(n *parser.Text) error {
		if readable(n.Value) {
			out = append(out, fmt.Sprintf("%d: text %q is not translated", n.Range.From.Line+1, strings.TrimSpace(n.Value)))
		}
		return nil
	}
	// Scripts and styles hold code, not text a person reads.
	v.ScriptElement = func(*parser.ScriptElement) error { return nil }
	v.RawElement = func(*parser.RawElement) error { return nil }
	_ = tf.Visit(v)
	return out
}

// shownValue reports whether input n shows its value as its label (a
// button written as an input); a <button>'s value is only sent, not shown.
func shownValue(n *parser.Element) bool {
	for _, a := range n.Attributes {
		if ca, ok := a.(*parser.ConstantAttribute); ok && ca.Key.String() == "type" {
			return ca.Value == "submit" || ca.Value == "button" || ca.Value == "reset"
		}
	}
	return false
}

// readable reports whether s, HTML-encoded as templ keeps it, holds a word
// outside allowedText.
func readable(s string) bool {
	s = html.UnescapeString(s)
	for _, w := range allowedText {
		s = strings.ReplaceAll(s, w, "")
	}
	return strings.IndexFunc(s, unicode.IsLetter) >= 0
}
