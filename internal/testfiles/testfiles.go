// Package testfiles makes small files of the types a resume may or may not
// be, for tests: built here, byte by byte, so that no fixture has to be
// shipped and each one is exactly as large as a test needs.
package testfiles

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
)

// PDF returns a PDF document of exactly size bytes (at least 64): a valid
// header and trailer around a comment that pads it.
func PDF(size int) []byte {
	head := "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%"
	tail := "\ntrailer << /Root 1 0 R >>\n%%EOF\n"
	if size < len(head)+len(tail) {
		panic(fmt.Sprintf("testfiles: a PDF needs at least %d bytes", len(head)+len(tail)))
	}
	return []byte(head + string(bytes.Repeat([]byte("x"), size-len(head)-len(tail))) + tail)
}

// DOCX returns a minimal Office Open XML word-processing document. When
// padFirst is set, the first entry is large enough that the entries that
// tell a DOCX from any ZIP lie well past the first kilobytes.
func DOCX(padFirst bool) []byte {
	contentTypes := `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
		`<Default Extension="xml" ContentType="application/xml"/>` +
		`<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`
	if padFirst {
		contentTypes += "<!--" + pseudoRandomText(64<<10) + "-->"
	}
	first := zipEntry{"[Content_Types].xml", contentTypes, zip.Deflate}
	if padFirst {
		first.method = zip.Store // so that it takes room in the archive too
	}
	return zipOf([]zipEntry{
		first,
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`, zip.Deflate},
		{"word/document.xml", `<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Ada Lovelace, analyst</w:t></w:r></w:p></w:body></w:document>`, zip.Deflate},
	})
}

// ODT returns a minimal OpenDocument text: a ZIP whose first entry is the
// uncompressed "mimetype" file, as the standard requires.
func ODT() []byte {
	return zipOf([]zipEntry{
		{"mimetype", "application/vnd.oasis.opendocument.text", zip.Store},
		{"META-INF/manifest.xml", `<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>`, zip.Deflate},
		{"content.xml", `<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text><text:p>Ada Lovelace, analyst</text:p></office:text></office:body></office:document-content>`, zip.Deflate},
	})
}

// ZIP returns a ZIP archive that is no document at all.
func ZIP() []byte {
	return zipOf([]zipEntry{{"notes.txt", "just a zip", zip.Deflate}})
}

type zipEntry struct {
	name, content string
	method        uint16
}

func zipOf(entries []zipEntry) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range entries {
		f, err := w.CreateHeader(&zip.FileHeader{Name: e.name, Method: e.method})
		if err != nil {
			panic(err)
		}
		if _, err := f.Write([]byte(e.content)); err != nil {
			panic(err)
		}
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// DOC returns a minimal Word 97-2003 document: a compound file (OLE2) of
// version 3 with one FAT sector and one directory sector, whose root
// storage carries Word.Document.8's class id and holds a WordDocument
// stream.
func DOC() []byte {
	const sector = 512
	const (
		freeSect   = 0xFFFFFFFF
		endOfChain = 0xFFFFFFFE
		fatSect    = 0xFFFFFFFD
		noStream   = 0xFFFFFFFF
	)
	file := make([]byte, 3*sector)
	le := binary.LittleEndian
	h := file[:sector]
	copy(h, []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1})
	le.PutUint16(h[24:], 0x003E)     // minor version
	le.PutUint16(h[26:], 0x0003)     // major version 3: 512-byte sectors
	le.PutUint16(h[28:], 0xFFFE)     // little-endian
	le.PutUint16(h[30:], 9)          // sector size 2^9
	le.PutUint16(h[32:], 6)          // mini sector size 2^6
	le.PutUint32(h[44:], 1)          // one FAT sector
	le.PutUint32(h[48:], 1)          // the directory starts at sector 1
	le.PutUint32(h[56:], 4096)       // mini stream cutoff
	le.PutUint32(h[60:], endOfChain) // no mini FAT
	le.PutUint32(h[68:], endOfChain) // no DIFAT sectors
	le.PutUint32(h[76:], 0)          // the FAT is sector 0
	for i := 80; i < sector; i += 4 {
		le.PutUint32(h[i:], freeSect)
	}
	fat := file[sector : 2*sector]
	for i := 0; i < sector; i += 4 {
		le.PutUint32(fat[i:], freeSect)
	}
	le.PutUint32(fat[0:], fatSect)
	le.PutUint32(fat[4:], endOfChain)
	dir := file[2*sector:]
	entry := func(i int, name string, typ byte, child uint32, clsid []byte) {
		e := dir[i*128 : (i+1)*128]
		for j, r := range name {
			le.PutUint16(e[2*j:], uint16(r))
		}
		le.PutUint16(e[64:], uint16(2*(len(name)+1)))
		e[66] = typ
		e[67] = 1 // black
		le.PutUint32(e[68:], noStream)
		le.PutUint32(e[72:], noStream)
		le.PutUint32(e[76:], child)
		copy(e[80:], clsid)
		le.PutUint32(e[116:], endOfChain)
	}
	wordDocument8 := []byte{0x06, 0x09, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46}
	entry(0, "Root Entry", 5, 1, wordDocument8)
	entry(1, "WordDocument", 2, noStream, nil)
	for i := 2; i < 4; i++ {
		le.PutUint32(dir[i*128+68:], noStream)
		le.PutUint32(dir[i*128+72:], noStream)
		le.PutUint32(dir[i*128+76:], noStream)
	}
	return file
}

// ELF returns the start of a 64-bit Linux executable.
func ELF() []byte {
	b := make([]byte, 4096)
	copy(b, []byte{0x7F, 'E', 'L', 'F', 2, 1, 1, 0})
	binary.LittleEndian.PutUint16(b[16:], 2)    // ET_EXEC
	binary.LittleEndian.PutUint16(b[18:], 0x3E) // x86-64
	binary.LittleEndian.PutUint32(b[20:], 1)
	return b
}

// PE returns the start of a Windows executable: an MZ stub pointing at a
// PE header.
func PE() []byte {
	b := make([]byte, 4096)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3C:], 0x80)
	copy(b[0x80:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(b[0x84:], 0x8664) // x86-64
	copy(b[0x4E:], "This program cannot be run in DOS mode.")
	return b
}

// HTML returns a web page with a script.
func HTML() []byte {
	return []byte("<!DOCTYPE html>\n<html><head><title>CV</title></head><body><script>alert(document.cookie)</script><p>Ada</p></body></html>\n")
}

// Text returns plain UTF-8 text of exactly size bytes.
func Text(size int) []byte {
	return []byte(pseudoRandomText(size))
}

// pseudoRandomText returns size bytes of words and line breaks, varied
// enough not to look like CSV or any other structured text.
func pseudoRandomText(size int) string {
	words := []string{"analyst", "engineer", "Ada", "Lovelace", "mathematics", "notes", "on", "the", "engine", "of", "Babbage", "1843."}
	var b bytes.Buffer
	state := uint32(2463534242)
	for b.Len() < size {
		state ^= state << 13
		state ^= state >> 17
		state ^= state << 5
		b.WriteString(words[state%uint32(len(words))])
		if state%7 == 0 {
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()[:size]
}
