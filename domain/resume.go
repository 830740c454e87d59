package domain

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gabriel-vasile/mimetype"
)

// MaxResumeBytes is the largest resume accepted (5 MiB).
const MaxResumeBytes = 5 << 20

// MaxFileNameLength bounds a stored file name, in characters. Names are
// shown in lists and sent back in a header: nobody needs a longer one.
const MaxFileNameLength = 100

// The content types a resume may have, as they are stored and served.
const (
	ContentTypePDF       = "application/pdf"
	ContentTypeDOCX      = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	ContentTypeDOC       = "application/msword"
	ContentTypeODT       = "application/vnd.oasis.opendocument.text"
	ContentTypePlainText = "text/plain; charset=utf-8"
)

// resumeTypes maps what the content sniffer may find to the type a resume
// is stored with. CSV and TSV are in because the sniffer calls prose with a
// regular pattern of commas or tabs by those names: they are plain text to
// the person reading them.
var resumeTypes = []struct{ sniffed, stored string }{
	{"application/pdf", ContentTypePDF},
	{"application/vnd.openxmlformats-officedocument.wordprocessingml.document", ContentTypeDOCX},
	{"application/msword", ContentTypeDOC},
	{"application/vnd.oasis.opendocument.text", ContentTypeODT},
	{"text/plain", ContentTypePlainText},
	{"text/csv", ContentTypePlainText},
	{"text/tab-separated-values", ContentTypePlainText},
}

// extensions name the file when the client gave no usable name.
var extensions = map[string]string{
	ContentTypePDF: ".pdf", ContentTypeDOCX: ".docx", ContentTypeDOC: ".doc", ContentTypeODT: ".odt", ContentTypePlainText: ".txt",
}

func init() {
	// The sniffer looks at the first 4 KiB by default, which is not always
	// enough to tell a DOCX from any ZIP file or a Word 97 document from any
	// OLE file: their tell-tale entries can sit further in. A resume is held
	// in memory whole anyway (at most MaxResumeBytes), so let the sniffer
	// see all of it. Nothing else in the process sniffs content.
	mimetype.SetLimit(MaxResumeBytes)
}

// ResumeFile describes a stored resume. It is what events and read models
// hold: never the bytes, which live in a blob table keyed by the
// application's id.
type ResumeFile struct {
	FileName    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"` // lower-case hex
}

// ResumeUpload is a resume as a client sent it: the file name it gave and
// the bytes.
type ResumeUpload struct {
	FileName string
	Content  []byte
}

// ErrResumeTooLarge is the refusal of a resume over MaxResumeBytes.
var ErrResumeTooLarge = &Error{Kind: KindTooLarge, Message: "the resume is larger than 5 MiB"}

// CheckResume decides whether an upload is an acceptable resume and returns
// what is stored about it: its type, judged by the content alone (never by
// the name or the type the client claimed), a clean file name, its size and
// its SHA-256.
func CheckResume(u ResumeUpload) (ResumeFile, error) {
	if len(u.Content) > MaxResumeBytes {
		return ResumeFile{}, ErrResumeTooLarge
	}
	if len(u.Content) == 0 {
		return ResumeFile{}, &Error{Kind: KindInvalid, Message: "the request has invalid fields",
			Fields: []FieldError{{Field: "resume", Message: "is an empty file"}}}
	}
	contentType, err := resumeType(u.Content)
	if err != nil {
		return ResumeFile{}, err
	}
	name := CleanFileName(u.FileName)
	if name == "" {
		name = "resume" + extensions[contentType]
	}
	sum := sha256.Sum256(u.Content)
	return ResumeFile{FileName: name, ContentType: contentType, Size: int64(len(u.Content)), SHA256: hex.EncodeToString(sum[:])}, nil
}

var errResumeType = &Error{Kind: KindUnsupportedType,
	Message: "the resume must be a PDF, DOCX, DOC, ODT or plain text file (its content says it is something else)"}

