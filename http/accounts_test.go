package http_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/matryer/is"
	"golang.org/x/crypto/bcrypt"

	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/eventstore"
	"github.com/jobboard/jobboard/internal/testdb"
)

func ptr[T any](v T) *T { return &v }

// TestRegister checks the 201 of POST /register: its status, Location,
// exact body and headers, for both roles.
func TestRegister(t *testing.T) {
	s := startService(t, nil)
	tests := []struct {
		name        string
		req         registration
		wantName    string
		wantCompany *string
	}{
		{
			name:        "recruiter with a company",
			req:         registration{Email: uniqueEmail("  Recruiter.MIXED"), Password: "correct horse", Name: "Rita Recruiter", Role: "recruiter", Company: ptr("Acme Corp")},
			wantName:    "Rita Recruiter",
			wantCompany: ptr("Acme Corp"),
		},
		{
			name:     "recruiter without a company",
			req:      registration{Email: uniqueEmail("recruiter"), Password: "correct horse", Name: "Rob", Role: "recruiter"},
			wantName: "Rob",
		},
		{
			name:     "job seeker",
			req:      registration{Email: uniqueEmail("SEEKER") + "  ", Password: "battery staple", Name: "Sam Seeker", Role: "job_seeker"},
			wantName: "Sam Seeker",
		},
		{
			name:     "name of 100 characters, more than 100 bytes",
			req:      registration{Email: uniqueEmail("long"), Password: "battery staple", Name: strings.Repeat("é", 100), Role: "job_seeker"},
			wantName: strings.Repeat("é", 100),
		},
		{
			name:     "password of 8 bytes in 4 characters",
			req:      registration{Email: uniqueEmail("short"), Password: "éééé", Name: "Eight", Role: "job_seeker"},
			wantName: "Eight",
		},
		{
			name:     "password of 72 bytes",
			req:      registration{Email: uniqueEmail("max"), Password: strings.Repeat("p", 72), Name: "Seventy-two", Role: "job_seeker"},
			wantName: "Seventy-two",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			before := time.Now().UTC().Add(-time.Second)
			res := s.postJSON("/register", tt.req)
			is.Equal(res.status, http.StatusCreated)                                    // the account is created
			is.Equal(res.header.Get("Content-Type"), "application/json; charset=utf-8") // JSON out, as the contract spells it
			is.True(res.header.Get("X-Request-Id") != "")                               // every answer has a request id

			var body map[string]any
			is.NoErr(json.Unmarshal(res.body, &body)) // the body is a JSON object
			keys := slices.Sorted(func(yield func(string) bool) {
				for k := range body {
					if !yield(k) {
						return
					}
				}
			})
			is.Equal(keys, []string{"company", "created_at", "email", "id", "name", "role"}) // exactly the documented fields

			var u user
			is.NoErr(json.Unmarshal(res.body, &u)) // the body is a user
			id, err := uuid.Parse(u.ID)
			is.NoErr(err)                                                       // the id is a UUID
			is.Equal(id.Version(), uuid.Version(7))                             // ids are UUIDv7
			is.Equal(res.header.Get("Location"), "/users/"+u.ID)                // Location names the new account
			is.Equal(u.Email, strings.ToLower(strings.TrimSpace(tt.req.Email))) // the email is trimmed and lower-cased
			is.Equal(u.Name, tt.wantName)
			is.Equal(u.Role, tt.req.Role)
			is.Equal(u.Company, tt.wantCompany) // company is null unless one was given

			created, err := time.Parse(time.RFC3339, u.CreatedAt)
			is.NoErr(err)                                                                                         // created_at is RFC 3339
			is.True(strings.HasSuffix(u.CreatedAt, "Z"))                                                          // created_at is in UTC
			is.True(!created.Before(before.Truncate(time.Second)) && created.Before(time.Now().Add(time.Second))) // created_at is now

			for _, secret := range []string{tt.req.Password, "$2a$", "password", "hash"} {
				is.True(!strings.Contains(string(res.body), secret)) // the password and its hash are never returned
			}
		})
	}
}

