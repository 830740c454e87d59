package domain

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// checkLine returns why s, the value of a single-line field (a title, a
// name, a company), is not acceptable, or "" when it is fine. Besides the
// length, it refuses control characters, line separators and every Unicode
// format character (category Cf): zero-width characters and bidi controls
// are invisible yet change what a reader sees: a title that shows as one
// thing and is another, two names that look the same. File names are
// cleaned of the same characters (CleanFileName).
func checkLine(s string, min, max int) string {
	if msg := checkLength(s, min, max); msg != "" {
		return msg
	}
	for _, r := range s {
		switch {
		case unicode.IsControl(r):
			return "must not contain control characters"
		case unicode.In(r, unicode.Zl, unicode.Zp):
			return "must be a single line"
		case unicode.Is(unicode.Cf, r):
			return formatCharMessage(r)
		}
	}
	return ""
}

// checkLines is checkLine for prose of several lines (a description, a cover
// letter). Line breaks and tabs belong there. Format characters are refused
// only when they are bidi embeddings, overrides or isolates: those reorder
// the text that follows them, far beyond the field when it is shown inside
// a page or a mail, and prose has no need of them. The other format
// characters are part of how people write: the zero-width joiner U+200D
// builds emoji (woman + U+200D + laptop), the non-joiner U+200C is spelling
// in Persian, the marks U+200E and U+200F set the direction of a number in
// Arabic or Hebrew text without reordering anything past it.
func checkLines(s string, min, max int) string {
	if msg := checkLength(s, min, max); msg != "" {
		return msg
	}
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
		case unicode.IsControl(r):
			return "must not contain control characters"
		case isBidiControl(r):
			return formatCharMessage(r)
		}
	}
	return ""
}

// isBidiControl reports whether r is one of the explicit directional
// embeddings, overrides (U+202A–U+202E) or isolates (U+2066–U+2069).
func isBidiControl(r rune) bool {
	return '\u202A' <= r && r <= '\u202E' || '\u2066' <= r && r <= '\u2069'
}

// formatCharMessage names the character, which the client cannot see.
func formatCharMessage(r rune) string {
	return fmt.Sprintf("must not contain invisible formatting characters (found U+%04X)", r)
}

// checkLength returns why s is not valid UTF-8 or breaks the length rule.
// Lengths count characters, not bytes.
func checkLength(s string, min, max int) string {
	n := utf8.RuneCountInString(s)
	switch {
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case n < min && min == 1:
		return "is required"
	case n > max && min == 0:
		return fmt.Sprintf("must be at most %d characters", max)
	case n < min || n > max:
		return fmt.Sprintf("must be %d to %d characters", min, max)
	}
	return ""
}
