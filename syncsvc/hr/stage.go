package hr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/syncsvc"
)

// A file is compared with the HR connector space by SQL: the space's
// employee IDs are read (not their attributes) with the digest of the row
// each object last took; a row with that digest changes nothing and goes
// no further. The other checked rows are copied into a temporary table
// (hr_stage) with the object each is of, and one statement compares each
// row's values with the object's and writes the rows that change
// something into syncsvc.ImportObjects, whole, as the import takes them.
// A file's preview stages them so, and its upload keeps them for its
// application (Service.stagedFor), so a preview and its application
// cannot disagree on what a row does.

// spaceKey is what a comparison needs of an HR connector space object
// before it reads its attributes.
type spaceKey struct {
	id      int64
	anchor  string
	account *string // its account name, if it has the attribute
	active  bool
	digest  []byte // of the row last imported into it (rowDigest), if nothing changed it since
}

// staging says where stagePlan leaves the objects to import: nowhere (a
// preview), in syncsvc.ImportObjects (which syncsvc.PrepareImport made
// in tx, for an import), or with upload (its hr_upload_objects), which
// Service.stagedFor moves into ImportObjects when the upload is applied.
type staging struct {
	stage  bool
	upload int64 // 0: into ImportObjects
}

// insert is the start of an INSERT of objects (anchor, attrs, digest)
// where st stages them, and of its SELECT list, whose arguments start at
// $n, with those arguments.
func (st staging) insert(n int) (into, sel string, args []any) {
	if st.upload == 0 {
		return "INSERT INTO " + syncsvc.ImportObjects + " (anchor, attrs, digest)", "SELECT ", nil
	}
	return "INSERT INTO hr_upload_objects (upload_id, anchor, attrs, digest)", fmt.Sprintf("SELECT $%d::bigint, ", n), []any{st.upload}
}

