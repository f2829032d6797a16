-- The request pipeline: policies, approval workflows, requests, approvals,
-- approvers, timelines, deputies.

-- approval_workflows say who approves, how many must, and by when.
CREATE TABLE approval_workflows (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name               text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    approver_source    text NOT NULL CHECK (approver_source IN ('owners', 'manager', 'named', 'set')),
    approver_ids       uuid[] NOT NULL DEFAULT '{}',
    approver_set_id    uuid CHECK ((approver_source = 'set') = (approver_set_id IS NOT NULL)),
    threshold          text NOT NULL DEFAULT 'any' CHECK (threshold IN ('any', 'n', 'all')),
    threshold_n        int NOT NULL DEFAULT 1 CHECK (threshold_n BETWEEN 1 AND 100),
    deadline_hours     int CHECK (deadline_hours BETWEEN 1 AND 8760),
    deadline_business_days int CHECK (deadline_business_days BETWEEN 1 AND 365),
    calendar_id        uuid,
    reminder_hours     int CHECK (reminder_hours BETWEEN 1 AND 8760),
    escalation_ids     uuid[] NOT NULL DEFAULT '{}',
    timeout_outcome    text NOT NULL DEFAULT 'deny' CHECK (timeout_outcome IN ('deny', 'approve')),
    CHECK (deadline_hours IS NULL OR deadline_business_days IS NULL)
);

-- policies are MIM's management policy rules: who may ask for which
-- operation on which targets, and whether it needs approval.
CREATE TABLE policies (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    description    text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
    enabled        boolean NOT NULL DEFAULT true,
    operation      text NOT NULL CHECK (operation IN ('add_member', 'remove_member', 'add_owner', 'remove_owner', 'update_person')),
    requestor      text NOT NULL CHECK (requestor IN ('self', 'manager', 'owners', 'anyone', 'set')),
    requestor_set_id uuid,
    -- For group operations: the join policies of the groups it covers.
    target_join_policies text[] NOT NULL DEFAULT '{}',
    -- For update_person: the attributes it covers.
    attributes     text[] NOT NULL DEFAULT '{}',
    workflow_id    uuid REFERENCES approval_workflows (id) ON DELETE RESTRICT,
    notify         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE requests (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    requester_id   uuid REFERENCES people (id) ON DELETE SET NULL, -- NULL: Tessera itself
    operation      text NOT NULL CHECK (operation IN ('add_member', 'remove_member', 'add_owner', 'remove_owner', 'update_person')),
    group_id       uuid REFERENCES groups (id) ON DELETE CASCADE,
    person_id      uuid REFERENCES people (id) ON DELETE CASCADE, -- member, or person updated
    changes        jsonb NOT NULL DEFAULT '{}',
    member_until   timestamptz,
    justification  text NOT NULL DEFAULT '' CHECK (length(justification) <= 2000),
    status         text NOT NULL CHECK (status IN ('authorizing', 'denied', 'expired', 'canceled', 'committed', 'completed', 'failed')),
    policy_id      uuid REFERENCES policies (id) ON DELETE SET NULL,
    workflow_id    uuid REFERENCES approval_workflows (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((operation = 'update_person') = (group_id IS NULL))
);
CREATE INDEX requests_requester ON requests (requester_id, created_at DESC);
-- One pending request per membership change.
CREATE UNIQUE INDEX requests_one_pending ON requests (operation, group_id, person_id)
    WHERE status = 'authorizing' AND group_id IS NOT NULL;
-- A group page shows the viewer's pending request on it.
CREATE INDEX requests_pending_by_person ON requests (person_id, group_id) WHERE status = 'authorizing';

-- request_events is the timeline a requester sees.
CREATE TABLE request_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id uuid NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    at         timestamptz NOT NULL DEFAULT clock_timestamp(),
    kind       text NOT NULL,
    actor_id   uuid REFERENCES people (id) ON DELETE SET NULL,
    detail     text NOT NULL DEFAULT ''
);
CREATE INDEX request_events_request ON request_events (request_id, id);

CREATE TABLE approvals (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    request_id  uuid NOT NULL UNIQUE REFERENCES requests (id) ON DELETE CASCADE,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'canceled')),
    needed      int NOT NULL CHECK (needed >= 1),
    deadline    timestamptz,
    round       int NOT NULL DEFAULT 1,
    escalated   boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX approvals_pending ON approvals (status) WHERE status = 'pending';

-- approvers lists who may decide; a deputy decides for the approver they
-- stand in for (on_behalf_of).
CREATE TABLE approvers (
    approval_id  uuid NOT NULL REFERENCES approvals (id) ON DELETE CASCADE,
    person_id    uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    on_behalf_of uuid REFERENCES people (id) ON DELETE CASCADE,
    escalation   boolean NOT NULL DEFAULT false,
    decision     text CHECK (decision IN ('approved', 'rejected')),
    reason       text NOT NULL DEFAULT '' CHECK (length(reason) <= 2000),
    decided_at   timestamptz,
    PRIMARY KEY (approval_id, person_id)
);
CREATE INDEX approvers_person ON approvers (person_id) WHERE decision IS NULL;

-- deputies: approvals arriving between starts and ends also go to deputy_id.
CREATE TABLE deputies (
    person_id  uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    deputy_id  uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE CHECK (deputy_id <> person_id),
    starts     date NOT NULL,
    ends       date NOT NULL CHECK (ends >= starts),
    PRIMARY KEY (person_id, starts)
);

-- Default policies, as MIM ships default management policy rules; an
-- administrator changes or disables them.
INSERT INTO approval_workflows (name, approver_source, threshold, deadline_business_days, reminder_hours, timeout_outcome)
VALUES ('Group owners approve', 'owners', 'any', 5, 24, 'deny'),
       ('Manager approves', 'manager', 'any', 5, 24, 'deny');

INSERT INTO policies (name, description, operation, requestor, target_join_policies, attributes, workflow_id) VALUES
('Join open groups', 'Anyone may join a group whose joining is open, at once.',
 'add_member', 'self', '{open}', '{}', NULL),
('Request to join owner-approval groups', 'Anyone may ask to join an owner-approval group; an owner decides.',
 'add_member', 'self', '{owner_approval}', '{}', (SELECT id FROM approval_workflows WHERE name = 'Group owners approve')),
('Leave groups', 'Anyone may leave an open or owner-approval group, at once.',
 'remove_member', 'self', '{open,owner_approval}', '{}', NULL),
('Owners add members', 'Group owners add members to their groups, at once.',
 'add_member', 'owners', '{}', '{}', NULL),
('Owners remove members', 'Group owners remove members from their groups, at once.',
 'remove_member', 'owners', '{}', '{}', NULL),
('Owners add owners', 'Group owners make others owners of their groups, at once.',
 'add_owner', 'owners', '{}', '{}', NULL),
('Owners remove owners', 'Group owners remove owners of their groups (never the last one), at once.',
 'remove_owner', 'owners', '{}', '{}', NULL),
('Edit own contact details', 'People change their own phone numbers and office, at once.',
 'update_person', 'self', '{}', '{phone,mobile,office}', NULL),
('Title changes need the manager', 'People may ask to change their title; their manager decides.',
 'update_person', 'self', '{}', '{title}', (SELECT id FROM approval_workflows WHERE name = 'Manager approves'));
