-- The read side finds changed contacts by updated_at: every update moves it, unless the statement sets it itself.
-- The trigger's body ends on its last line: migrations are split at semicolons ending a line.
CREATE TRIGGER IF NOT EXISTS {{prefix}}contacts_touch AFTER UPDATE ON {{prefix}}contacts
FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN UPDATE {{prefix}}contacts SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id; END;
