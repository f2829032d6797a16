-- The language a person chose to read Tessera in: a code of a language
-- Tessera ships ("en", "de"), checked by portal/i18n, or '' for none, when
-- pages follow the browser's Accept-Language and emails are in English.
ALTER TABLE person_settings ADD COLUMN language text NOT NULL DEFAULT '' CHECK (length(language) <= 16);
