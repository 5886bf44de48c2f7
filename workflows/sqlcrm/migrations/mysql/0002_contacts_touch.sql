-- The read side finds changed contacts by updated_at: every update moves it, unless the statement sets it itself.
ALTER TABLE {{prefix}}contacts MODIFY updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6);
