-- Controllers remember authenticated tokens for a few seconds (src/tokens.rs,
-- CALLER_FRESH). A revoked token, or a user changed or removed, is announced
-- so that every controller forgets them at once, not only the one that made
-- the change. Token use (last_used_at) is not a change.
CREATE FUNCTION ironrack_callers_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ironrack_callers', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER tokens_revoked AFTER DELETE ON tokens FOR EACH STATEMENT
    EXECUTE FUNCTION ironrack_callers_changed();

CREATE TRIGGER users_changed AFTER UPDATE OR DELETE ON users FOR EACH STATEMENT
    EXECUTE FUNCTION ironrack_callers_changed();
