package view

import (
	"fmt"
	"html"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/a-h/templ/parser/v2"
	"github.com/a-h/templ/parser/v2/visitor"
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
