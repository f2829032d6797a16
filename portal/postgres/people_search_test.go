package postgres_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

// TestSearchManyMatchesSortedByName: a search with more than
// portal.MaxMatches matches shows the alphabetically first people of all
// its matches, page after page, and says there are more than it can show
// (the first page used to be sorted out of whichever thousand rows the
// index gave first). The people are written in reverse name order, so
// that the rows read first are the last by name; the searches take every
// path (one word of a key's length or not, two letters, one letter,
// several words, words with an attribute filter).
func TestSearchManyMatchesSortedByName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	_, err := db.Pool.Exec(ctx, `INSERT INTO people (account_name, display_name, title, department, office)
		SELECT 'quillon' || i, 'Quillon ' || CASE i % 3 WHEN 0 THEN 'Ægir' WHEN 1 THEN 'Ängla' ELSE 'Ove' END || ' ' || to_char(i, 'FM0000'),
			'Ledger Keeper', 'Archives', 'Vaduz'
		FROM generate_series(1100, 1, -1) i`)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `ANALYZE people`)
	require.NoError(t, err)
	admin := demoViewer(t, org, "ada")

	for _, c := range []struct {
		q       string
		filters []portal.AttributeFilter
	}{
		{q: "quillon"}, {q: "Quil"}, {q: "quill"}, {q: "qu"}, {q: "q"}, {q: "quillon ledger"},
		{q: "ledger keeper vaduz"}, {q: "ledger qu"}, {q: "arch"},
		{q: "", filters: []portal.AttributeFilter{{Name: "department", Value: "Archives"}}},
		{q: "quil", filters: []portal.AttributeFilter{{Name: "office", Value: "vaduz"}}},
	} {
		// The oracle: every match, by the words themselves, in name order.
		rows, err := db.Pool.Query(ctx, `SELECT id::text FROM people
			WHERE ($1 = '' OR search_doc @@ tessera_prefix_query($1)) AND ($2 = '' OR department = $2) AND ($3 = '' OR office ILIKE $3)
			ORDER BY sort_name, id`, c.q, filterValue(c.filters, "department"), filterValue(c.filters, "office"))
		require.NoError(t, err)
		want, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.Greater(t, len(want), portal.MaxMatches, "search %q", c.q)
		for _, offset := range []int{0, 25, portal.MaxMatches - 25} {
			page, err := db.SearchPeople(ctx, portal.PersonFilter{Query: c.q, Filters: c.filters, Viewer: admin, Offset: offset})
			require.NoError(t, err, "search %q", c.q)
			var got []string
			for _, p := range page.Items {
				got = append(got, p.ID)
			}
			require.Equal(t, want[offset:offset+portal.DefaultPageSize], got, "search %q %v from %d", c.q, c.filters, offset)
			require.True(t, page.Capped, "search %q", c.q)
			require.Equal(t, portal.MaxMatches, page.Total, "search %q", c.q)
			require.Equal(t, offset+portal.DefaultPageSize < portal.MaxMatches, page.More, "search %q from %d", c.q, offset)
		}
	}
}

