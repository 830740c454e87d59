package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/domain"
)

// fuzzSecret and fuzzNow make the fuzzed tokens' checks repeatable.
var (
	fuzzSecret = []byte("fuzzing secret, at least 32 bytes long!")
	fuzzNow    = time.Date(2026, 11, 25, 16, 45, 58, 0, time.UTC)
)

func fuzzTokens() *Tokens {
	t := NewTokens(fuzzSecret, "jobboard", time.Hour)
	t.now = func() time.Time { return fuzzNow }
	return t
}

// FuzzParseToken feeds Tokens.Parse any string, and Issue any caller. Parse
// never panics; what it refuses is an unauthorized domain.Error (a 401) with
// a message for the client; what it accepts was signed with HS256 (the
// algorithm is pinned, whatever the header says) and names a user and a
// role; and a token it issued parses back to its caller.
func FuzzParseToken(f *testing.F) {
	tokens := fuzzTokens()
	valid, err := tokens.Issue(Caller{UserID: uuid.MustParse("0190d6a4-7b1c-7c3e-9f00-123456789abc"), Role: domain.RoleRecruiter})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid, []byte("0190d6a47b1c7c3e"), true)
	f.Add("", []byte{}, false)
	f.Add("a.b.c", []byte{1}, false)
	// alg "none", then HS384, with valid claims.
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."+strings.Split(valid, ".")[1]+".", []byte{}, false)
	f.Add("eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9."+strings.Split(valid, ".")[1]+"."+strings.Split(valid, ".")[2], []byte{}, true)
	f.Fuzz(func(t *testing.T, token string, id []byte, recruiter bool) {
		caller, err := tokens.Parse(token)
		if err != nil {
			var de *domain.Error
			if !errors.As(err, &de) || de.Kind != domain.KindUnauthorized || de.Message == "" {
				t.Fatalf("Parse(%q) refused with %v (%T), want an unauthorized domain.Error", token, err, err)
			}
			if strings.Contains(strings.ToLower(de.Message), "jwt") || strings.Contains(de.Message, ": ") {
				t.Fatalf("the refusal shows the library's message: %q", de.Message)
			}
		} else {
			if caller.Role != domain.RoleRecruiter && caller.Role != domain.RoleJobSeeker {
				t.Fatalf("Parse(%q) accepted a token without a role", token)
			}
			if alg := headerAlg(token); alg != "HS256" {
				t.Fatalf("Parse(%q) accepted a token whose header says alg %q", token, alg)
			}
		}

		// Round trip: what Issue signs, Parse accepts as the same caller.
		var u uuid.UUID
		copy(u[:], id)
		want := Caller{UserID: u, Role: domain.RoleJobSeeker}
		if recruiter {
			want.Role = domain.RoleRecruiter
		}
		issued, err := tokens.Issue(want)
		if err != nil {
			t.Fatalf("Issue(%+v): %v", want, err)
		}
		got, err := tokens.Parse(issued)
		if err != nil || got != want {
			t.Fatalf("Issue(%+v) then Parse: %+v, %v", want, got, err)
		}
	})
}

// headerAlg is the alg a token's header names, or "" when it cannot be
// read.
func headerAlg(token string) string {
	header, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		return ""
	}
	// A map, as the JWT library reads it: a struct would also match "ALG".
	var h map[string]any
	if json.Unmarshal(b, &h) != nil {
		return ""
	}
	alg, _ := h["alg"].(string)
	return alg
}
