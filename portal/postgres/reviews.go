package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/riverqueue/river"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/workflow"
)

var (
	_ portal.AccessReviewService = (*DB)(nil)
	_ portal.ReviewTimers        = (*DB)(nil)
)

// reviewSpec is a review about to start, its group resolved.
type reviewSpec struct {
	Name, GroupID, Query string
	SetID                string
	SetScope             portal.ReviewSetScope
	Reviewers            portal.ReviewerSource
	Default              portal.ReviewDecision
	Length               time.Duration // from its start to its deadline
	RepeatMonths         int
}

// StartReview starts an access review of the memberships in its scope as
// they are now, with its deadline and reminders as River jobs.
func (db *DB) StartReview(ctx context.Context, v portal.Viewer, n portal.NewAccessReview) (*portal.AccessReview, error) {
	if !v.Has(portal.RoleAdmin) {
		return nil, portal.Errorf(portal.EFORBIDDEN, "Only administrators start access reviews.")
	}
	now := db.now()
	if err := n.Validate(now); err != nil {
		return nil, err
	}
	var id string
	err := db.inTx(ctx, func(tx *finalTx) error {
		spec := reviewSpec{Name: n.Name, Query: n.Query, Reviewers: n.Reviewers, Default: n.Default, Length: n.Deadline.Sub(now),
			RepeatMonths: n.RepeatMonths}
		if n.Set != "" {
			if !validID(n.Set) {
				return portal.Errorf(portal.EINVALID, "There is no such set.")
			}
			err := tx.QueryRow(ctx, `SELECT id::text FROM sets WHERE id = $1 FOR KEY SHARE`, n.Set).Scan(&spec.SetID)
			if isNoRows(err) {
				return portal.Errorf(portal.EINVALID, "There is no such set.")
			} else if err != nil {
				return err
			}
			spec.SetScope = n.SetScope
		}
		if n.Group != "" {
			var rule bool
			var name string
			err := tx.QueryRow(ctx, `SELECT id::text, display_name, membership_rule IS NOT NULL FROM groups
				WHERE lower(name) = lower($1) OR lower(display_name) = lower($1) ORDER BY lower(name) = lower($1) DESC, id LIMIT 1`, n.Group).
				Scan(&spec.GroupID, &name, &rule)
			if isNoRows(err) {
				return portal.Errorf(portal.EINVALID, "There is no group called “%s”.", n.Group)
			} else if err != nil {
				return err
			}
			if rule {
				return portal.Errorf(portal.EINVALID, "The members of %s are computed from a rule: review the rule instead.", name)
			}
		}
		var err error
		if id, err = db.startReviewTx(ctx, tx, spec, v.PersonID, now); err != nil {
			return err
		}
		return Audit(ctx, tx, v.PersonID, "access_review_started", "access_review", id, map[string]any{"name": spec.Name,
			"group": spec.GroupID, "query": spec.Query, "set": spec.SetID, "set_scope": string(spec.SetScope),
			"reviewers": string(spec.Reviewers), "default": string(spec.Default),
			"deadline": n.Deadline.UTC().Format(time.RFC3339), "repeat_months": spec.RepeatMonths})
	})
	if err != nil {
		return nil, storeError("start access review", err)
	}
	r, _, err := db.FindReview(ctx, v, id)
	return r, err
}