// stagePlan parses content as its source sends it, checks its rows, and
// compares them with the HR connector space in tx: it returns the plan
// and leaves the objects to import where st says.
func (s *Service) stagePlan(ctx context.Context, tx pgx.Tx, set Settings, source string, content []byte, st staging) (*Plan, error) {
	var rows []Row
	var refused []Refusal
	var err error
	partial := source == "scim"
	if partial {
		rows, refused, err = ParseBulk(content)
	} else {
		rows, refused, err = ParseCSV(content, set)
	}
	if err != nil {
		return nil, err
	}
	lim, err := loadLimits(ctx, tx, set.SystemID)
	if err != nil {
		return nil, err
	}
	schema, err := syncsvc.SchemaIn(ctx, tx)
	if err != nil {
		return nil, err
	}
	if partial {
		// A bulk request names its fields itself, row by row.
		set, rows, refused = bulkExtras(set, schema, rows, refused)
	}
	checks, err := checksDigest(lim, schema)
	if err != nil {
		return nil, err
	}
	space, err := loadKeys(ctx, tx, set.SystemID)
	if err != nil {
		return nil, err
	}
	p := &Plan{checks: checks}
	for _, k := range space {
		if k.active {
			p.ActiveBefore++
		}
	}
	// What depends on whether HR knows the employee: a joiner may be
	// refused (a start date too far ahead, no name) and gets an account
	// name; a person HR knows keeps theirs. A known row that gives what it
	// gave when its object was last imported changes nothing and goes no
	// further, its attributes not even kept: a daily file of 100,000 rows,
	// 100 of them changed, stages and compares 100.
	inFile := make(map[string]bool, len(rows))
	var refusedNew []Refusal
	var dg digester
	keep := func(r *stagedRow) bool {
		k, known := space[r.Key]
		switch {
		case !known && !r.RefuseNew.IsZero():
			refusedNew = append(refusedNew, refusal(r.Line, r.RefuseNew))
			return false
		case known && k.account != nil:
			r.Attrs["accountname"] = *k.account
		case !known && r.Attrs["accountname"] == "":
			// Made from the names the row gives (a column not mapped
			// gives none).
			r.Attrs["accountname"] = accountBase(r.Attrs[strings.ToLower(FieldGivenName)], r.Attrs[strings.ToLower(FieldSurname)], r.ID)
		}
		inFile[r.Key] = true
		if !known {
			return true // its digest once its account name is final
		}
		d := dg.rowDigest(r.Attrs)
		if bytes.Equal(k.digest, d[:]) {
			return false
		}
		id := k.id
		r.csID, r.digest = &id, d[:]
		return true
	}
	n, staged, refused := checkRows(planInput{settings: set, rows: rows, refused: refused, partial: partial, now: s.now(),
		limits: lim, schema: schema, keep: keep})
	p.Rows, p.Refused = n, append(refused, refusedNew...)
	var joiners []int
	for i, r := range staged {
		if r.csID == nil {
			joiners = append(joiners, i)
		}
	}
	if _, mapped := set.Columns[FieldAccountName]; !mapped && len(joiners) > 0 {
		if err := uniqueNames(ctx, tx, staged, joiners); err != nil {
			return nil, err
		}
	}
	csIDs, digests := make([]*int64, len(staged)), make([][]byte, len(staged))
	for i := range staged {
		r := &staged[i]
		if r.csID == nil {
			d := dg.rowDigest(r.Attrs)
			r.digest = d[:]
		}
		csIDs[i], digests[i] = r.csID, r.digest
	}
	if err := stageRows(ctx, tx, staged, csIDs, digests); err != nil {
		return nil, fmt.Errorf("hr: stage rows: %w", err)
	}
	// Each row against its object: new, as it was, back (a rehire),
	// leaving, or moving; those that change something are imported whole
	// (the object's values, with the row's over them).
	into, sel, args := st.insert(2)
	list, err := tx.Query(ctx, `WITH d AS (SELECT s.line, s.id, s.attrs, s.digest, c.anchor AS cur_anchor, c.attributes AS cur,
					c.source_digest AS cur_digest
				FROM hr_stage s LEFT JOIN cs_objects c ON c.id = s.cs_id),
			k AS MATERIALIZED (SELECT d.*, CASE
				WHEN d.cur IS NULL THEN 'joiner'
				WHEN NOT EXISTS (SELECT 1 FROM jsonb_each(d.attrs) e
					WHERE NOT d.cur ? e.key OR coalesce(d.cur->e.key->>0, '') <> coalesce(e.value->>0, '')) THEN 'same'
				WHEN coalesce(d.cur->'active'->>0, '') = 'false' AND d.attrs->'active'->>0 = 'true' THEN 'joiner'
				WHEN coalesce(d.cur->'active'->>0, '') <> 'false' AND d.attrs->'active'->>0 = 'false' THEN 'leaver'
				ELSE 'mover' END AS kind FROM d),
			ins AS (`+into+`
				`+sel+`coalesce(k.cur_anchor, k.id), CASE WHEN k.kind <> 'same' THEN coalesce(k.cur, '{}') || k.attrs END, k.digest
				FROM k WHERE (k.kind <> 'same' OR k.cur_digest IS DISTINCT FROM k.digest) AND $1)
		SELECT coalesce(cur_anchor, id), kind FROM k WHERE kind <> 'same' ORDER BY line`, append([]any{st.stage}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("hr: compare rows: %w", err)
	}
	var anchor, kind string
	if _, err := pgx.ForEachRow(list, []any{&anchor, &kind}, func() error {
		switch kind {
		case "joiner":
			p.Joiners = append(p.Joiners, anchor)
		case "leaver":
			p.Leavers = append(p.Leavers, anchor)
		default:
			p.Movers = append(p.Movers, anchor)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("hr: compare rows: %w", err)
	}
	if !partial {
		// Gone from the file: they left. Their row stays, inactive, so
		// that a rehire finds the same person.
		var gone []int64
		for key, k := range space {
			if k.active && !inFile[key] {
				gone = append(gone, k.id)
				p.Leavers = append(p.Leavers, k.anchor)
			}
		}
		if len(gone) > 0 && st.stage {
			into, sel, args := st.insert(2)
			if _, err := tx.Exec(ctx, into+" "+sel+`c.anchor, c.attributes || '{"active": ["false"]}', NULL FROM cs_objects c WHERE c.id = ANY($1)`,
				append([]any{gone}, args...)...); err != nil {
				return nil, fmt.Errorf("hr: leavers: %w", err)
			}
		}
	}
	slices.Sort(p.Leavers)
	slices.SortFunc(p.Refused, func(a, b Refusal) int { return a.Line - b.Line })
	return p, nil
}

// datedObjects returns the objects staged in syncsvc.ImportObjects whose
// dates change whether they work after today (a start date ahead, an end
// date not past), for their timers.
func (s *Service) datedObjects(ctx context.Context, tx pgx.Tx, set Settings) ([]syncsvc.ImportedObject, error) {
	// Dates are YYYY-MM-DD (parseDate), which compare as text.
	today := dayOf(s.now(), s.location(set)).Format(time.DateOnly)
	rows, err := tx.Query(ctx, `SELECT anchor, attrs FROM `+syncsvc.ImportObjects+`
		WHERE attrs->'startdate'->>0 > $1 OR attrs->'enddate'->>0 >= $1`, today)
	if err != nil {
		return nil, fmt.Errorf("hr: dated rows: %w", err)
	}
	var out []syncsvc.ImportedObject
	var anchor string
	var attrs map[string][]string
	if _, err := pgx.ForEachRow(rows, []any{&anchor, &attrs}, func() error {
		out = append(out, syncsvc.ImportedObject{Anchor: anchor, DN: anchor, Class: syncsvc.ObjectUser, Attributes: attrs})
		attrs = nil
		return nil
	}); err != nil {
		return nil, fmt.Errorf("hr: dated rows: %w", err)
	}
	return out, nil
}

// loadKeys reads the HR system's objects by folded employee ID.
func loadKeys(ctx context.Context, tx pgx.Tx, systemID string) (map[string]spaceKey, error) {
	rows, err := tx.Query(ctx, `SELECT id, anchor, attributes->'accountname'->>0, attributes ? 'accountname',
			coalesce(attributes->'active'->>0, '') <> 'false', source_digest
		FROM cs_objects WHERE system_id = $1 AND anchor IS NOT NULL`, systemID)
	if err != nil {
		return nil, fmt.Errorf("hr: connector space: %w", err)
	}
	out := map[string]spaceKey{}
	var k spaceKey
	var account *string
	var has bool
	_, err = pgx.ForEachRow(rows, []any{&k.id, &k.anchor, &account, &has, &k.active, &k.digest}, func() error {
		k.account = nil
		if has {
			a := ""
			if account != nil {
				a = *account
			}
			k.account = &a
		}
		out[lowerKey(k.anchor)] = k
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hr: connector space: %w", err)
	}
	return out, nil
}

// digester makes rowDigest's digests, reusing its buffers from row to
// row (a file of 100,000 rows digests each).
type digester struct {
	keys []string
	buf  []byte
}

// rowDigest is what a checked row gives its object, as one value: the
// attributes by name, each name and value with its length.
func (d *digester) rowDigest(attrs map[string]string) [16]byte {
	// The rows of a file have the same names, mostly: sorted once.
	same := len(d.keys) == len(attrs)
	for _, k := range d.keys {
		if !same {
			break
		}
		_, same = attrs[k]
	}
	if !same {
		d.keys = d.keys[:0]
		for k := range attrs {
			d.keys = append(d.keys, k)
		}
		slices.Sort(d.keys)
	}
	d.buf = append(d.buf[:0], "hr1"...) // the digests of another way of importing rows never match
	for _, k := range d.keys {
		v := attrs[k]
		d.buf = binary.AppendUvarint(d.buf, uint64(len(k)))
		d.buf = append(d.buf, k...)
		d.buf = binary.AppendUvarint(d.buf, uint64(len(v)))
		d.buf = append(d.buf, v...)
	}
	sum := sha256.Sum256(d.buf)
	return [16]byte(sum[:16])
}

// stageRows copies the checked rows into hr_stage, a temporary table of
// tx, each with the ID of its object in the space (NULL: new to HR) and
// its digest.
func stageRows(ctx context.Context, tx pgx.Tx, staged []stagedRow, csIDs []*int64, digests [][]byte) error {
	for _, sql := range []string{
		`CREATE TEMP TABLE IF NOT EXISTS hr_stage (line int, id text, key text, attrs jsonb, cs_id bigint, digest bytea) ON COMMIT DROP`,
		`TRUNCATE hr_stage`,
	} {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return err
		}
	}
	i := 0
	var row []any
	var attrs []byte // COPY encodes a row before it asks for the next
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"hr_stage"}, []string{"line", "id", "key", "attrs", "cs_id", "digest"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == len(staged) {
				return nil, nil
			}
			r := &staged[i]
			attrs = appendValues(attrs[:0], r.Attrs)
			row = append(row[:0], r.Line, r.ID, r.Key, attrs, csIDs[i], digests[i])
			i++
			return row, nil
		}))
	return err
}

