package eventstore

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/jobboard/jobboard/domain"
)

// How an event's personal fields are stored. The fields that
// domain.PersonalFieldsOf names are taken out of the event's JSON object,
// encrypted together as one JSON object (AES-256-GCM under the subject's
// data key, the event's id and the subject's as associated data, so that a
// ciphertext moved to another event does not open) and put back as one
// member, "personal", holding base64(nonce ‖ ciphertext). The row's
// subject_id says whose key; a row without one holds no sealed fields (an
// event with no personal data, or one written before the log encrypted
// them and not yet migrated).
const personalMember = "personal"

// ErrErased is the cause of an append that would store personal data of a
// person whose data was erased: their key is gone for good, and none is
// made again.
var ErrErased = &domain.Error{Kind: domain.KindUnauthorized, Message: "this account was erased"}

// errNoKeyring is a store or reader used without a keyring on events that
// hold personal data: a wiring bug, never silently read as erased.
var errNoKeyring = errors.New("eventstore: events with personal data need a keyring (eventstore.WithKeyring)")

// WithKeyring gives the store the keyring that seals personal fields on
// append and opens them on read.
func WithKeyring(k *Keyring) Option { return func(s *Store) { s.keys = k } }

// Keys returns the store's keyring.
func (s *Store) Keys() *Keyring { return s.keys }

// subjectOf reads the subject of an event's personal fields.
func subjectOf(spec domain.PersonalFields, fields map[string]json.RawMessage) (uuid.UUID, error) {
	var subject uuid.UUID
	raw, ok := fields[spec.Subject]
	if !ok {
		return uuid.Nil, fmt.Errorf("no %s", spec.Subject)
	}
	if err := json.Unmarshal(raw, &subject); err != nil || subject == uuid.Nil {
		return uuid.Nil, fmt.Errorf("bad %s", spec.Subject)
	}
	return subject, nil
}