// TestRegisterInvalidFields checks that well-formed bodies with invalid
// fields are 422s naming every bad field.
func TestRegisterInvalidFields(t *testing.T) {
	s := startService(t, nil)
	valid := func() map[string]any {
		return map[string]any{"email": uniqueEmail("invalid"), "password": "long enough", "name": "Val", "role": "job_seeker"}
	}
	tests := []struct {
		name   string
		change func(map[string]any)
		want   []string
	}{
		{"missing email", func(m map[string]any) { delete(m, "email") }, []string{"email"}},
		{"empty email", func(m map[string]any) { m["email"] = "   " }, []string{"email"}},
		{"email without @", func(m map[string]any) { m["email"] = "not-an-email" }, []string{"email"}},
		{"email with a display name", func(m map[string]any) { m["email"] = "Bob <bob@example.com>" }, []string{"email"}},
		{"email without a domain", func(m map[string]any) { m["email"] = "bob@" }, []string{"email"}},
		{"missing password", func(m map[string]any) { delete(m, "password") }, []string{"password"}},
		{"password of 7 bytes", func(m map[string]any) { m["password"] = "1234567" }, []string{"password"}},
		{"password of 73 bytes", func(m map[string]any) { m["password"] = strings.Repeat("p", 73) }, []string{"password"}},
		{"password of 7 bytes in 5 characters", func(m map[string]any) { m["password"] = "éé123" }, []string{"password"}},
		{"empty name", func(m map[string]any) { m["name"] = "" }, []string{"name"}},
		{"blank name", func(m map[string]any) { m["name"] = "   " }, []string{"name"}},
		{"missing name", func(m map[string]any) { delete(m, "name") }, []string{"name"}},
		{"name of 101 characters", func(m map[string]any) { m["name"] = strings.Repeat("n", 101) }, []string{"name"}},
		{"name of 101 two-byte characters", func(m map[string]any) { m["name"] = strings.Repeat("é", 101) }, []string{"name"}},
		{"unknown role", func(m map[string]any) { m["role"] = "admin" }, []string{"role"}},
		{"missing role", func(m map[string]any) { delete(m, "role") }, []string{"role"}},
		{"job seeker with a company", func(m map[string]any) { m["company"] = "Acme" }, []string{"company"}},
		{"job seeker with an empty company", func(m map[string]any) { m["company"] = "" }, []string{"company"}},
		{"unknown field", func(m map[string]any) { m["nickname"] = "vally" }, []string{"nickname"}},
		{"read-only id", func(m map[string]any) { m["id"] = uuid.NewString() }, []string{"id"}},
		{"read-only created_at", func(m map[string]any) { m["created_at"] = "2026-01-01T00:00:00Z" }, []string{"created_at"}},
		{"name of the wrong type", func(m map[string]any) { m["name"] = 42 }, []string{"name"}},
		{"password of the wrong type", func(m map[string]any) { m["password"] = 12345678 }, []string{"password"}},
		{"role of the wrong type", func(m map[string]any) { m["role"] = []string{"recruiter"} }, []string{"role"}},
		{"several bad fields at once", func(m map[string]any) {
			m["email"], m["password"], m["name"], m["role"] = "nope", "short", "", "boss"
		}, []string{"email", "name", "password", "role"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			body := valid()
			tt.change(body)
			p := problemOf(t, s.postJSON("/register", body), http.StatusUnprocessableEntity)
			got := p.fields()
			sort.Strings(got)
			is.Equal(got, tt.want) // the problem names exactly the bad fields
			for _, e := range p.Errors {
				is.True(e.Message != "") // each field error says what is wrong
			}
		})
	}
	t.Run("recruiter with a company of 201 characters", func(t *testing.T) {
		is := is.New(t)
		body := valid()
		body["role"], body["company"] = "recruiter", strings.Repeat("c", 201)
		p := problemOf(t, s.postJSON("/register", body), http.StatusUnprocessableEntity)
		is.Equal(p.fields(), []string{"company"}) // company is at most 200 characters
	})
}

