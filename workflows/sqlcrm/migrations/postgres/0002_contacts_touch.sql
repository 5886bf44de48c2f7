-- The read side finds changed contacts by updated_at: every update moves it, unless the statement sets it
-- itself. clock_timestamp(), not now(): a long transaction's rows then carry the time of the update rather than
-- of the transaction's start, which keeps them within the sync's overlap of the commit.
-- Each statement is on one line: migrations are split at semicolons ending a line.
CREATE OR REPLACE FUNCTION {{prefix}}contacts_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN NEW.updated_at := clock_timestamp(); END IF; RETURN NEW; END $$;
DROP TRIGGER IF EXISTS {{prefix}}contacts_touch ON {{prefix}}contacts;
CREATE TRIGGER {{prefix}}contacts_touch BEFORE UPDATE ON {{prefix}}contacts FOR EACH ROW EXECUTE FUNCTION {{prefix}}contacts_touch();