// sealFields moves the personal fields of fields into the sealed member,
// encrypted with aead for event id and subject.
func sealFields(aead cipher.AEAD, id, subject uuid.UUID, spec domain.PersonalFields, fields map[string]json.RawMessage) error {
	personal := make(map[string]json.RawMessage, len(spec.Fields))
	for _, f := range spec.Fields {
		if v, ok := fields[f]; ok {
			personal[f] = v
			delete(fields, f)
		}
	}
	plain, err := json.Marshal(personal)
	if err != nil {
		return err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	sealed := aead.Seal(nonce, nonce, plain, associatedData(id, subject))
	fields[personalMember], err = json.Marshal(base64.StdEncoding.EncodeToString(sealed))
	return err
}

func associatedData(id, subject uuid.UUID) []byte {
	return append(append(make([]byte, 0, 32), id[:]...), subject[:]...)
}

// seal returns what the log stores of each record (its data with the
// personal fields sealed) and the statements that store any data key made
// for them.
func (s *Store) seal(ctx context.Context, stream Stream, expected int64, records []Record) ([][]byte, []Statement, error) {
	stored := make([][]byte, len(records))
	var statements []Statement
	// Keys made by this append, for its other events of the same person;
	// they are kept by the keyring only once read back from the table by
	// a later append, since this one may not commit.
	made := map[uuid.UUID]cipher.AEAD{}
	for i := range records {
		r := &records[i]
		stored[i] = r.Data
		spec, ok := domain.PersonalFieldsOf(r.Type)
		if !ok {
			continue
		}
		if s.keys == nil {
			return nil, nil, errNoKeyring
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(r.Data, &fields); err != nil {
			return nil, nil, fmt.Errorf("seal %s: %w", r.Type, err)
		}
		subject, err := subjectOf(spec, fields)
		if err != nil {
			return nil, nil, fmt.Errorf("seal %s: %w", r.Type, err)
		}
		aead, ok := made[subject]
		if !ok {
			aead, ok = s.keys.sealingKey(subject)
		}
		if !ok {
			// A stream that starts with its subject's first event (an
			// account's registration) makes the key in the append itself:
			// the insert fails if a key exists, which a new id never has.
			if expected == 0 && subject == stream.ID {
				var wrapped []byte
				if wrapped, aead, err = s.keys.newDataKey(subject); err != nil {
					return nil, nil, err
				}
				statements = append(statements, Statement{
					SQL:  `INSERT INTO data_keys (subject_id, wrapped) VALUES ($1, $2)`,
					Args: []any{subject, wrapped},
				})
				made[subject] = aead
			} else if aead, err = s.dataKey(ctx, subject); err != nil {
				return nil, nil, err
			}
		}
		if err := sealFields(aead, r.EventID, subject, spec, fields); err != nil {
			return nil, nil, fmt.Errorf("seal %s: %w", r.Type, err)
		}
		if stored[i], err = json.Marshal(fields); err != nil {
			return nil, nil, err
		}
		r.Subject = subject
	}
	return stored, statements, nil
}

// dataKey returns subject's data key, making it if they have none yet.
// Two appends that make one at once agree on the first one stored (the
// second insert waits for the first and does nothing; the select, a
// statement of its own, then sees the first). A subject whose key was
// erased gets ErrErased.
func (s *Store) dataKey(ctx context.Context, subject uuid.UUID) (cipher.AEAD, error) {
	wrapped, aead, err := s.keys.newDataKey(subject)
	if err != nil {
		return nil, err
	}
	var b pgx.Batch
	b.Queue(`INSERT INTO data_keys (subject_id, wrapped) VALUES ($1, $2) ON CONFLICT (subject_id) DO NOTHING`, subject, wrapped)
	b.Queue(`SELECT wrapped FROM data_keys WHERE subject_id = $1`, subject)
	results := s.pool.SendBatch(ctx, &b)
	defer results.Close()
	if _, err := results.Exec(); err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	var stored []byte
	if err := results.QueryRow().Scan(&stored); err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	if err := results.Close(); err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	if stored == nil {
		return nil, ErrErased
	}
	if !bytes.Equal(stored, wrapped) {
		if aead, err = s.keys.unwrap(subject, stored); err != nil {
			return nil, err
		}
	}
	s.keys.keepSealingKey(subject, aead)
	return aead, nil
}

// Open turns a record as the log stores it into the record as it was
// appended: its personal fields decrypted, or, when its subject's key is
// gone (the person was erased), set to null, with Shredded set. A record
// without sealed fields is left as it is. Every reader of the log opens
// what it reads: the store's reads do it themselves, the subscribers and
// the replay through the keyring they are given.
func (k *Keyring) Open(r *Record) error {
	if !r.sealed {
		return nil
	}
	if k == nil {
		return errNoKeyring
	}
	spec, ok := domain.PersonalFieldsOf(r.Type)
	if !ok {
		return fmt.Errorf("event %d: %s has a subject but no personal fields", r.Position, r.Type)
	}
	var aead cipher.AEAD
	if r.wrappedKey != nil {
		var err error
		if aead, err = k.unwrap(r.Subject, r.wrappedKey); err != nil {
			return fmt.Errorf("open event %d: %w", r.Position, err)
		}
	} else {
		k.Forget(r.Subject)
	}
	// A ciphertext that does not open under the subject's key was sealed
	// with a key erased meanwhile (an append that raced the erasure): it
	// is as gone as the key.
	data, shredded, err := openData(aead, r.EventID, r.Subject, spec, r.Data)
	if err != nil {
		return fmt.Errorf("open event %d: %w", r.Position, err)
	}
	r.Data, r.Shredded, r.sealed, r.wrappedKey = data, shredded, false, nil
	return nil
}

// openData returns data with its sealed member replaced by the personal
// fields it holds (opened with aead, nil when the key is gone), or by
// those fields set to null when it cannot be opened (shredded).
//
// A replay opens a third of a million of these: the member is cut out of
// the JSON text and the fields spliced in, without decoding the rest of
// the object, when the text is as the log stores it (jsonb's output, or
// encoding/json's); anything else goes through a map.
func openData(aead cipher.AEAD, id, subject uuid.UUID, spec domain.PersonalFields, data []byte) ([]byte, bool, error) {
	rest, encoded, ok := cutSealed(data)
	if !ok {
		return openDataSlowly(aead, id, subject, spec, data)
	}
	var inner []byte
	shredded := true
	if aead != nil {
		if plain := openSealed(aead, id, subject, encoded); len(plain) >= 2 && plain[0] == '{' && plain[len(plain)-1] == '}' {
			inner, shredded = plain[1:len(plain)-1], false
		}
	}
	if shredded {
		for i, f := range spec.Fields {
			if i > 0 {
				inner = append(inner, ',')
			}
			inner = append(strconv.AppendQuote(inner, f), ":null"...)
		}
	}
	end := bytes.LastIndexByte(rest, '}')
	if end < 0 {
		return nil, false, errors.New("not a JSON object")
	}
	body := bytes.TrimRight(rest[:end], " \t\r\n")
	out := make([]byte, 0, len(body)+len(inner)+3)
	out = append(out, body...)
	if len(inner) > 0 {
		if body[len(body)-1] != '{' {
			out = append(out, ',')
		}
		out = append(out, inner...)
	}
	return append(out, '}'), shredded, nil
}

// cutSealed returns data without its sealed member, and the member's
// base64 text; false when the member is not where the text can be cut
// safely (not found, or escaped).
func cutSealed(data []byte) (rest, encoded []byte, ok bool) {
	for _, key := range []string{`"` + personalMember + `": "`, `"` + personalMember + `":"`} {
		i := bytes.Index(data, []byte(key))
		if i < 0 {
			continue
		}
		start := i + len(key)
		n := bytes.IndexByte(data[start:], '"')
		if n < 0 || bytes.IndexByte(data[start:start+n], '\\') >= 0 {
			return nil, nil, false
		}
		encoded, after := data[start:start+n], start+n+1
		// The member goes with one comma: the one after it, or, for the
		// last member, the one before it.
		j := after
		for j < len(data) && (data[j] == ' ' || data[j] == '\n' || data[j] == '\t' || data[j] == '\r') {
			j++
		}
		from, to := i, j
		if j < len(data) && data[j] == ',' {
			to = j + 1
		} else {
			k := bytes.LastIndexByte(data[:i], ',')
			if k < 0 {
				k = i // the only member
			}
			from, to = k, after
		}
		rest = make([]byte, 0, len(data)-(to-from))
		rest = append(append(rest, data[:from]...), data[to:]...)
		return rest, encoded, true
	}
	return nil, nil, false
}

// openSealed decrypts the base64 text of a sealed member, or returns nil.
func openSealed(aead cipher.AEAD, id, subject uuid.UUID, encoded []byte) []byte {
	sealed := make([]byte, base64.StdEncoding.DecodedLen(len(encoded)))
	n, err := base64.StdEncoding.Decode(sealed, encoded)
	ns := aead.NonceSize()
	if err != nil || n < ns {
		return nil
	}
	plain, err := aead.Open(sealed[ns:ns], sealed[:ns], sealed[ns:n], associatedData(id, subject))
	if err != nil {
		return nil
	}
	return plain
}

// openDataSlowly is openData through a map of the object's members.
func openDataSlowly(aead cipher.AEAD, id, subject uuid.UUID, spec domain.PersonalFields, data []byte) ([]byte, bool, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, false, err
	}
	sealed := fields[personalMember]
	delete(fields, personalMember)
	var personal map[string]json.RawMessage
	if aead != nil {
		personal = openFields(aead, id, subject, sealed)
	}
	if personal == nil {
		for _, f := range spec.Fields {
			fields[f] = json.RawMessage("null")
		}
	}
	for f, v := range personal {
		fields[f] = v
	}
	out, err := json.Marshal(fields)
	return out, personal == nil, err
}

func openFields(aead cipher.AEAD, id, subject uuid.UUID, member json.RawMessage) map[string]json.RawMessage {
	var encoded string
	if json.Unmarshal(member, &encoded) != nil {
		return nil
	}
	sealed, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil || len(sealed) < aead.NonceSize() {
		return nil
	}
	ns := aead.NonceSize()
	plain, err := aead.Open(nil, sealed[:ns], sealed[ns:], associatedData(id, subject))
	if err != nil {
		return nil
	}
	var personal map[string]json.RawMessage
	if json.Unmarshal(plain, &personal) != nil {
		return nil
	}
	return personal
}

// OpenAll opens every record of records.
func (k *Keyring) OpenAll(records []Record) error {
	for i := range records {
		if err := k.Open(&records[i]); err != nil {
			return err
		}
	}
	return nil
}

// AppendIn is Append inside tx, which the caller commits: for the rare
// write that must commit with work of its own making (a migration). The
// subscribers are not woken; they find the events at their next poll.
func (s *Store) AppendIn(ctx context.Context, tx pgx.Tx, stream Stream, expectedVersion int64, events []domain.Event) (Appended, error) {
	if len(events) == 0 {
		return Appended{}, errors.New("eventstore: append of no events")
	}
	records, err := s.records(stream, expectedVersion, events, MetadataFrom(ctx))
	if err != nil {
		return Appended{}, err
	}
	stored, statements, err := s.seal(ctx, stream, expectedVersion, records)
	if err != nil {
		return Appended{}, err
	}
	if err := s.send(ctx, tx, stream, expectedVersion, records, stored, statements); err != nil {
		return Appended{}, err
	}
	return Appended{Records: records}, nil
}

// SealedInPlace is what SealInPlace changed.
type SealedInPlace struct {
	Events   int64
	ByType   map[string]int64
	Subjects int64
	Through  int64
}

// SealInPlace encrypts, inside tx, the personal fields of the events
// stored before the log encrypted them (rows with personal fields and no
// subject_id), making their subjects' keys as needed. It rewrites events:
// the caller lifts the append-only trigger for tx alone (see
// postgres.SealPersonalData) and records the change in the log.
func (k *Keyring) SealInPlace(ctx context.Context, tx pgx.Tx) (SealedInPlace, error) {
	done := SealedInPlace{ByType: map[string]int64{}}
	var types []string
	for _, t := range domain.EventTypes() {
		if _, ok := domain.PersonalFieldsOf(t); ok {
			types = append(types, t)
		}
	}
	keys := map[uuid.UUID]cipher.AEAD{}
	after := int64(0)
	for {
		rows, err := tx.Query(ctx, `
SELECT position, event_id, event_type, data FROM events
WHERE subject_id IS NULL AND event_type = ANY($1) AND position > $2
ORDER BY position LIMIT 1000`, types, after)
		if err != nil {
			return done, err
		}
		type row struct {
			position int64
			id       uuid.UUID
			typ      string
			data     []byte
		}
		var batch []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.position, &r.id, &r.typ, &r.data); err != nil {
				rows.Close()
				return done, err
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return done, err
		}
		if len(batch) == 0 {
			return done, nil
		}
		var b pgx.Batch
		for _, r := range batch {
			spec, _ := domain.PersonalFieldsOf(r.typ)
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(r.data, &fields); err != nil {
				return done, fmt.Errorf("event %d: %w", r.position, err)
			}
			subject, err := subjectOf(spec, fields)
			if err != nil {
				return done, fmt.Errorf("event %d (%s): %w", r.position, r.typ, err)
			}
			aead, ok := keys[subject]
			if !ok {
				if aead, err = k.dataKeyIn(ctx, tx, subject); err != nil {
					return done, err
				}
				keys[subject] = aead
				done.Subjects++
			}
			if err := sealFields(aead, r.id, subject, spec, fields); err != nil {
				return done, err
			}
			data, err := json.Marshal(fields)
			if err != nil {
				return done, err
			}
			b.Queue(`UPDATE events SET data = $2, subject_id = $3 WHERE position = $1`, r.position, data, subject)
			done.Events++
			done.ByType[r.typ]++
			done.Through = r.position
		}
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return done, fmt.Errorf("seal events: %w", err)
		}
		after = batch[len(batch)-1].position
	}
}