// TestSearchKeysFollowPeople: the search words (and so their keys) follow a person's words and
// name as they change (one person or many in a statement), and go with
// a person who is deleted.
func TestSearchKeysFollowPeople(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	ids := func(q string) []string {
		t.Helper()
		page, err := db.SearchPeople(ctx, portal.PersonFilter{Query: q})
		require.NoError(t, err)
		out := []string{}
		for _, p := range page.Items {
			out = append(out, p.ID)
		}
		return out
	}
	p := org.People[7]
	_, err := db.Pool.Exec(ctx, `UPDATE people SET display_name = 'Wendeline Quaresma', title = 'Xylographer' WHERE id = $1`, p.ID)
	require.NoError(t, err)
	require.Equal(t, []string{p.ID}, ids("wendeline"))
	require.Equal(t, []string{p.ID}, ids("Xylograph"))
	require.NotContains(t, ids(p.DisplayName), p.ID, "the old name no longer finds her")

	// Many people in one statement; a statement that changes no word
	// leaves the keys as they were.
	_, err = db.Pool.Exec(ctx, `UPDATE people SET office = 'Yverdon' WHERE id = ANY($1)`, []string{org.People[8].ID, org.People[9].ID})
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `UPDATE people SET updated_at = now()`)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{org.People[8].ID, org.People[9].ID}, ids("yverdon"))
	require.Equal(t, []string{p.ID}, ids("wendeline"))

	var id string
	require.NoError(t, db.Pool.QueryRow(ctx, `INSERT INTO people (account_name, display_name) VALUES ('zyxt', 'Zyxtra Vellacott') RETURNING id`).Scan(&id))
	require.Equal(t, []string{id}, ids("zyxtra"))
	_, err = db.Pool.Exec(ctx, `DELETE FROM people WHERE id = $1`, id)
	require.NoError(t, err)
	require.Empty(t, ids("zyxtra"))
	var left int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM person_search_words WHERE person_id = $1`, id).Scan(&left))
	require.Zero(t, left)
}

func filterValue(fs []portal.AttributeFilter, name string) string {
	for _, f := range fs {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// TestSearchShapesMatchTheWords: the searches people type (and the white
// pages benchmark makes: a whole name, a given name, a surname's first
// four letters, a given name's first two, a department, an office with a
// title's first word, a phone number's end, an email, one letter, a given
// name's first three to five letters) find exactly what the words
// themselves find, in name order, on the first two pages and on a page
// past the last match, with the same number of matches: each path of
// tessera_search_people (a word's own key of one, two, three, four or six
// letters, a word of five letters walking the key of four, several
// words, more matches than can be shown) agrees with the plain query.
func TestSearchShapesMatchTheWords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	rng := rand.New(rand.NewPCG(3, 4))
	var queries []string
	for i := range 60 {
		p := org.People[rng.IntN(len(org.People))]
		given, surname := []rune(p.GivenName), []rune(p.Surname)
		queries = append(queries, []string{
			p.DisplayName, p.GivenName, string(surname[:min(len(surname), 4)]), string(given[:min(len(given), 2)]),
			p.Department, p.Office + " " + strings.Fields(p.Title)[0], p.Phone[len(p.Phone)-6:], p.Email,
			string(given[:1]), string(given[:min(len(given), 3+i%3)]),
		}[i%10])
	}
	for _, q := range queries {
		rows, err := db.Pool.Query(ctx, `SELECT id::text FROM people WHERE search_doc @@ tessera_prefix_query($1) ORDER BY sort_name, id`, q)
		require.NoError(t, err)
		want, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		past := (min(len(want), portal.MaxMatches-1) / portal.DefaultPageSize) * portal.DefaultPageSize
		if past < len(want) {
			past += portal.DefaultPageSize
		}
		for _, offset := range []int{0, portal.DefaultPageSize, past} {
			if offset >= portal.MaxMatches {
				continue
			}
			page, err := db.SearchPeople(ctx, portal.PersonFilter{Query: q, Offset: offset})
			require.NoError(t, err, "search %q", q)
			got := []string{}
			for _, p := range page.Items {
				got = append(got, p.ID)
			}
			end := min(len(want), offset+portal.DefaultPageSize, portal.MaxMatches)
			require.Equal(t, want[min(offset, end):end], got, "search %q from %d", q, offset)
			require.Equal(t, min(len(want), portal.MaxMatches), page.Total, "search %q from %d", q, offset)
			require.Equal(t, len(want) > portal.MaxMatches, page.Capped, "search %q from %d", q, offset)
		}
	}
}

// TestSearchSeveralWordsWalkTheirKeys: searches of several words find
// exactly what the words themselves find, in name order, with the same
// count, on every page: a word of three letters beside a longer one (the
// stem index narrows by its first two letters), a word of one letter
// (which has no key), a rare word beside words everyone has (the email's
// 'tessera' and 'example'), and more matches than can be shown, walked
// in name order (the first two words' keys merged), and single words
// with more than can be shown, counted and walked by their keys. After
// people are renamed, moved and retitled in one statement, the same
// searches follow them.
func TestSearchSeveralWordsWalkTheirKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := setup(t)
	_, err := db.Pool.Exec(ctx, `INSERT INTO people (account_name, email, display_name, title, office)
		SELECT 'mw' || i, 'mw' || i || '@tessera.example',
			CASE i % 4 WHEN 0 THEN 'Ana' WHEN 1 THEN 'Anabel' WHEN 2 THEN 'Sol' ELSE 'Zeno' END || ' ' ||
				CASE i % 3 WHEN 0 THEN 'Vey' WHEN 1 THEN 'Ferreira-Okonkwo' ELSE 'Quist' END,
			CASE i % 5 WHEN 0 THEN 'Clerk' ELSE 'Senior Analyst' END,
			CASE i % 11 WHEN 0 THEN 'Ghent' ELSE 'Vaduz' END
		FROM generate_series(2200, 1, -1) i`)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `ANALYZE people, person_search_words`)
	require.NoError(t, err)

	queries := []string{"vaduz senior", "Senior Vaduz", "vaduz senior analyst", "tessera example", "example tessera vaduz",
		"mw1 tessera", "mw12 example", "mw1234 tessera example", "ana quist", "ana vey", "Sol Ferreira-Okonkwo",
		"an vaduz", "z vaduz", "a vaduz senior", "zeno ghent", "ana analyst", "anab senior",
		"vaduz", "senior", "anab", "an", "z"}
	capped := 0
	check := func() {
		t.Helper()
		for _, q := range queries {
			rows, err := db.Pool.Query(ctx, `SELECT id::text FROM people WHERE search_doc @@ tessera_prefix_query($1) ORDER BY sort_name, id`, q)
			require.NoError(t, err)
			want, err := pgx.CollectRows(rows, pgx.RowTo[string])
			require.NoError(t, err)
			require.NotEmpty(t, want, "search %q", q)
			if len(want) > portal.MaxMatches {
				capped++
			}
			for _, offset := range []int{0, portal.DefaultPageSize, 500, portal.MaxMatches - portal.DefaultPageSize} {
				if offset >= len(want) && offset > 0 {
					continue
				}
				page, err := db.SearchPeople(ctx, portal.PersonFilter{Query: q, Offset: offset})
				require.NoError(t, err, "search %q", q)
				got := []string{}
				for _, p := range page.Items {
					got = append(got, p.ID)
				}
				end := min(len(want), offset+portal.DefaultPageSize, portal.MaxMatches)
				require.Equal(t, want[offset:end], got, "search %q from %d", q, offset)
				require.Equal(t, min(len(want), portal.MaxMatches), page.Total, "search %q from %d", q, offset)
				require.Equal(t, len(want) > portal.MaxMatches, page.Capped, "search %q from %d", q, offset)
			}
		}
	}
	check()
	require.GreaterOrEqual(t, capped, 5, "several searches have more matches than can be shown")

	// The first of 'vaduz senior' by name leaves Vaduz, a Zeno becomes
	// Aaron (the first by name), and a clerk becomes a senior: the keys
	// the walk reads follow them.
	var first string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT id::text FROM people WHERE search_doc @@ tessera_prefix_query('vaduz senior')
		ORDER BY sort_name, id LIMIT 1`).Scan(&first))
	_, err = db.Pool.Exec(ctx, `UPDATE people SET
			office = CASE WHEN id = $1 THEN 'Ghent' ELSE office END,
			display_name = CASE WHEN account_name = 'mw3' THEN 'Aaron Vey' ELSE display_name END,
			title = CASE WHEN account_name = 'mw10' THEN 'Senior Clerk' ELSE title END
		WHERE id = $1 OR account_name IN ('mw3', 'mw10')`, first)
	require.NoError(t, err)
	page, err := db.SearchPeople(ctx, portal.PersonFilter{Query: "vaduz senior"})
	require.NoError(t, err)
	require.NotEqual(t, first, page.Items[0].ID)
	require.Equal(t, "Aaron Vey", page.Items[0].DisplayName)
	queries = append(queries, "aaron vaduz senior", "senior clerk vaduz", "ana vaduz")
	check()
}

