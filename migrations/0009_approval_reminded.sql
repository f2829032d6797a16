-- reminded_round is the last round whose reminder went out, so that a timer
-- job run twice (River runs jobs at least once) reminds once.
ALTER TABLE approvals ADD COLUMN reminded_round int NOT NULL DEFAULT 0;
