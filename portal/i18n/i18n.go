// Package i18n is Tessera's one message catalogue: every text a person reads
// (pages, emails, error messages) is written in English in the code, used as
// the key, and looked up here in the reader's language, with plural rules
// and the language's way of writing numbers and dates (golang.org/x/text).
//
// A page reads its language from the request (NewContext, put there by web
// from the person's stored choice, else the browser's Accept-Language, else
// English); an email from its recipient's stored choice (For). Keys are
// format strings ("%d people"): write them as literals at the call of T,
// Printer.T or Mark, so that TestCatalogueComplete finds every one of them
// and fails when a shipped language lacks it.
package i18n

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// Language is one language Tessera ships.
type Language struct {
	// Code is the BCP 47 tag stored in a person's settings and written in
	// <html lang>: "en", "de".
	Code string
	// Name is the language's name in itself ("Deutsch"), as a picker lists it.
	Name string
	tag  language.Tag
	// months are the short month names, January first.
	months [12]string
	// dateFormat writes a day ("5 Dec 2026"), from day, month name, year.
	dateFormat func(day int, month string, year int) string
}

// Languages are the shipped languages, English first: it is the language of
// the keys and the one used when nothing else matches.
var Languages = []*Language{
	{Code: "en", Name: "English", tag: language.English,
		months:     [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"},
		dateFormat: func(d int, m string, y int) string { return fmt.Sprintf("%d %s %d", d, m, y) }},
	{Code: "de", Name: "Deutsch", tag: language.German,
		months:     [12]string{"Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.", "Dez."},
		dateFormat: func(d int, m string, y int) string { return fmt.Sprintf("%d. %s %d", d, m, y) }},
}

// Plural is a message whose words follow a count: One for exactly one,
// Other for every other number (the two categories English and German
// have). Arg is the argument, counted from 1, that holds the count.
type Plural struct {
	Arg        int
	One, Other string
}

// german is the German text of every key (see TestCatalogueComplete),
// gathered from the files that translate one part of Tessera each; so are
// the plurals of both languages.
var (
	german             = mergeTexts(germanPages, germanAdmin, germanAccount, germanErrors, germanInput)
	englishPluralForms = mergeTexts(englishPlurals, englishAdminPlurals)
	germanPluralForms  = mergeTexts(germanPlurals, germanAdminPlurals)
)

// mergeTexts joins the parts of a language's catalogue; a key two parts
// translate differently is a mistake found at start-up, not a coin toss.
func mergeTexts[T comparable](parts ...map[string]T) map[string]T {
	all := map[string]T{}
	for _, part := range parts {
		for key, s := range part {
			if prev, ok := all[key]; ok && prev != s {
				panic(fmt.Sprintf("i18n: %q is translated both %v and %v", key, prev, s))
			}
			all[key] = s
		}
	}
	return all
}

var (
	cat     = catalog.NewBuilder(catalog.Fallback(language.English))
	matcher language.Matcher
	byCode  = map[string]*Language{}
)

func init() {
	tags := make([]language.Tag, len(Languages))
	for i, l := range Languages {
		tags[i] = l.tag
		byCode[l.Code] = l
	}
	matcher = language.NewMatcher(tags)
	for key, p := range englishPluralForms {
		mustSet(language.English, key, p)
	}
	for key, s := range german {
		if err := cat.SetString(language.German, key, s); err != nil {
			panic(fmt.Sprintf("i18n: German %q: %v", key, err))
		}
	}
	for key, p := range germanPluralForms {
		mustSet(language.German, key, p)
	}
}

func mustSet(tag language.Tag, key string, p Plural) {
	arg := p.Arg
	if arg == 0 {
		arg = 1
	}
	if err := cat.Set(tag, key, plural.Selectf(arg, "%d", "one", p.One, "other", p.Other)); err != nil {
		panic(fmt.Sprintf("i18n: %s %q: %v", tag, key, err))
	}
}

// Printer writes messages, numbers and dates in one language, and the
// instants inside messages in one zone (In; UTC unless told).
type Printer struct {
	lang *Language
	p    *message.Printer
	zone *time.Location
}

var printers = map[string]*Printer{}

func init() {
	for _, l := range Languages {
		printers[l.Code] = &Printer{lang: l, p: message.NewPrinter(l.tag, message.Catalog(cat))}
	}
}

// English is the printer for English, the language of the keys.
func English() *Printer { return printers["en"] }

// For returns the printer for a stored language code, English for "" or a
// code Tessera does not ship.
func For(code string) *Printer {
	if p, ok := printers[code]; ok {
		return p
	}
	return English()
}

// Supported reports whether code names a shipped language.
func Supported(code string) bool { _, ok := byCode[code]; return ok }

// Negotiate chooses the language of a request: the person's stored choice
// when they made one, else the best match for the browser's Accept-Language
// header, else English.
func Negotiate(stored, acceptLanguage string) *Printer {
	if Supported(stored) {
		return For(stored)
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return English()
	}
	_, i, conf := matcher.Match(tags...)
	if conf == language.No {
		return English()
	}
	return printers[Languages[i].Code]
}

// In returns the printer of p's language that writes the instants inside
// messages (Instant) in loc: a page's printer is in its viewer's zone, an
// email's in its recipient's.
func (p *Printer) In(loc *time.Location) *Printer {
	if loc == nil {
		loc = time.UTC
	}
	in := *p
	in.zone = loc
	return &in
}

// Zone is the zone p writes instants in: the reader's, UTC when unknown.
func (p *Printer) Zone() *time.Location {
	if p.zone == nil {
		return time.UTC
	}
	return p.zone
}

// Code is the language's BCP 47 code, for <html lang> and Content-Language.
func (p *Printer) Code() string { return p.lang.Code }

// T translates key, a format string in English, and formats args into it
// as fmt does, with numbers written the language's way ("1.234" in German).
func (p *Printer) T(key string, args ...any) string { return p.p.Sprintf(key, args...) }

// Name writes a name Tessera ships in p's language (the label of a core
// attribute), and any other name, one an administrator gave, as it is.
func (p *Printer) Name(s string) string {
	if p.lang.Code == "de" {
		if t, ok := german[s]; ok {
			return t
		}
	}
	return s
}

// Number writes n the language's way: "12,345" in English, "12.345" in German.
func (p *Printer) Number(n int) string { return p.p.Sprint(n) }

// Message is a text kept as its English format and arguments (portal.Text,
// portal.Error), written in a reader's language by Printer.Text.
type Message interface {
	MessageFormat() (format string, args []any)
}

// Text writes m in p's language; a Message among its arguments (a domain
// error quoted in another) is written in the same language. Its numbers are
// written as they are: in a domain's sentence they are mostly limits, ports
// and lengths that people type ("at most 2048 characters"), not counts.
func (p *Printer) Text(m Message) string {
	format, args := m.MessageFormat()
	local := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case Message:
			a = p.Text(v)
		case Word:
			if p.lang.Code != "en" {
				a = p.Name(v.Word())
			}
		case Instant:
			a = p.Moment(v.Instant(), time.Now())
		case CalendarDay:
			a = p.Date(v.CalendarDay())
		case error:
			if errors.As(v, new(Message)) {
				a = p.Error(v)
			}
		case int, int64, int32, uint, uint64, uint32:
			a = digits{v}
		}
		local[i] = a
	}
	return p.T(format, local...)
}

