-- Controllers remember server rows for the task path (src/changes.rs)
-- and forget one as soon as this says it changed, whichever controller (or
-- psql session) changed it. Power and sensor observations are the frequent
-- updates and change nothing a task needs, so they say nothing.
CREATE FUNCTION ironrack_server_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ironrack_servers', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER servers_changed AFTER UPDATE ON servers FOR EACH ROW
    WHEN ((to_jsonb(OLD) - '{power_state,power_observed_at,sensors_read_at,sel_read_at,updated_at}'::text[])
          IS DISTINCT FROM
          (to_jsonb(NEW) - '{power_state,power_observed_at,sensors_read_at,sel_read_at,updated_at}'::text[]))
    EXECUTE FUNCTION ironrack_server_changed();

CREATE TRIGGER servers_deleted AFTER DELETE ON servers FOR EACH ROW
    EXECUTE FUNCTION ironrack_server_changed();

-- A server row carries its site's and tenant's names: a rename or removal
-- of either (rare) makes every remembered row suspect.
CREATE FUNCTION ironrack_servers_all_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ironrack_servers', '*');
    RETURN NULL;
END
$$;

CREATE TRIGGER sites_renamed AFTER UPDATE OF name OR DELETE ON sites FOR EACH STATEMENT
    EXECUTE FUNCTION ironrack_servers_all_changed();

CREATE TRIGGER tenants_renamed AFTER UPDATE OF name OR DELETE ON tenants FOR EACH STATEMENT
    EXECUTE FUNCTION ironrack_servers_all_changed();
