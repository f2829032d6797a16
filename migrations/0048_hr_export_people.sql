-- The people an applied upload changed, until every other system has
-- taken them: a retry of the upload's job (an AD that did not answer)
-- exports them again, rather than finding the upload applied and doing
-- nothing. Empty once they went out.
ALTER TABLE hr_uploads ADD COLUMN export_people uuid[] NOT NULL DEFAULT '{}';