// TestRegisterBadRequests checks the statuses for bodies that are not a JSON
// object, too large, or of the wrong media type.
func TestRegisterBadRequests(t *testing.T) {
	s := startService(t, nil)
	validJSON := `{"email":"` + uniqueEmail("bad") + `","password":"long enough","name":"B","role":"job_seeker"}`
	tests := []struct {
		name        string
		body        string
		contentType string
		want        int
	}{
		{"malformed JSON", `{"email": "a@example.com", "password": `, "application/json", http.StatusBadRequest},
		{"not JSON at all", `email=a@example.com`, "application/json", http.StatusBadRequest},
		{"trailing garbage", validJSON + `}`, "application/json", http.StatusBadRequest},
		{"empty body", ``, "application/json", http.StatusBadRequest},
		{"blank body", "  \n ", "application/json", http.StatusBadRequest},
		{"text/plain", validJSON, "text/plain", http.StatusUnsupportedMediaType},
		{"form", validJSON, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"over 1 MiB", `{"email":"a@example.com","password":"long enough","role":"job_seeker","name":"` +
			strings.Repeat("n", 1<<20) + `"}`, "application/json", http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := s.do(http.MethodPost, "/register", strings.NewReader(tt.body), "Content-Type", tt.contentType)
			problemOf(t, res, tt.want)
		})
	}
	t.Run("the valid body is accepted", func(t *testing.T) {
		is := is.New(t)
		res := s.do(http.MethodPost, "/register", strings.NewReader(validJSON), "Content-Type", "application/json")
		is.Equal(res.status, http.StatusCreated) // the bodies above fail only for what the case changes
	})
}

// TestRegisterDuplicateEmail checks that an email is taken whatever its case
// and surrounding spaces, and that the refused registration writes nothing.
func TestRegisterDuplicateEmail(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	email := uniqueEmail("dup")
	first := s.register(registration{Email: email, Password: "first password", Name: "First", Role: "recruiter"})

	for _, again := range []string{email, strings.ToUpper(email), "  " + strings.ToUpper(email[:1]) + email[1:] + "\t"} {
		p := problemOf(t, s.postJSON("/register", registration{Email: again, Password: "second password", Name: "Second", Role: "job_seeker"}), http.StatusConflict)
		is.True(p.Detail != "") // the conflict says why
	}

	var credentials, users int
	ctx := t.Context()
	is.Equal(registrationsOf(t, email), 1) // a refused registration appends no event
	is.NoErr(db.Pool.QueryRow(ctx, `SELECT count(*) FROM credentials WHERE email_hash = $1`, testdb.Keyring().EmailIndex(email)).Scan(&credentials))
	is.Equal(credentials, 1) // nor credentials (found by the email's keyed hash)
	is.NoErr(db.Pool.QueryRow(ctx, `SELECT count(*) FROM credentials WHERE email = $1`, email).Scan(&credentials))
	is.Equal(credentials, 0) // which do not keep the address itself
	is.NoErr(db.Pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE email = $1`, email).Scan(&users))
	is.Equal(users, 1) // nor an account

	// The first account is untouched: its password still works.
	token := s.login(email, "first password")
	var me user
	is.NoErr(json.Unmarshal(s.get("/me", token).body, &me))
	is.Equal(me, first) // the first account is the one that exists
}

// TestRegisterConcurrently races twenty registrations of one email: exactly
// one wins.
func TestRegisterConcurrently(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	email := uniqueEmail("race")
	const n = 20
	bodies := make([]string, n)
	for i := range bodies {
		// Different spellings of the same address.
		spelling := email
		if i%2 == 1 {
			spelling = " " + strings.ToUpper(email)
		}
		bodies[i] = `{"email":"` + spelling + `","password":"race password","name":"Racer","role":"job_seeker"}`
	}
	count := sendAtOnce(t, s, "/register", bodies)
	t.Logf("statuses: %v", count)
	is.Equal(count, map[int]int{http.StatusCreated: 1, http.StatusConflict: n - 1}) // one 201 and nineteen 409s

	is.Equal(registrationsOf(t, email), 1) // the losers appended nothing
	var credentials int
	is.NoErr(db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM credentials WHERE email_hash = $1`, testdb.Keyring().EmailIndex(email)).Scan(&credentials))
	is.Equal(credentials, 1) // and wrote no credentials
}

