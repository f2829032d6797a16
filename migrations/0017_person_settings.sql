-- person_settings holds what a person chose for how the portal shows things
-- to them, not facts about them (those are people's columns and
-- attribute_schema): for now the time zone every time is shown in, taken
-- from their browser on their first visit and changeable on their profile.
CREATE TABLE person_settings (
    person_id  uuid PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
    time_zone  text NOT NULL DEFAULT '' CHECK (length(time_zone) <= 64),
    updated_at timestamptz NOT NULL DEFAULT now()
);