// startReviewTx writes a review and its memberships, and inserts its
// deadline and its reminders (at once, and a day before the deadline).
func (db *DB) startReviewTx(ctx context.Context, tx pgx.Tx, s reviewSpec, by string, now time.Time) (string, error) {
	deadline := now.Add(s.Length)
	var next *time.Time
	if s.RepeatMonths > 0 {
		t := now.AddDate(0, s.RepeatMonths, 0)
		next = &t
	}
	var id string
	if err := tx.QueryRow(ctx, `INSERT INTO access_reviews (name, group_id, one_group, query, reviewers, default_decision, starts_at,
			deadline, repeat_months, next_start_at, created_by, set_id, set_scope)
		VALUES ($1, $2, $2::uuid IS NOT NULL, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`, s.Name, nullable(s.GroupID), s.Query,
		string(s.Reviewers), string(s.Default), now, deadline, nullableInt(s.RepeatMonths), next, nullable(by), nullable(s.SetID),
		nullable(string(s.SetScope))).Scan(&id); err != nil {
		return "", err
	}
	// Static memberships only: a dynamic group's members follow its rule.
	sql := `INSERT INTO access_review_items (review_id, group_id, person_id)
		SELECT $1, m.group_id, m.person_id FROM group_members m JOIN groups g ON g.id = m.group_id
		WHERE g.membership_rule IS NULL AND NOT m.computed AND `
	args := []any{id}
	switch {
	case s.GroupID != "":
		args = append(args, s.GroupID)
		sql += "g.id = $2"
	case s.SetID != "":
		people, err := setPeople(ctx, tx, s.SetID)
		if err != nil {
			return "", err
		}
		args = append(args, people)
		if s.SetScope == portal.ReviewSetMembers {
			sql += "m.person_id = ANY($2::uuid[])"
		} else {
			sql += "EXISTS (SELECT 1 FROM group_owners o WHERE o.group_id = g.id AND o.person_id = ANY($2::uuid[]))"
		}
	default:
		where := []string{"true"}
		for _, w := range queryWords(s.Query) {
			args = append(args, "%"+escapeLike(w)+"%")
			where = append(where, "g.search_text LIKE tessera_fold($"+strconv.Itoa(len(args))+")")
		}
		sql += strings.Join(where, " AND ")
	}
	tag, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		return "", err
	}
	if tag.RowsAffected() == 0 {
		if s.SetID != "" && s.SetScope == portal.ReviewSetOwned {
			return "", portal.Errorf(portal.EINVALID, "Nobody in that set owns a group with members to review.")
		} else if s.SetID != "" {
			return "", portal.Errorf(portal.EINVALID, "Nobody in that set is a member of a group to review.")
		}
		return "", portal.Errorf(portal.EINVALID, "There are no memberships to review in that scope.")
	}
	jobs := []river.InsertManyParams{
		{Args: workflow.ReviewDeadlineArgs{ReviewID: id}, InsertOpts: &river.InsertOpts{ScheduledAt: deadline}},
		{Args: workflow.ReviewRemindArgs{ReviewID: id}},
	}
	if remind := deadline.Add(-24 * time.Hour); remind.After(now.Add(time.Hour)) {
		jobs = append(jobs, river.InsertManyParams{Args: workflow.ReviewRemindArgs{ReviewID: id, Last: true},
			InsertOpts: &river.InsertOpts{ScheduledAt: remind}})
	}
	if err := db.insertJobs(ctx, tx, jobs...); err != nil {
		return "", err
	}
	return id, nil
}

// setPeople evaluates the set's rule for everyone, as it selects them now:
// someone for whom the rule fails is not in the set, as SetContains says.
func setPeople(ctx context.Context, tx pgx.Tx, setID string) ([]pgtype.UUID, error) {
	var src string
	if err := tx.QueryRow(ctx, `SELECT rule FROM sets WHERE id = $1`, setID).Scan(&src); err != nil {
		return nil, err
	}
	r, err := compileRule(ctx, tx, src)
	if err != nil {
		return nil, err
	}
	var in []pgtype.UUID
	err = newPersonStream(r.Attributes()).each(ctx, tx, func(id pgtype.UUID, _ string, p *portal.Person) error {
		if ok, err := r.Match(p); err == nil && ok {
			in = append(in, id)
		}
		return nil
	})
	return in, err
}

// reviewerCond is the SQL condition under which the viewer $2 reviews the
// item i of the review r (joined as p to the member and g to the group):
// the group's owners or the member's manager, as the review says, and the
// administrators ($3) for every item.
const reviewerCond = `($3 OR r.reviewers = 'owners' AND EXISTS (SELECT 1 FROM group_owners o WHERE o.group_id = i.group_id AND o.person_id = $2::uuid)
	OR r.reviewers = 'managers' AND p.manager_id = $2::uuid)`

const reviewColumns = `r.id, r.name, coalesce(r.group_id::text, ''), coalesce(g.display_name, ''), r.query,
	coalesce(r.set_id::text, ''), coalesce(st.name, ''), coalesce(r.set_scope, ''), r.reviewers,
	r.default_decision, r.starts_at, r.deadline, coalesce(r.repeat_months, 0), r.next_start_at, r.status = 'completed', r.completed_at,
	coalesce(c.display_name, ''),
	(SELECT count(*) FROM access_review_items x WHERE x.review_id = r.id),
	(SELECT count(*) FROM access_review_items x WHERE x.review_id = r.id AND x.decision IS NOT NULL),
	(SELECT count(*) FROM access_review_items x WHERE x.review_id = r.id AND x.decision = 'remove')`

