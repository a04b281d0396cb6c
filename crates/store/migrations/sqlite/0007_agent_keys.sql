-- The public half of each site agent's X25519 key (base64), to which the
-- controller seals BMC secrets before they cross the broker. A public key
-- is not a secret. NULL: none registered yet.
ALTER TABLE sites ADD COLUMN agent_key TEXT;
ALTER TABLE sites ADD COLUMN agent_key_set_at INTEGER;

-- The fingerprint of the key each agent holds, from its heartbeats, so a
-- mismatch with the registered key shows in the sites list.
ALTER TABLE agents ADD COLUMN key_fingerprint TEXT;