// registrationsOf counts the UserRegistered events of the package's log
// whose email, opened with the tests' keyring, is email (normalised). The
// log's rows hold personal data sealed: it checks that no row holds email
// in clear, and reads every registration back through a store.
func registrationsOf(t *testing.T, email string) int {
	t.Helper()
	ctx := t.Context()
	var clear int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE strpos(lower(data::text), $1) > 0`, email).Scan(&clear); err != nil {
		t.Fatalf("look for %s in the stored log: %v", email, err)
	}
	if clear != 0 {
		t.Fatalf("%d rows of the log hold %s in clear", clear, email)
	}
	store := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring()))
	n := 0
	var after eventstore.Checkpoint
	for {
		records, err := store.Query(ctx, eventstore.Filter{Type: "UserRegistered", After: after, Limit: 1000})
		if err != nil {
			t.Fatalf("read the registrations: %v", err)
		}
		if len(records) == 0 {
			return n
		}
		for _, r := range records {
			e, err := r.Event()
			if err != nil {
				t.Fatalf("decode a registration: %v", err)
			}
			if e.(domain.UserRegistered).Email == email {
				n++
			}
		}
		after = records[len(records)-1].Checkpoint()
	}
}

// TestRegisterKeepsPasswordsOutOfTheLog checks what a registration stores:
// a UserRegistered event without any password material, and a bcrypt hash
// in the credentials.
func TestRegisterKeepsPasswordsOutOfTheLog(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	const password = "Unmistakable-Pa55word!"
	u := s.register(registration{Email: uniqueEmail("secret"), Password: password, Name: "Sec Ret", Role: "recruiter", Company: ptr("Hush")})
	ctx := t.Context()

	var streamType, eventType string
	var storedEmail *string
	var subject *string
	var version int
	err := db.Pool.QueryRow(ctx, `
SELECT stream_type, event_type, stream_version, data->>'email', subject_id::text FROM events WHERE stream_id = $1`, u.ID).
		Scan(&streamType, &eventType, &version, &storedEmail, &subject)
	is.NoErr(err)                               // the account's stream holds one event
	is.Equal(eventType, "UserRegistered")       // which records the registration
	is.Equal(streamType, "user")                // in the user's stream
	is.Equal(version, 1)                        // as its first event
	is.Equal(storedEmail, nil)                  // its row holds the email sealed, not in clear
	is.True(subject != nil && *subject == u.ID) // under the account's own key
	read, err := eventstore.New(db.Pool, eventstore.WithKeyring(testdb.Keyring())).ReadStream(ctx, uuid.MustParse(u.ID))
	is.NoErr(err) // the store opens it
	is.Equal(len(read), 1)
	e, err := read[0].Event()
	is.NoErr(err)
	is.Equal(e.(domain.UserRegistered).Email, u.Email) // of this account

	// Every column of every row of the log (which is also the message
	// topic) and of the read model, as text.
	for _, table := range []string{"events", "users"} {
		rows, err := db.Pool.Query(ctx, `SELECT t::text FROM `+table+` AS t`)
		is.NoErr(err) // the table can be read
		n := 0
		for rows.Next() {
			var row string
			is.NoErr(rows.Scan(&row))
			n++
			if strings.Contains(row, password) || strings.Contains(row, "$2a$") || strings.Contains(row, "$2b$") {
				t.Fatalf("%s holds password material: %s", table, row)
			}
		}
		is.NoErr(rows.Err())
		is.True(n > 0) // the table was not empty, so the check checked something
	}

	var hash string
	is.NoErr(db.Pool.QueryRow(ctx, `SELECT password_hash FROM credentials WHERE user_id = $1`, u.ID).Scan(&hash))
	is.True(hash != password)                                               // the password is not stored as such
	is.True(strings.HasPrefix(hash, "$2a$"))                                // it is a bcrypt hash
	is.NoErr(bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))) // of this password
	cost, err := bcrypt.Cost([]byte(hash))
	is.NoErr(err)
	is.Equal(cost, 4) // with the configured cost

	is.True(!strings.Contains(s.logs.String(), password)) // the password is not logged either
}

// TestLogin checks POST /login: a token for an account found by its email
// whatever the case and spaces, and one answer for every failure.
func TestLogin(t *testing.T) {
	// Failed logins are throttled per email and per client address, and every
	// test here comes from 127.0.0.1: a database of its own keeps the
	// failures of earlier tests (and of earlier -count runs) from adding up.
	s := startServiceOn(t, testdb.New(t), nil)
	email := uniqueEmail("login")
	const password = "login password"
	registered := s.register(registration{Email: email, Password: password, Name: "Lo Gin", Role: "recruiter", Company: ptr("Gin Ltd")})

	for _, spelling := range []string{email, strings.ToUpper(email), "  " + email + " \t"} {
		t.Run("as "+spelling, func(t *testing.T) {
			is := is.New(t)
			res := s.postJSON("/login", map[string]string{"email": spelling, "password": password})
			is.Equal(res.status, http.StatusOK)                                         // the email is matched case-insensitively after trimming
			is.Equal(res.header.Get("Content-Type"), "application/json; charset=utf-8") // JSON out, as the contract spells it

			var body map[string]json.RawMessage
			is.NoErr(json.Unmarshal(res.body, &body))
			is.Equal(len(body), 4) // access_token, token_type, expires_in, user
			var l loginResponse
			is.NoErr(json.Unmarshal(res.body, &l))
			is.Equal(l.TokenType, "Bearer")
			is.Equal(l.ExpiresIn, 3600)
			is.Equal(l.User, registered) // the user is shown as at registration
			is.True(!strings.Contains(string(res.body), password))

			// The token is what the contract says: HS256 with sub, role, iat, exp and iss.
			var claims jwt.MapClaims
			token, err := jwt.ParseWithClaims(l.AccessToken, &claims, func(*jwt.Token) (any, error) { return []byte(jwtSecret), nil },
				jwt.WithValidMethods([]string{"HS256"}))
			is.NoErr(err) // the token is an HS256 JWT signed with the configured secret
			is.Equal(token.Header["alg"], "HS256")
			is.Equal(claims["sub"], registered.ID)
			is.Equal(claims["role"], "recruiter")
			is.Equal(claims["iss"], "jobboard")
			iat, err := claims.GetIssuedAt()
			is.NoErr(err)
			exp, err := claims.GetExpirationTime()
			is.NoErr(err)
			is.True(iat != nil && exp != nil)           // iat and exp are set
			is.Equal(exp.Sub(iat.Time), time.Hour)      // the token lives as long as expires_in says
			is.True(time.Since(iat.Time) < time.Minute) // it was issued now
		})
	}

	t.Run("unknown email and wrong password fail alike", func(t *testing.T) {
		is := is.New(t)
		failures := map[string]response{
			"unknown email":          s.postJSON("/login", map[string]string{"email": uniqueEmail("nobody"), "password": password}),
			"wrong password":         s.postJSON("/login", map[string]string{"email": email, "password": password + "!"}),
			"password in other case": s.postJSON("/login", map[string]string{"email": email, "password": strings.ToUpper(password)}),
			"no password":            s.postJSON("/login", map[string]string{"email": email}),
			"not an email":           s.postJSON("/login", map[string]string{"email": "nobody", "password": password}),
			"password past 72 bytes": s.postJSON("/login", map[string]string{"email": email, "password": password + strings.Repeat("x", 100)}),
		}
		var want problem
		for name, res := range failures {
			p := problemOf(t, res, http.StatusUnauthorized)
			t.Logf("%s: %s", name, res.body)
			is.True(strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer")) // a 401 names the Bearer scheme
			if want.Detail == "" {
				want = p
			}
			is.Equal(p, want) // every failed login gets the same answer
		}
		is.Equal(failures["unknown email"].body, failures["wrong password"].body) // identical bodies: the answer does not tell whether the email exists
	})

	t.Run("malformed body", func(t *testing.T) {
		problemOf(t, s.postJSON("/login", `{"email":`), http.StatusBadRequest)
		problemOf(t, s.postJSON("/login", `{"email":"a@example.com","password":"x","remember":true}`), http.StatusUnprocessableEntity)
	})
}

// TestLoginRefusesPasswordsPast72Bytes checks that a 72-byte password is not
// also opened by itself plus more: bcrypt reads only 72 bytes, so a login
// must refuse longer passwords rather than let bcrypt truncate them.
func TestLoginRefusesPasswordsPast72Bytes(t *testing.T) {
	is := is.New(t)
	s := startServiceOn(t, testdb.New(t), nil) // failed logins are counted per database; see TestLogin
	email := uniqueEmail("seventy-two")
	password := strings.Repeat("7", 72)
	s.register(registration{Email: email, Password: password, Name: "Max", Role: "job_seeker"})
	s.login(email, password) // the password itself works
	res := s.postJSON("/login", map[string]string{"email": email, "password": password + "and more"})
	problemOf(t, res, http.StatusUnauthorized)
	is.True(strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer")) // a wrong password is a 401
}

// TestMe checks GET /me for both roles.
func TestMe(t *testing.T) {
	s := startService(t, nil)
	for _, r := range []registration{
		{Email: uniqueEmail("me-recruiter"), Password: "me password", Name: "Rec", Role: "recruiter", Company: ptr("Me Inc")},
		{Email: uniqueEmail("me-seeker"), Password: "me password", Name: "Seek", Role: "job_seeker"},
	} {
		t.Run(r.Role, func(t *testing.T) {
			is := is.New(t)
			registered := s.register(r)
			token := s.login(r.Email, r.Password)
			res := s.get("/me", token)
			is.Equal(res.status, http.StatusOK)                                         // the caller sees their account
			is.Equal(res.header.Get("Content-Type"), "application/json; charset=utf-8") // JSON out, as the contract spells it
			var me user
			is.NoErr(json.Unmarshal(res.body, &me))
			is.Equal(me, registered) // the account as registered

			res = s.do(http.MethodGet, "/me", nil, "Authorization", "bearer "+token)
			is.Equal(res.status, http.StatusOK) // the scheme is case-insensitive
		})
	}
}

// TestMeRefusesBadTokens checks that every kind of bad token is a 401 with
// WWW-Authenticate, and that a well-made token passes, so that each refusal
// is for the one thing the case changes.
func TestMeRefusesBadTokens(t *testing.T) {
	s := startService(t, nil)
	seeker := s.register(registration{Email: uniqueEmail("tokens"), Password: "token password", Name: "Tok", Role: "job_seeker"})
	genuine := s.login(seeker.Email, "token password")
	now := time.Now()

	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"sub": seeker.ID, "role": "job_seeker", "iss": "jobboard", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if change != nil {
			change(c)
		}
		return c
	}
	sign := func(method jwt.SigningMethod, key string, c jwt.MapClaims) string {
		token, err := jwt.NewWithClaims(method, c).SignedString([]byte(key))
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
		return token
	}
	b64 := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	// The real token with the payload changed and the signature kept.
	parts := strings.Split(genuine, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	tampered := strings.Replace(string(payload), `"role":"job_seeker"`, `"role":"recruiter"`, 1)
	if tampered == string(payload) {
		t.Fatalf("the real token has no role claim to tamper with: %s", payload)
	}

	t.Run("a hand-made token like the real one is accepted", func(t *testing.T) {
		is := is.New(t)
		is.Equal(s.get("/me", sign(jwt.SigningMethodHS256, jwtSecret, claims(nil))).status, http.StatusOK) // the forgeries below differ from this in one way only
	})

	tests := []struct {
		name          string
		authorization string
	}{
		{"no header", ""},
		{"Basic scheme", "Basic dXNlcjpwYXNzd29yZA=="},
		{"token without a scheme", genuine},
		{"Bearer without a token", "Bearer "},
		{"garbage token", "Bearer garbage"},
		{"three garbage segments", "Bearer aaa.bbb.ccc"},
		{"alg none", "Bearer " + b64(map[string]string{"alg": "none", "typ": "JWT"}) + "." + b64(claims(nil)) + "."},
		{"alg none in capitals", "Bearer " + b64(map[string]string{"alg": "NONE", "typ": "JWT"}) + "." + b64(claims(nil)) + "."},
		{"another secret", "Bearer " + sign(jwt.SigningMethodHS256, "another secret, also 32 bytes or longer", claims(nil))},
		{"expired", "Bearer " + sign(jwt.SigningMethodHS256, jwtSecret, claims(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Minute).Unix()
		}))},
		{"no expiry", "Bearer " + sign(jwt.SigningMethodHS256, jwtSecret, claims(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{"role tampered", "Bearer " + parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tampered)) + "." + parts[2]},
		{"signature removed", "Bearer " + parts[0] + "." + parts[1] + "."},
		{"wrong issuer", "Bearer " + sign(jwt.SigningMethodHS256, jwtSecret, claims(func(c jwt.MapClaims) { c["iss"] = "someone-else" }))},
		{"no issuer", "Bearer " + sign(jwt.SigningMethodHS256, jwtSecret, claims(func(c jwt.MapClaims) { delete(c, "iss") }))},
		{"HS384 with the right secret", "Bearer " + sign(jwt.SigningMethodHS384, jwtSecret, claims(nil))},
		{"HS512 with the right secret", "Bearer " + sign(jwt.SigningMethodHS512, jwtSecret, claims(nil))},
		{"unknown role", "Bearer " + sign(jwt.SigningMethodHS256, jwtSecret, claims(func(c jwt.MapClaims) { c["role"] = "admin" }))},
		{"subject not a uuid", "Bearer " + sign(jwt.SigningMethodHS256, jwtSecret, claims(func(c jwt.MapClaims) { c["sub"] = "root" }))},
		{"account that does not exist", "Bearer " + sign(jwt.SigningMethodHS256, jwtSecret, claims(func(c jwt.MapClaims) { c["sub"] = uuid.Must(uuid.NewV7()).String() }))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			var res response
			if tt.authorization == "" {
				res = s.do(http.MethodGet, "/me", nil)
			} else {
				res = s.do(http.MethodGet, "/me", nil, "Authorization", tt.authorization)
			}
			problemOf(t, res, http.StatusUnauthorized)
			is.True(strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer")) // a 401 names the Bearer scheme
			is.True(!strings.Contains(string(res.body), seeker.Email))               // and shows nothing of the account
		})
	}
}

// TestRouting checks the answers for unknown paths and wrong methods.
func TestRouting(t *testing.T) {
	s := startService(t, nil)
	t.Run("unknown path", func(t *testing.T) {
		problemOf(t, s.get("/no/such/path", ""), http.StatusNotFound)
	})
	tests := []struct {
		method, path, allow string
	}{
		// DELETE /me is an account's erasure of itself.
		{http.MethodPut, "/me", "DELETE, GET, HEAD"},
		{http.MethodPost, "/me", "DELETE, GET, HEAD"},
		{http.MethodGet, "/register", "POST"},
		{http.MethodPut, "/login", "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			is := is.New(t)
			res := s.do(tt.method, tt.path, nil)
			problemOf(t, res, http.StatusMethodNotAllowed)
			is.Equal(res.header.Values("Allow"), []string{tt.allow}) // Allow names the methods the path takes
		})
	}
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestRequestID checks that X-Request-Id echoes a sane client id and
// replaces any other.
func TestRequestID(t *testing.T) {
	s := startService(t, nil)
	t.Run("sane ids are echoed", func(t *testing.T) {
		is := is.New(t)
		for _, path := range []string{"/healthz", "/no/such/path", "/me"} {
			res := s.do(http.MethodGet, path, nil, "X-Request-Id", "abc-123")
			is.Equal(res.header.Get("X-Request-Id"), "abc-123") // the client's id comes back, errors included
		}
	})
	t.Run("a missing id is made up", func(t *testing.T) {
		is := is.New(t)
		first, second := s.get("/healthz", "").header.Get("X-Request-Id"), s.get("/healthz", "").header.Get("X-Request-Id")
		is.True(uuidPattern.MatchString(first)) // a new id is a UUID
		is.True(first != second)                // a new one per request
	})
	for name, insane := range map[string]string{
		"300 characters":  strings.Repeat("a", 300),
		"spaces":          "abc 123",
		"a tab":           "abc\t123",
		"markup":          "<script>alert(1)</script>",
		"non-ASCII bytes": "abc-é",
		"quotes":          `"abc"`,
	} {
		t.Run("replaces "+name, func(t *testing.T) {
			is := is.New(t)
			got := s.do(http.MethodGet, "/healthz", nil, "X-Request-Id", insane).header.Get("X-Request-Id")
			is.True(uuidPattern.MatchString(got)) // the insane id is replaced by a new one
		})
	}
}

// TestRequestIDWithNewline checks that an id with a line break is replaced.
// No HTTP/1.1 client can send one (and Go's server refuses the request before
// any handler runs), so the request goes straight to the service's handler.
func TestRequestIDWithNewline(t *testing.T) {
	s := startService(t, nil)
	for _, insane := range []string{"abc\n123", "abc-123\n", "abc\r\nX-Evil: 1"} {
		is := is.New(t)
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/healthz", nil)
		req.Header["X-Request-Id"] = []string{insane}
		rec := httptest.NewRecorder()
		s.app.Server.Handler().ServeHTTP(rec, req)
		is.Equal(rec.Code, http.StatusOK)
		is.True(uuidPattern.MatchString(rec.Header().Get("X-Request-Id"))) // the id with a line break is replaced by a new one
	}
}

// TestHealth checks the operations endpoints.
func TestHealth(t *testing.T) {
	is := is.New(t)
	s := startService(t, nil)
	res := s.get("/healthz", "")
	is.Equal(res.status, http.StatusOK)                                         // the process runs
	is.Equal(res.header.Get("Content-Type"), "application/json; charset=utf-8") // JSON out, as the contract spells it

	// Something to project, so that "caught up" means something.
	s.register(registration{Email: uniqueEmail("ready"), Password: "ready password", Name: "Ready", Role: "job_seeker"})
	var last response
	ready := eventually(t, 15*time.Second, func() bool {
		last = s.get("/readyz", "")
		return last.status == http.StatusOK
	})
	if !ready {
		t.Fatalf("GET /readyz never answered 200; last answer: %s", last)
	}
}

// TestReadYourWrites checks that an account can be used the moment its
// registration is answered: no retries, no waiting.
func TestReadYourWrites(t *testing.T) {
	s := startService(t, nil)
	for i := range 5 {
		is := is.New(t)
		email := uniqueEmail("ryw")
		registered := s.register(registration{Email: email, Password: "read your writes", Name: "Ryw", Role: []string{"recruiter", "job_seeker"}[i%2]})
		token := s.login(email, "read your writes")
		res := s.get("/me", token)
		is.Equal(res.status, http.StatusOK) // the new account is visible at once
		var me user
		is.NoErr(json.Unmarshal(res.body, &me))
		is.Equal(me, registered) // as it was registered
	}
}

// TestLoginTiming checks that an unknown email is answered about as slowly
// as a wrong password, so that timing does not tell which emails have an
// account. bcrypt's cost is raised so that it, not the noise, dominates.
// Attempts go in pairs, one of each kind back to back (in alternating order),
// so that both meet the same load from the rest of the machine; the median
// of the pairs' ratios ignores the pairs that a burst of load hit anyway.
func TestLoginTiming(t *testing.T) {
	is := is.New(t)
	// Its own database, for its own bcrypt cost and its own count of failed
	// logins (see TestLogin).
	s := startServiceOn(t, testdb.New(t), map[string]string{"BCRYPT_COST": "9"})
	// Failed logins are throttled after 10 per email: the wrong passwords are
	// spread over two accounts, and every unknown email is a new one.
	accounts := []string{uniqueEmail("timing"), uniqueEmail("timing")}
	for _, email := range accounts {
		s.register(registration{Email: email, Password: "timing password", Name: "Tim", Role: "job_seeker"})
	}
	attempt := func(email string) time.Duration {
		start := time.Now()
		res := s.postJSON("/login", map[string]string{"email": email, "password": "wrong password"})
		elapsed := time.Since(start)
		is.Equal(res.status, http.StatusUnauthorized) // the attempt fails
		return elapsed
	}
	attempt(uniqueEmail("timing-unknown")) // warm up both paths
	attempt(accounts[0])

	const pairs = 9
	var unknownTimes, wrongTimes []time.Duration
	var ratios []float64
	for i := range pairs {
		var unknown, wrong time.Duration
		if i%2 == 0 {
			unknown = attempt(uniqueEmail("timing-unknown"))
			wrong = attempt(accounts[i%2])
		} else {
			wrong = attempt(accounts[i%2])
			unknown = attempt(uniqueEmail("timing-unknown"))
		}
		unknownTimes, wrongTimes = append(unknownTimes, unknown), append(wrongTimes, wrong)
		ratios = append(ratios, float64(unknown)/float64(wrong))
	}
	slices.Sort(ratios)
	ratio := ratios[len(ratios)/2]
	t.Logf("unknown email: %v\nwrong password: %v\nmedian ratio %.2f", unknownTimes, wrongTimes, ratio)
	is.True(ratio > 0.5 && ratio < 2) // an unknown email takes about as long as a wrong password
}
