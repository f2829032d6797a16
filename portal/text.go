package portal

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Text is a sentence for people that the domain writes (a request's
// summary, a status), kept as its English format and arguments so that
// pages and emails write it in the reader's language: portal/i18n looks the
// format up in its catalogue (Printer.Text). Write the format as a literal
// at the call of Textf, where the catalogue's test finds it.
type Text struct {
	format string
	args   []any
}

// Textf returns the Text of format and args, formatted as fmt does.
func Textf(format string, args ...any) Text { return Text{format: format, args: args} }

// String is the text in English.
func (t Text) String() string { return fmt.Sprintf(t.format, t.args...) }

// MessageFormat returns the format and arguments, for translation.
func (t Text) MessageFormat() (string, []any) { return t.format, t.args }

// JoinTexts joins texts into one, sep between them, each written in the
// reader's language when the whole is.
func JoinTexts(texts []Text, sep string) Text {
	format := make([]string, len(texts))
	args := make([]any, len(texts))
	for i, t := range texts {
		format[i], args[i] = "%s", t
	}
	return Text{format: strings.Join(format, sep), args: args}
}

// Reason is err as a part of another message ("…: %s."): a domain error's
// own message, the general apology for any other (as ErrorMessage), kept
// as format and arguments so that it is written in the reader's language.
func Reason(err error) Text {
	var e *Error
	if errors.As(err, &e) {
		format, args := e.MessageFormat()
		return Text{format: format, args: args}
	}
	return Textf("Something went wrong on our side. Please try again.")
}

// ReasonOr is err as a part of another message for administrators: a
// domain error's own message as Reason, any other error's own words (a
// connected system's diagnostic), as ErrorMessageOr.
func ReasonOr(err error) Text {
	var e *Error
	if errors.As(err, &e) {
		return Reason(err)
	}
	return Textf("%s", err.Error())
}

// Mark returns s as it is: it marks a literal that the domain or an adapter
// returns for people to read (a status's label) as a key of portal/i18n's
// catalogue, which finds it by this name; it is translated where it is
// shown.
func Mark(s string) string { return s }

// Label is a name Tessera ships (an attribute's label, a status) inside
// another message. English writes it as given, or in lower case inside a
// sentence (LowerLabel: "The display name cannot be empty"); other
// languages write the catalogue's word for it (Printer.Text), nouns keeping
// their capital. A name an administrator gave stays as it is.
type Label struct {
	name  string
	lower bool
}

// LabelOf is name as a Label written as it is in English.
func LabelOf(name string) Label { return Label{name: name} }

// LowerLabel is name as a Label written in lower case in English.
func LowerLabel(name string) Label { return Label{name: name, lower: true} }

// String is the label in English.
func (l Label) String() string {
	if l.lower {
		return strings.ToLower(l.name)
	}
	return l.name
}

// Word is the label as the catalogue knows it.
func (l Label) Word() string { return l.name }

// Moment is an instant inside a Text ("due %s"): each reader reads it in
// their own zone and language (portal/i18n's Printer.Text), never as the
// zone or words of the process that wrote it.
type Moment struct{ t time.Time }

// At is t as an argument of a Text.
func At(t time.Time) Moment { return Moment{t: t} }

// Instant is the moment.
func (m Moment) Instant() time.Time { return m.t }

// String is the moment in UTC as the English text of a stored sentence
// (the audit log's and the command line's copy) has it; pages and emails
// write it through portal/i18n instead.
func (m Moment) String() string { return m.t.UTC().Format("2006-01-02 15:04 UTC") }
