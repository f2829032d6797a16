-- Access reviews of the groups of a set: a set selects people, so its
-- groups are those its people own ('owned': every membership of them) or
-- its people's own memberships ('members'). The set is evaluated when the
-- review starts, and again when it repeats. A set in use by a review is
-- kept, as a set in use by a policy is.
ALTER TABLE access_reviews
    ADD COLUMN set_id uuid REFERENCES sets (id) ON DELETE RESTRICT,
    ADD COLUMN set_scope text CHECK (set_scope IN ('owned', 'members')),
    ADD CONSTRAINT access_reviews_set CHECK ((set_id IS NULL) = (set_scope IS NULL) AND (set_id IS NULL OR group_id IS NULL AND query = ''));
CREATE INDEX access_reviews_set ON access_reviews (set_id) WHERE set_id IS NOT NULL;
