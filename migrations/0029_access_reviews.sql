-- Access reviews: an administrator asks the owners of a group (or of every
-- group a search selects), or each member's manager, to keep or remove
-- each membership by a deadline; at the deadline the undecided ones follow
-- the review's default, and removals become requests with their timeline
-- and export. A review may repeat every N months.
CREATE TABLE access_reviews (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- One group, or (group_id NULL) every static group the search query
    -- selects, as the groups page searches ('' for every group).
    group_id         uuid REFERENCES groups (id) ON DELETE SET NULL,
    one_group        boolean NOT NULL DEFAULT false, -- its group was deleted when group_id became NULL
    query            text NOT NULL DEFAULT '' CHECK (length(query) <= 200),
    reviewers        text NOT NULL CHECK (reviewers IN ('owners', 'managers')),
    default_decision text NOT NULL CHECK (default_decision IN ('keep', 'remove')),
    starts_at        timestamptz NOT NULL DEFAULT now(),
    deadline         timestamptz NOT NULL,
    repeat_months    integer CHECK (repeat_months BETWEEN 1 AND 24),
    -- When the next review of a repeating one starts; the periodic job
    -- starts it and moves this to the new review.
    next_start_at    timestamptz,
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed')),
    created_by       uuid REFERENCES people (id) ON DELETE SET NULL,
    completed_at     timestamptz,
    CHECK (deadline > starts_at)
);
CREATE INDEX access_reviews_created ON access_reviews (starts_at DESC, id);
CREATE INDEX access_reviews_next ON access_reviews (next_start_at) WHERE next_start_at IS NOT NULL;

-- One row per membership under review. decision NULL: not decided yet;
-- decided_by NULL with a decision: the review's default at the deadline.
CREATE TABLE access_review_items (
    review_id  uuid NOT NULL REFERENCES access_reviews (id) ON DELETE CASCADE,
    group_id   uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    person_id  uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    decision   text CHECK (decision IN ('keep', 'remove')),
    decided_by uuid REFERENCES people (id) ON DELETE SET NULL,
    decided_at timestamptz,
    reason     text NOT NULL DEFAULT '' CHECK (length(reason) <= 2000),
    request_id uuid REFERENCES requests (id) ON DELETE SET NULL, -- the removal
    PRIMARY KEY (review_id, group_id, person_id)
);
CREATE INDEX access_review_items_open ON access_review_items (review_id, group_id) WHERE decision IS NULL;
CREATE INDEX access_review_items_person ON access_review_items (person_id);