const reviewFrom = ` FROM access_reviews r LEFT JOIN groups g ON g.id = r.group_id LEFT JOIN sets st ON st.id = r.set_id
	LEFT JOIN people c ON c.id = r.created_by`

func scanReview(row pgx.Row) (portal.AccessReview, error) {
	var r portal.AccessReview
	return r, row.Scan(&r.ID, &r.Name, &r.GroupID, &r.GroupName, &r.Query, &r.SetID, &r.SetName, &r.SetScope, &r.Reviewers, &r.Default, &r.StartsAt, &r.Deadline,
		&r.RepeatMonths, &r.NextStartAt, &r.Completed, &r.CompletedAt, &r.CreatedByName, &r.Items, &r.Decided, &r.Removed)
}

// ListReviews lists the reviews the viewer may open, newest first.
func (db *DB) ListReviews(ctx context.Context, v portal.Viewer) ([]portal.AccessReview, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+reviewColumns+reviewFrom+`
		WHERE $3 OR r.status = 'open' AND EXISTS (SELECT 1 FROM access_review_items i JOIN people p ON p.id = i.person_id
			WHERE i.review_id = r.id AND `+reviewerCond+`)
		ORDER BY r.starts_at DESC, r.id LIMIT $1`, 100, nullable(v.PersonID), v.Has(portal.RoleAdmin))
	if err != nil {
		return nil, fmt.Errorf("postgres: list access reviews: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.AccessReview, error) { return scanReview(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list access reviews: %w", err)
	}
	return out, nil
}

// FindReview returns a review and the memberships the viewer reviews.
func (db *DB) FindReview(ctx context.Context, v portal.Viewer, id string) (*portal.AccessReview, []portal.ReviewItem, error) {
	limit := portal.MaxReviewItems
	return db.findReview(ctx, v, id, &limit)
}

// ExportReview returns a review and every membership the viewer reviews.
func (db *DB) ExportReview(ctx context.Context, v portal.Viewer, id string) (*portal.AccessReview, []portal.ReviewItem, error) {
	return db.findReview(ctx, v, id, nil)
}

// findReview returns a review and the memberships the viewer reviews, at
// most limit of them (nil: all).
func (db *DB) findReview(ctx context.Context, v portal.Viewer, id string, limit *int) (*portal.AccessReview, []portal.ReviewItem, error) {
	notFound := portal.Errorf(portal.ENOTFOUND, "There is no such access review.")
	if !validID(id) {
		return nil, nil, notFound
	}
	var r portal.AccessReview
	var items []portal.ReviewItem
	b := &pgx.Batch{}
	b.Queue(`SELECT `+reviewColumns+reviewFrom+` WHERE r.id = $1`, id).QueryRow(func(row pgx.Row) error {
		var err error
		r, err = scanReview(row)
		if isNoRows(err) {
			return notFound
		}
		return err
	})
	b.Queue(`SELECT i.group_id::text, g.display_name, i.person_id::text, p.display_name, p.title, p.department,
			coalesce(i.decision, ''), coalesce(d.display_name, ''), i.decided_at, i.reason, coalesce(i.request_id::text, '')
		FROM access_review_items i JOIN access_reviews r ON r.id = i.review_id JOIN groups g ON g.id = i.group_id
		JOIN people p ON p.id = i.person_id LEFT JOIN people d ON d.id = i.decided_by
		WHERE i.review_id = $1 AND `+reviewerCond+`
		ORDER BY i.decision IS NOT NULL, g.display_name, p.sort_name, p.id LIMIT $4`, id, nullable(v.PersonID), v.Has(portal.RoleAdmin),
		limit).Query(func(rows pgx.Rows) error {
		var err error
		items, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.ReviewItem, error) {
			var it portal.ReviewItem
			return it, row.Scan(&it.GroupID, &it.GroupName, &it.PersonID, &it.PersonName, &it.PersonTitle, &it.Department, &it.Decision,
				&it.DecidedByName, &it.DecidedAt, &it.Reason, &it.RequestID)
		})
		return err
	})
	var groups []portal.ReviewGroup
	if v.Has(portal.RoleAdmin) {
		b.Queue(`SELECT i.group_id::text, g.display_name, count(*), count(i.decision), count(*) FILTER (WHERE i.decision = 'remove'),
				(SELECT count(*) FROM group_owners o WHERE o.group_id = i.group_id)
			FROM access_review_items i JOIN groups g ON g.id = i.group_id WHERE i.review_id = $1
			GROUP BY i.group_id, g.display_name ORDER BY count(*) - count(i.decision) DESC, g.display_name, i.group_id LIMIT $2`,
			id, portal.MaxReviewItems).Query(func(rows pgx.Rows) error {
			var err error
			groups, err = pgx.CollectRows(rows, pgx.RowToStructByPos[portal.ReviewGroup])
			return err
		})
	}
	if err := db.Pool.SendBatch(ctx, b).Close(); err != nil {
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("postgres: find access review: %w", err)
	}
	r.Groups = groups
	if len(items) == 0 && !v.Has(portal.RoleAdmin) {
		return nil, nil, notFound
	}
	return &r, items, nil
}

