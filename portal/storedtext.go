package portal

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// A Text kept in the database (a sync run's message, the detail of one
// object it changed, an HR row's refusal) is stored as its format and
// arguments, not as its English sentence, so that it is read later in the
// reader's language. A text stored before as a plain JSON string reads as
// that string.

// storedText is a Text as JSON: {"f": "…", "a": [...]}.
type storedText struct {
	Format string      `json:"f"`
	Args   []storedArg `json:"a,omitempty"`
}

// storedArg is one argument: a nested text, a label, a whole number, an
// instant (RFC 3339), a calendar day (YYYY-MM-DD), or a string (anything
// else as fmt writes it in English).
type storedArg struct {
	Text   *storedText `json:"t,omitempty"`
	Label  *string     `json:"l,omitempty"`
	Lower  bool        `json:"lower,omitempty"`
	Number *int64      `json:"n,omitempty"`
	At     *time.Time  `json:"at,omitempty"`
	Day    *string     `json:"day,omitempty"`
	String *string     `json:"s,omitempty"`
}

func store(t Text) storedText {
	s := storedText{Format: t.format, Args: make([]storedArg, len(t.args))}
	for i, a := range t.args {
		var e *Error
		if err, ok := a.(error); ok && errors.As(err, &e) {
			a = Reason(err)
		}
		switch v := a.(type) {
		case Text:
			nested := store(v)
			s.Args[i].Text = &nested
		case Label:
			s.Args[i].Label, s.Args[i].Lower = &v.name, v.lower
		case int:
			n := int64(v)
			s.Args[i].Number = &n
		case int64:
			s.Args[i].Number = &v
		case Moment:
			at := v.t.UTC()
			s.Args[i].At = &at
		case Date:
			day := v.String()
			s.Args[i].Day = &day
		case string:
			s.Args[i].String = &v
		default:
			str := fmt.Sprint(v)
			s.Args[i].String = &str
		}
	}
	return s
}

func (s storedText) text() Text {
	t := Text{format: s.Format, args: make([]any, len(s.Args))}
	for i, a := range s.Args {
		switch {
		case a.Text != nil:
			t.args[i] = a.Text.text()
		case a.Label != nil:
			t.args[i] = Label{name: *a.Label, lower: a.Lower}
		case a.Number != nil:
			t.args[i] = *a.Number
		case a.At != nil:
			t.args[i] = At(*a.At)
		case a.Day != nil:
			if d, err := ParseDate(*a.Day); err == nil {
				t.args[i] = d
			} else {
				t.args[i] = *a.Day
			}
		case a.String != nil:
			t.args[i] = *a.String
		default:
			t.args[i] = ""
		}
	}
	return t
}

// MarshalJSON stores t as its format and arguments.
func (t Text) MarshalJSON() ([]byte, error) { return json.Marshal(store(t)) }

// UnmarshalJSON reads a stored Text, or a plain string stored before texts
// kept their format (it reads as that string).
func (t *Text) UnmarshalJSON(data []byte) error {
	var old string
	if json.Unmarshal(data, &old) == nil {
		*t = Textf("%s", old)
		return nil
	}
	var s storedText
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("portal: stored text: %w", err)
	}
	*t = s.text()
	return nil
}

// IsZero reports whether t is empty: no format at all.
func (t Text) IsZero() bool { return t.format == "" }

// Stored is t as a column of stored texts keeps it (sync runs' message_text,
// request_events.detail_text, ...): its JSON, or nil (NULL) when t is zero.
func (t Text) Stored() []byte {
	if t.IsZero() {
		return nil
	}
	data, err := json.Marshal(store(t))
	if err != nil {
		return nil // a stored text is strings and numbers: it always encodes
	}
	return data
}

// ReadStored is the text a column of stored texts holds (stored, its JSON),
// or, for a row written before such texts were kept (stored nil), the
// English text that row has, read by old (EventText, say) or as it is.
func ReadStored(stored []byte, english string, old func(string) Text) (Text, error) {
	if stored == nil {
		if english == "" {
			return Text{}, nil
		}
		if old != nil {
			return old(english), nil
		}
		return Textf("%s", english), nil
	}
	var t Text
	if err := t.UnmarshalJSON(stored); err != nil {
		return Text{}, err
	}
	return t, nil
}
