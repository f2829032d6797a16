// Package portal holds Tessera's domain: people, groups, sessions and the
// service interfaces that adapters (Postgres, web) implement or consume.
package portal

import (
	"errors"
	"fmt"
)

// Error codes shared by every layer; the web tier maps each to an HTTP status.
const (
	ECONFLICT       = "conflict"
	EINTERNAL       = "internal"
	EINVALID        = "invalid"
	ENOTFOUND       = "not_found"
	EUNAUTHORIZED   = "unauthorized"
	EFORBIDDEN      = "forbidden"
	ETOOMANYREQUEST = "too_many_requests"
)

// Error is a domain error whose Message is safe to show to the person who
// caused it. Message is in English; pages and emails show it in the
// reader's language from its format and arguments (MessageFormat), which
// portal/i18n looks up in its catalogue.
type Error struct {
	Code    string
	Message string
	format  string
	args    []any
}

// MessageFormat returns the format and arguments Message was written from,
// for translation (Message itself when it was set directly).
func (e *Error) MessageFormat() (string, []any) {
	if e.format == "" {
		return "%s", []any{e.Message}
	}
	return e.format, e.args
}

func (e *Error) Error() string {
	return fmt.Sprintf("portal error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), format: format, args: args}
}

// WithArg returns a copy of e whose argument i is v. A caller that knows
// more than the one that refused (the line a rule was typed on) rewrites
// the part it knows, and the message stays one the catalogue translates.
func (e *Error) WithArg(i int, v any) *Error {
	if e.format == "" || i < 0 || i >= len(e.args) {
		return e
	}
	args := append([]any(nil), e.args...)
	args[i] = v
	return &Error{Code: e.Code, Message: fmt.Sprintf(e.format, args...), format: e.format, args: args}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of err, hiding internal details.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Something went wrong on our side. Please try again."
}

// ErrorMessageOr returns the message of a domain error, or err's full text
// for any other error (for operators reading a command's output).
func ErrorMessageOr(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// ErrTemporary marks a failure worth trying again later, such as a
// connected system that does not answer: errors.Is(err, ErrTemporary).
var ErrTemporary = errors.New("temporary failure")

// Retryable reports whether err is marked ErrTemporary.
func Retryable(err error) bool { return errors.Is(err, ErrTemporary) }