// appendValues appends a row's attributes as a connector space object
// holds them, in JSON: each name with its value in an array, or an empty
// array for an empty value ({"title": ["Nurse"], "office": []}). Written
// here rather than by encoding/json, which took 0.8 s of CPU over a file
// of 100,000 rows (reflection over the map, sorting its keys), and so
// that the comparison need not build the arrays row by row in SQL.
func appendValues(b []byte, attrs map[string]string) []byte {
	b = append(b, '{')
	first := true
	for k, v := range attrs {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = syncsvc.AppendJSONString(b, k)
		if v == "" {
			b = append(b, ":[]"...)
			continue
		}
		b = append(b, ":["...)
		b = syncsvc.AppendJSONString(b, v)
		b = append(b, ']')
	}
	return append(b, '}')
}

// uniqueNames makes the account names of the joiners (indexes into
// staged) unique among people and among the file's joiners, by a number
// after the name (jsmith2), in the file's order.
func uniqueNames(ctx context.Context, tx pgx.Tx, staged []stagedRow, joiners []int) error {
	want := make([]string, len(joiners))
	for i, j := range joiners {
		want[i] = strings.ToLower(staged[j].Attrs["accountname"])
	}
	// A join, not "= ANY": the planner walks an array of 100,000 names
	// for each person otherwise.
	rows, err := tx.Query(ctx, `SELECT DISTINCT n.name FROM unnest($1::text[]) AS n(name)
		JOIN people p ON lower(p.account_name) = n.name`, want)
	if err != nil {
		return fmt.Errorf("hr: account names: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("hr: account names: %w", err)
	}
	taken := make(map[string]bool, len(names)+len(joiners))
	for _, n := range names {
		taken[n] = true
	}
	// The number each base name tries next: a file with a thousand
	// J. Smiths tries each number once, not every smaller one again.
	next := map[string]int{}
	for _, j := range joiners {
		base := staged[j].Attrs["accountname"]
		name, key := base, strings.ToLower(base)
		for n := max(next[key], 2); taken[strings.ToLower(name)]; n++ {
			suffix := strconv.Itoa(n)
			name = base[:min(len(base), 20-len(suffix))] + suffix
			next[key] = n + 1
		}
		staged[j].Attrs["accountname"] = name
		taken[strings.ToLower(name)] = true
	}
	return nil
}