// DecideReview records the viewer's decision on the memberships of an
// open review that they review.
func (db *DB) DecideReview(ctx context.Context, v portal.Viewer, id string, keys []portal.ReviewKey, d portal.ReviewDecision, reason string) (int, error) {
	if !validID(id) {
		return 0, portal.Errorf(portal.ENOTFOUND, "There is no such access review.")
	}
	if d != portal.ReviewKeep && d != portal.ReviewRemove {
		return 0, portal.Errorf(portal.EINVALID, "Choose to keep or to remove.")
	}
	reason = strings.TrimSpace(reason)
	if !utf8.ValidString(reason) || utf8.RuneCountInString(reason) > portal.MaxJustification {
		return 0, portal.Errorf(portal.EINVALID, "The reason is too long; use at most %d characters.", portal.MaxJustification)
	}
	switch {
	case len(keys) == 0:
		return 0, portal.Errorf(portal.EINVALID, "Choose at least one membership.")
	case len(keys) > portal.MaxReviewDecisions:
		return 0, portal.Errorf(portal.EINVALID, "Decide at most %d memberships at once.", portal.MaxReviewDecisions)
	}
	groups, people := make([]string, 0, len(keys)), make([]string, 0, len(keys))
	for _, k := range keys {
		if !validID(k.GroupID) || !validID(k.PersonID) {
			return 0, portal.Errorf(portal.EINVALID, "That is not a membership of this review.")
		}
		groups, people = append(groups, k.GroupID), append(people, k.PersonID)
	}
	var n int
	err := db.inTx(ctx, func(tx *finalTx) error {
		var open bool
		err := tx.QueryRow(ctx, `SELECT status = 'open' FROM access_reviews WHERE id = $1 FOR SHARE`, id).Scan(&open)
		if isNoRows(err) {
			return portal.Errorf(portal.ENOTFOUND, "There is no such access review.")
		} else if err != nil {
			return err
		}
		if !open {
			return portal.Errorf(portal.ECONFLICT, "This review has ended: its decisions are final.")
		}
		tag, err := tx.Exec(ctx, `UPDATE access_review_items i SET decision = $4, decided_by = $2::uuid, decided_at = now(), reason = $5
			FROM access_reviews r, people p, unnest($6::text[]::uuid[], $7::text[]::uuid[]) AS k(g, m)
			WHERE r.id = i.review_id AND p.id = i.person_id AND i.review_id = $1 AND i.group_id = k.g AND i.person_id = k.m
				AND `+reviewerCond,
			id, nullable(v.PersonID), v.Has(portal.RoleAdmin), string(d), reason, groups, people)
		if err != nil {
			return err
		}
		n = int(tag.RowsAffected())
		if n == 0 {
			return portal.Errorf(portal.EFORBIDDEN, "None of those memberships is yours to review.")
		}
		return Audit(ctx, tx, v.PersonID, "access_review_decided", "access_review", id, map[string]any{"decision": string(d),
			"memberships": n, "reason": reason})
	})
	return n, storeError("decide access review", err)
}

// CompleteReview ends an open review now; administrators only.
func (db *DB) CompleteReview(ctx context.Context, v portal.Viewer, id string) error {
	if !v.Has(portal.RoleAdmin) {
		return portal.Errorf(portal.EFORBIDDEN, "Only administrators end an access review early.")
	}
	if !validID(id) {
		return portal.Errorf(portal.ENOTFOUND, "There is no such access review.")
	}
	return db.completeReview(ctx, id, v.PersonID)
}

