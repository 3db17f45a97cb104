package application

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// checkText refuses a free-text value (a name, an email to look up) that
// is not valid UTF-8 or holds a control character (NUL, tab, newline,
// escape…): none belongs in a name, Postgres refuses NUL, and a newline or
// an escape would let a name forge lines in logs and exports. The error
// names the field.
func checkText(field, s string) error {
	if !utf8.ValidString(s) {
		return invalid(field, "must be valid UTF-8")
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return invalid(field, "must not contain control characters")
	}
	return nil
}