// TestSearchSeveralWordsAtTheCap: a search of several words counts and
// pages its matches in one statement (0093) while they are at most
// portal.MaxMatches, and one more match sends it to the pair walk: at
// exactly a thousand every page, the last one and one past it agree with
// the words' own query and nothing is capped; at a thousand and one the
// count is capped and the first page is still the first by name. A
// search of several words that matches no one, or a page past the last
// match, gives no rows and the count.
func TestSearchSeveralWordsAtTheCap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := setup(t)
	insert := func(from, to int) {
		t.Helper()
		_, err := db.Pool.Exec(ctx, `INSERT INTO people (account_name, email, display_name, title, office)
			SELECT 'cap' || i, 'cap' || i || '@tessera.example', 'Quillon ' || md5(i::text), 'Yodeler', 'Varnholt'
			FROM generate_series($1::int, $2::int, -1) i`, to, from)
		require.NoError(t, err)
	}
	want := func(q string) []string {
		t.Helper()
		rows, err := db.Pool.Query(ctx, `SELECT id::text FROM people WHERE search_doc @@ tessera_prefix_query($1) ORDER BY sort_name, id`, q)
		require.NoError(t, err)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return ids
	}
	search := func(q string, offset int) portal.Page[portal.Person] {
		t.Helper()
		page, err := db.SearchPeople(ctx, portal.PersonFilter{Query: q, Offset: offset})
		require.NoError(t, err, "search %q from %d", q, offset)
		return page
	}
	ids := func(page portal.Page[portal.Person]) []string {
		got := []string{}
		for _, p := range page.Items {
			got = append(got, p.ID)
		}
		return got
	}

	insert(1, portal.MaxMatches)
	for _, q := range []string{"varnholt yodeler", "yodel varnh quillon"} {
		all := want(q)
		require.Len(t, all, portal.MaxMatches, "search %q", q)
		for _, offset := range []int{0, portal.DefaultPageSize, portal.MaxMatches - portal.DefaultPageSize, portal.MaxMatches - 1} {
			page := search(q, offset)
			require.Equal(t, all[offset:min(offset+portal.DefaultPageSize, len(all))], ids(page), "search %q from %d", q, offset)
			require.Equal(t, portal.MaxMatches, page.Total, "search %q from %d", q, offset)
			require.False(t, page.Capped, "search %q from %d", q, offset)
			require.Equal(t, offset+portal.DefaultPageSize < portal.MaxMatches, page.More, "search %q from %d", q, offset)
		}
	}
	page := search("varnholt zzyzx", 0)
	require.Empty(t, page.Items)
	require.Zero(t, page.Total)
	require.False(t, page.Capped)
	few := want("varnholt yodeler cap1")
	require.Less(t, len(few), portal.MaxMatches-portal.DefaultPageSize)
	page = search("varnholt yodeler cap1", len(few)/portal.DefaultPageSize*portal.DefaultPageSize)
	require.Equal(t, few[len(few)/portal.DefaultPageSize*portal.DefaultPageSize:], ids(page))
	page = search("varnholt yodeler cap1", (len(few)/portal.DefaultPageSize+1)*portal.DefaultPageSize)
	require.Empty(t, page.Items)
	require.Equal(t, len(few), page.Total)
	require.False(t, page.Capped)

	insert(portal.MaxMatches+1, portal.MaxMatches+1)
	for _, q := range []string{"varnholt yodeler", "yodel varnh quillon"} {
		all := want(q)
		require.Len(t, all, portal.MaxMatches+1, "search %q", q)
		page := search(q, 0)
		require.Equal(t, all[:portal.DefaultPageSize], ids(page), "search %q", q)
		require.Equal(t, portal.MaxMatches, page.Total, "search %q", q)
		require.True(t, page.Capped, "search %q", q)
	}
}