// ReviewDeadline ends a review whose deadline passed.
func (db *DB) ReviewDeadline(ctx context.Context, id string) error {
	return db.completeReview(ctx, id, "")
}

// completeReview ends the open review id (by the administrator by, or ""
// for its deadline): the undecided memberships take the default, and each
// membership decided away that still exists is removed by a request of its
// own (its reviewer's, or Tessera's for the default), applied in this
// transaction with one sync hand-off for them all. The administrators'
// group never loses its last members this way.
func (db *DB) completeReview(ctx context.Context, id, by string) error {
	err := db.inTx(ctx, func(tx *finalTx) error {
		var name, status string
		err := tx.QueryRow(ctx, `SELECT name, status FROM access_reviews WHERE id = $1 FOR UPDATE`, id).Scan(&name, &status)
		if isNoRows(err) {
			if by == "" {
				return nil // deleted meanwhile: nothing to end
			}
			return portal.Errorf(portal.ENOTFOUND, "There is no such access review.")
		} else if err != nil {
			return err
		}
		if status != "open" {
			if by == "" {
				return nil
			}
			return portal.Errorf(portal.ECONFLICT, "This review has ended already.")
		}
		if _, err := tx.Exec(ctx, `UPDATE access_review_items i SET decision = r.default_decision, decided_at = now()
			FROM access_reviews r WHERE r.id = i.review_id AND i.review_id = $1 AND i.decision IS NULL`, id); err != nil {
			return err
		}
		// The removals, as requests; a membership gone meanwhile needs none,
		// and the administrators' group keeps its members when all would go.
		rows, err := tx.Query(ctx, `WITH gone AS (SELECT i.group_id, i.person_id, i.decided_by, i.reason FROM access_review_items i
				JOIN group_members m ON m.group_id = i.group_id AND m.person_id = i.person_id AND NOT m.computed
				WHERE i.review_id = $1 AND i.decision = 'remove'),
			kept AS (SELECT g.group_id FROM gone g JOIN role_groups rg ON rg.group_id = g.group_id AND rg.role = 'admin'
				GROUP BY g.group_id HAVING count(*) >= (SELECT count(*) FROM group_members m WHERE m.group_id = g.group_id)),
			made AS (INSERT INTO requests (requester_id, operation, group_id, person_id, justification, status)
				SELECT g.decided_by, 'remove_member', g.group_id, g.person_id,
					'Access review “' || $2 || '”: ' || CASE WHEN g.decided_by IS NULL THEN 'not reviewed by the deadline, so removed by its default.'
						WHEN g.reason = '' THEN 'removed by its reviewer.' ELSE 'removed by its reviewer: ' || g.reason END,
					'committed'
				FROM gone g WHERE g.group_id NOT IN (SELECT group_id FROM kept)
				RETURNING id, group_id, person_id, requester_id)
			UPDATE access_review_items i SET request_id = made.id FROM made
			WHERE i.review_id = $1 AND i.group_id = made.group_id AND i.person_id = made.person_id
			RETURNING made.id::text, coalesce(made.requester_id::text, '')`, id, name)
		if err != nil {
			return err
		}
		type made struct{ id, by string }
		removals, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (made, error) {
			var m made
			return m, row.Scan(&m.id, &m.by)
		})
		if err != nil {
			return err
		}
		var a applying
		a.stmts = append(a.stmts, stmt{`UPDATE access_reviews SET status = 'completed', completed_at = now() WHERE id = $1`, []any{id}},
			stmt{`SELECT audit_append($1, 'access_review_completed', 'access_review', $2, $3)`, []any{nullable(by), id,
				map[string]any{"name": name, "removals": len(removals), "ended_early": by != ""}}})
		if len(removals) == 0 {
			return tx.finish(ctx, a.stmts...)
		}
		ids := make([]string, len(removals))
		byID := map[string]string{}
		for i, m := range removals {
			ids[i], byID[m.id] = m.id, m.by
		}
		heads, syncing, err := lockForApply(ctx, tx, ids)
		if err != nil {
			return err
		}
		for _, h := range heads {
			if err := db.applyLocked(ctx, tx, &a, h, byID[h.ID], syncing,
				event{portal.KindSubmitted, byID[h.ID], portal.Textf("by the access review “%s”", name)}); err != nil {
				return err
			}
		}
		return a.flush(ctx, tx, db, syncing)
	})
	return storeError("complete access review", err)
}