// dataKeyIn is Store.dataKey inside tx (which holds the table's rows as
// they are in it).
func (k *Keyring) dataKeyIn(ctx context.Context, tx pgx.Tx, subject uuid.UUID) (cipher.AEAD, error) {
	wrapped, aead, err := k.newDataKey(subject)
	if err != nil {
		return nil, err
	}
	var stored []byte
	err = tx.QueryRow(ctx, `
WITH made AS (INSERT INTO data_keys (subject_id, wrapped) VALUES ($1, $2) ON CONFLICT (subject_id) DO NOTHING RETURNING wrapped)
SELECT wrapped FROM made UNION ALL SELECT wrapped FROM data_keys WHERE subject_id = $1 LIMIT 1`, subject, wrapped).Scan(&stored)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	if stored == nil {
		return nil, ErrErased
	}
	if bytes.Equal(stored, wrapped) {
		return aead, nil
	}
	return k.unwrap(subject, stored)
}

// StreamAppend is one stream's part of AppendAll.
type StreamAppend struct {
	Stream   Stream
	Expected int64
	Events   []domain.Event
}

// AppendAll appends to several streams in one transaction, each at the
// version it expects (a stale one fails the whole append with a conflict),
// with the statements and functions of opts: all of it commits, or
// nothing. For the rare command whose facts span streams (an erasure).
func (s *Store) AppendAll(ctx context.Context, appends []StreamAppend, opts ...AppendOption) (Appended, error) {
	var cfg appendConfig
	for _, o := range opts {
		o(&cfg)
	}
	var all []Record
	err := func() error {
		tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
		if err != nil {
			return fmt.Errorf("begin append: %w", err)
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
		for _, a := range appends {
			if len(a.Events) == 0 {
				continue
			}
			appended, err := s.AppendIn(ctx, tx, a.Stream, a.Expected, a.Events)
			if err != nil {
				return err
			}
			all = append(all, appended.Records...)
		}
		if len(all) == 0 {
			return errors.New("eventstore: append of no events")
		}
		if len(cfg.statements) > 0 {
			if err := s.send(ctx, tx, Stream{}, 0, nil, nil, cfg.statements); err != nil {
				return err
			}
		}
		for _, f := range cfg.within {
			if err := f(ctx, tx); err != nil {
				return err
			}
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("commit append: %w", err)
		}
		return nil
	}()
	if err != nil {
		s.appended(nil)
		return Appended{}, err
	}
	s.appended(all)
	return Appended{Records: all}, nil
}
