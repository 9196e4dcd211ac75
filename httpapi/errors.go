package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/radmark/radmark"
)

// statusOf is the one table from domain error codes to HTTP statuses.
var statusOf = map[string]int{
	radmark.EINVALID:      http.StatusBadRequest,
	radmark.ENOTFOUND:     http.StatusNotFound,
	radmark.ECONFLICT:     http.StatusConflict,
	radmark.EGONE:         http.StatusGone,
	radmark.EFORBIDDEN:    http.StatusForbidden,
	radmark.EUNAUTHORIZED: http.StatusUnauthorized,
	radmark.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	radmark.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	radmark.EUNAVAILABLE:  http.StatusServiceUnavailable,
	radmark.EINTERNAL:     http.StatusInternalServerError,
}

// errNotAcceptable is answered with 406: the Accept header asks for a
// representation radmark cannot produce.
type errNotAcceptable struct{ msg string }

func (e errNotAcceptable) Error() string { return e.msg }

// writeError answers with the status for err's code and a JSON body with
// the client-safe message. Internal errors are logged with the request id
// and shown only as "internal error".
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status := http.StatusInternalServerError
	code := radmark.ErrorCode(err)
	msg := radmark.ErrorMessage(err)
	var na errNotAcceptable
	if errors.As(err, &na) {
		status, code, msg = http.StatusNotAcceptable, "not_acceptable", na.msg
	} else if st, ok := statusOf[code]; ok {
		status = st
	}
	if status >= 500 {
		log.Error("request failed", "request_id", RequestID(r.Context()), "method", r.Method, "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func errNotFound(path string) error {
	return radmark.Errorf(radmark.ENOTFOUND, "nothing at %s", path)
}