// StartDueReviews starts the next review of every repeating review whose
// time has come, with the same scope, reviewers, default and length; the
// repeat moves to the new review.
func (db *DB) StartDueReviews(ctx context.Context) (int, error) {
	started := 0
	for {
		var done bool
		err := db.inTx(ctx, func(tx *finalTx) error {
			var old string
			var s reviewSpec
			var starts, deadline time.Time
			var groupID, setID, setScope *string
			var one bool
			err := tx.QueryRow(ctx, `SELECT id::text, name, group_id::text, one_group, query, set_id::text, set_scope, reviewers,
					default_decision, starts_at, deadline, repeat_months
				FROM access_reviews WHERE next_start_at <= $1 ORDER BY next_start_at LIMIT 1 FOR UPDATE SKIP LOCKED`, db.now()).
				Scan(&old, &s.Name, &groupID, &one, &s.Query, &setID, &setScope, &s.Reviewers, &s.Default, &starts, &deadline, &s.RepeatMonths)
			if isNoRows(err) {
				done = true
				return nil
			} else if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE access_reviews SET next_start_at = NULL WHERE id = $1`, old); err != nil {
				return err
			}
			if one && groupID == nil {
				return nil // its group was deleted: the series ends
			}
			if groupID != nil {
				s.GroupID = *groupID
			}
			if setID != nil {
				// The set as it selects people now: joiners are in, leavers out.
				s.SetID, s.SetScope = *setID, portal.ReviewSetScope(*setScope)
			}
			s.Length = deadline.Sub(starts)
			id, err := db.startReviewTx(ctx, tx, s, "", db.now())
			if portal.ErrorCode(err) == portal.EINVALID {
				return nil // nothing to review any more: the series ends
			} else if err != nil {
				return err
			}
			started++
			return Audit(ctx, tx, "", "access_review_started", "access_review", id, map[string]any{"name": s.Name,
				"group": s.GroupID, "query": s.Query, "set": s.SetID, "set_scope": string(s.SetScope), "repeat_of": old})
		})
		if err != nil {
			return started, fmt.Errorf("postgres: start due access reviews: %w", err)
		}
		if done {
			return started, nil
		}
	}
}

// ReviewReminders returns one reminder per reviewer who has memberships
// of the open review id still to decide, with an email address.
func (db *DB) ReviewReminders(ctx context.Context, id string) ([]portal.ReviewReminder, error) {
	rows, err := db.Pool.Query(ctx, `WITH r AS (SELECT * FROM access_reviews WHERE id = $1 AND status = 'open'),
			pending AS (SELECT i.group_id, i.person_id, p.manager_id FROM access_review_items i JOIN people p ON p.id = i.person_id
				WHERE i.review_id = $1 AND i.decision IS NULL),
			who AS (SELECT o.person_id AS reviewer FROM pending x JOIN group_owners o ON o.group_id = x.group_id, r WHERE r.reviewers = 'owners'
				UNION ALL SELECT x.manager_id FROM pending x, r WHERE r.reviewers = 'managers' AND x.manager_id IS NOT NULL
				UNION ALL SELECT a.person_id FROM pending x CROSS JOIN r JOIN person_roles a ON a.role = 'admin'
					WHERE r.reviewers = 'owners' AND NOT EXISTS (SELECT 1 FROM group_owners o WHERE o.group_id = x.group_id)
						OR r.reviewers = 'managers' AND x.manager_id IS NULL)
		SELECT r.id::text, r.name, p.display_name, p.email, coalesce(s.time_zone, ''), coalesce(s.language, ''), count(*), r.deadline
		FROM who JOIN people p ON p.id = who.reviewer LEFT JOIN person_settings s ON s.person_id = p.id, r
		WHERE p.email <> '' AND p.account_enabled
		GROUP BY r.id, r.name, r.deadline, p.id, p.display_name, p.email, s.time_zone, s.language ORDER BY p.display_name, p.id`, id)
	if err != nil {
		return nil, fmt.Errorf("postgres: access review reminders: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[portal.ReviewReminder])
	if err != nil {
		return nil, fmt.Errorf("postgres: access review reminders: %w", err)
	}
	return out, nil
}
