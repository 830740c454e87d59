package http

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

// The API's description and its browsable documentation are part of the
// binary, so that they always describe the build that serves them.
var (
	//go:embed openapi.yaml
	openAPIDocument []byte
	//go:embed docs/index.html
	docsPage []byte
	//go:embed docs/redoc.standalone.js
	redocScript []byte
)

// docsPolicy lets the documentation page run Redoc from this server and
// nothing else: no CDN, no third-party fonts, no telemetry. Redoc styles its
// components inline and runs its search in a blob: worker.
const docsPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var (
	openAPIFile = newEmbeddedFile("openapi.yaml", "application/yaml; charset=utf-8", openAPIDocument)
	docsFile    = newEmbeddedFile("docs.html", "text/html; charset=utf-8", docsPage)
	redocFile   = newEmbeddedFile("redoc.standalone.js", "text/javascript; charset=utf-8", redocScript)
)

// handleOpenAPI handles the "GET /openapi.yaml" route: the OpenAPI 3.1
// description of the API.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	openAPIFile.serve(w, r)
}

// handleDocs handles the "GET /docs" route: a page that renders
// /openapi.yaml with Redoc.
func (s *Server) handleDocs(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", docsPolicy)
	docsFile.serve(w, r)
}

// handleDocsScript handles the "GET /docs/redoc.standalone.js" route: Redoc,
// which the /docs page loads.
func (s *Server) handleDocsScript(w http.ResponseWriter, r *http.Request) {
	redocFile.serve(w, r)
}

// embeddedFile is a file compiled into the binary, served with a strong
// ETag so that clients revalidate it cheaply.
type embeddedFile struct {
	name        string
	contentType string
	content     []byte
	etag        string
}

func newEmbeddedFile(name, contentType string, content []byte) embeddedFile {
	sum := sha256.Sum256(content)
	return embeddedFile{name: name, contentType: contentType, content: content,
		etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

// serve answers with the file, or 304 when If-None-Match names its ETag.
func (f embeddedFile) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("ETag", f.etag)
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.content))
}