// ResumeSniffBytes is how much of an upload CheckResumeStart needs: the
// sniffer's own default reach, which names every resume type or the
// container it is built on.
const ResumeSniffBytes = 3072

// storedType is the stored type of the resume type the sniffer found, or
// false when it found none. Only the exact type counts, not its parents:
// HTML, SVG or a script sit under text/plain in the sniffer's tree but are
// not plain text.
func storedType(detected *mimetype.MIME) (string, bool) {
	for _, t := range resumeTypes {
		if detected.Is(t.sniffed) {
			return t.stored, true
		}
	}
	return "", false
}

// CheckResumeStart refuses, from its first ResumeSniffBytes bytes (or all
// of it, when it is shorter), a file that no resume can start like, so
// that an upload of the wrong kind is turned away before the rest of it is
// read. A start may show a resume type or only the container one is built
// on (a ZIP for DOCX and ODT, an OLE file for DOC), whose tell-tale
// entries can sit further in: CheckResume decides on the whole file.
func CheckResumeStart(start []byte) error {
	detected := mimetype.Detect(start)
	for _, t := range resumeTypes {
		// The type and its ancestors, but not the root (any bytes at all).
		for m := mimetype.Lookup(t.sniffed); m != nil && m.Parent() != nil; m = m.Parent() {
			if detected.Is(m.String()) {
				return nil
			}
		}
	}
	return errResumeType
}

// resumeType returns the stored content type of a resume's content, or an
// unsupported-type error.
func resumeType(content []byte) (string, error) {
	stored, ok := storedType(mimetype.Detect(content))
	if !ok {
		return "", errResumeType
	}
	if stored == ContentTypePlainText && !isPlainUTF8(content) {
		return "", &Error{Kind: KindUnsupportedType,
			Message: "a plain text resume must be UTF-8 text without binary data; save it as UTF-8 or send a PDF"}
	}
	return stored, nil
}

// isPlainUTF8 reports whether content is UTF-8 text in full. The sniffer
// only looks for binary bytes near the start; a file served as text must
// hold none anywhere (the bytes the WHATWG sniffing standard calls binary).
func isPlainUTF8(content []byte) bool {
	if !utf8.Valid(content) {
		return false
	}
	for _, b := range content {
		if b <= 0x08 || b == 0x0B || (0x0E <= b && b <= 0x1A) || (0x1C <= b && b <= 0x1F) {
			return false
		}
	}
	return true
}

// CleanFileName reduces a client's file name to a base name that is safe
// to store and to send back in a header: no directories (Unix or Windows,
// drive letters included), no control or invisible formatting characters
// (such as the right-to-left override U+202E, which makes "cv\u202Efdp.exe"
// show as a PDF), none of the characters Windows forbids, no leading or trailing dots
// and spaces, and at most MaxFileNameLength characters, the extension kept.
// It returns "" when nothing usable is left.
func CleanFileName(name string) string {
	name = strings.ToValidUTF8(name, "_")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	if len(name) >= 2 && name[1] == ':' && ('a' <= name[0]|0x20 && name[0]|0x20 <= 'z') {
		name = name[2:] // a drive-relative Windows path, such as C:cv.pdf
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case unicode.IsSpace(r):
			b.WriteRune(' ') // tabs and line breaks too: a name is one line
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			// dropped: invisible, or breaks the header it is sent in
		case strings.ContainsRune(`<>:"|?*`, r):
			b.WriteRune('_')
		default:
			b.WriteRune(r)
		}
	}
	name = strings.Trim(b.String(), ". ")
	if utf8.RuneCountInString(name) > MaxFileNameLength {
		ext := path.Ext(name)
		if utf8.RuneCountInString(ext) > 16 {
			ext = ""
		}
		stem := []rune(strings.TrimSuffix(name, ext))
		name = strings.Trim(string(stem[:MaxFileNameLength-utf8.RuneCountInString(ext)]), ". ") + ext
	}
	return name
}
