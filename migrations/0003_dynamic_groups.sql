-- Dynamic groups and sets: membership and selection by a rule over person
-- attributes (a CEL expression, compiled and type-checked by portal/rule
-- when it is saved; the database keeps only its text).

-- A group with a membership_rule is dynamic: its members are exactly the
-- people the rule selects, computed by the portal and kept materialised.
-- NULL is a static group whose owners and requests manage its members.
ALTER TABLE groups ADD COLUMN membership_rule text
    CHECK (length(membership_rule) BETWEEN 1 AND 4096);
-- Recomputing one person walks every dynamic group. (Not covering: a rule
-- of 4 KB does not fit in a btree entry.)
CREATE INDEX groups_dynamic ON groups (id) WHERE membership_rule IS NOT NULL;

-- computed marks the rows that a rule put in group_members. Computed
-- members stay in group_members (not a table of their own) so that every
-- reader of membership (profiles, group pages, member counts, the sync
-- hand-off) sees one membership, with one primary key; the flag tells the
-- rows the recomputation owns from those a person added, and lets a group
-- turned static again keep its members as ordinary ones.
ALTER TABLE group_members ADD COLUMN computed boolean NOT NULL DEFAULT false;

-- sets are MIM's sets: a named rule over person attributes that policies
-- use for their requestors and targets. Membership is evaluated when asked,
-- not stored.
CREATE TABLE sets (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 1024),
    rule        text NOT NULL CHECK (length(rule) BETWEEN 1 AND 4096),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX sets_name_key ON sets (lower(name));
