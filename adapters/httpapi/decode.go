package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/safeclose/billing/adapters/httpapi/httperr"
)

// decode reads a JSON request body into v: JSON only (415), at most
// MaxBodyBytes (413), no unknown fields, nothing after the value.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return httperr.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "Send the body as application/json.")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		if err != nil {
			return decodeError(err)
		}
		return httperr.New(http.StatusBadRequest, "invalid_json", "The body must hold one JSON object.")
	}
	return nil
}

func decodeError(err error) error {
	var (
		tooBig  *http.MaxBytesError
		typeErr *json.UnmarshalTypeError
		syntax  *json.SyntaxError
	)
	switch {
	case errors.As(err, &tooBig):
		return err // answered 413 by httperr.Of
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return httperr.New(http.StatusBadRequest, "invalid_json", "The body must be a JSON object.")
		}
		return httperr.New(http.StatusBadRequest, "invalid_request", "Field %q has the wrong type.", typeErr.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return httperr.New(http.StatusBadRequest, "invalid_request", "Unknown field %s.", strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return httperr.New(http.StatusBadRequest, "invalid_json", "The body is not valid JSON.")
	}
	return httperr.New(http.StatusBadRequest, "invalid_json", "The body is not valid JSON: %s.", sanitize(err))
}

func sanitize(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return strings.TrimPrefix(s, "json: ")
}

// bodyError is the answer to a body that could not be read: too large
// (413, see [httperr.Of]) or cut short.
func bodyError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return err
	}
	return httperr.New(http.StatusBadRequest, "invalid_request", "The request body could not be read.")
}

// required names the first empty required field.
func required(fields ...[2]string) error {
	for _, f := range fields {
		if strings.TrimSpace(f[1]) == "" {
			return httperr.New(http.StatusBadRequest, "invalid_request", "Field %q is required.", f[0])
		}
	}
	return nil
}