// Word is a name Tessera ships inside a message (portal.Label): English
// writes it as its String method does, other languages as Printer.Name.
type Word interface {
	Word() string
}

// Instant is a moment inside a message (portal.At), written in the
// printer's zone and language, with how far it is from now when that helps
// (Printer.Moment).
type Instant interface {
	Instant() time.Time
}

// CalendarDay is a day inside a message (portal.Date), which has no zone:
// written as Printer.Date writes it.
type CalendarDay interface {
	CalendarDay() time.Time
}

// digits formats a number as fmt does, without the language's grouping.
type digits struct{ v any }

func (d digits) Format(f fmt.State, verb rune) { fmt.Fprintf(f, fmt.FormatString(f, verb), d.v) }

// Error is the message of err for the person who caused it, in p's
// language: a domain error's own message (one that carries its format, as
// portal.Error does), or a general apology for any other error, whose
// details are for the log, not the page.
func (p *Printer) Error(err error) string {
	var m Message
	if err == nil {
		return ""
	} else if !errors.As(err, &m) {
		return p.T("Something went wrong on our side. Please try again.")
	}
	return p.Text(m)
}

// Mark returns key as it is: it marks a literal as a key for a text that is
// translated later, when it is shown (a label in a table of labels).
func Mark(key string) string { return key }

type ctxKey struct{}

// NewContext returns ctx with the printer of the reader's language.
func NewContext(ctx context.Context, p *Printer) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the reader's printer, English when none was set.
func FromContext(ctx context.Context) *Printer {
	if p, ok := ctx.Value(ctxKey{}).(*Printer); ok && p != nil {
		return p
	}
	return English()
}

// T translates key into the language of the reader of ctx (see Printer.T).
func T(ctx context.Context, key string, args ...any) string { return FromContext(ctx).T(key, args...) }
