package radmark

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes are stable: clients and tests match on them, and httpapi maps
// each to one HTTP status in a single table.
const (
	EINVALID      = "invalid"      // the request or input is malformed
	ENOTFOUND     = "not_found"    // the addressed object does not exist
	ECONFLICT     = "conflict"     // the change contradicts stored state
	EGONE         = "gone"         // the addressed object existed but was deleted for good (an expired export file)
	EFORBIDDEN    = "forbidden"    // authenticated but not allowed
	EUNAUTHORIZED = "unauthorized" // not authenticated
	ETOOLARGE     = "too_large"    // the input exceeds a configured limit
	EUNSUPPORTED  = "unsupported"  // well-formed but not something radmark handles (media type, transfer syntax)
	EUNAVAILABLE  = "unavailable"  // a dependency is down; retrying may help
	EINTERNAL     = "internal"     // a bug or an unexpected failure; details are logged, not shown
)

// Error is the domain error. Message is safe to show to the client; Err keeps
// the underlying cause for logs and errors.Is/As.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	switch {
	case e.Message != "" && e.Err != nil && !strings.Contains(e.Message, e.Err.Error()):
		// Errorf's message already holds the wrapped error's text.
		return e.Message + ": " + e.Err.Error()
	case e.Message != "":
		return e.Message
	case e.Err != nil:
		return e.Err.Error()
	}
	return e.Code
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted, client-safe
// message. A %w verb in format keeps the wrapped error reachable.
func Errorf(code string, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), Err: errors.Unwrap(err)}
}

// WrapError attaches a code and message to err.
func WrapError(code string, err error, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err: the message of the
// first *Error in its chain, or "internal error" for anything else.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		if e.Message != "" {
			return e.Message
		}
		return e.Error()
	}
	return "internal error"
}
