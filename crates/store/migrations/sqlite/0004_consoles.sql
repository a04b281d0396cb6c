-- A server's console endpoints (bmc.console): JSON without secrets, and the
-- VNC password sealed like the BMC password.
CREATE TABLE server_consoles (
    server_id INTEGER PRIMARY KEY REFERENCES servers(id) ON DELETE CASCADE,
    config TEXT NOT NULL,
    vnc_password BLOB
);

-- Browser console sessions: pending until the first viewer connects, live,
-- then closed with a reason. The site agent reports the changes.
CREATE TABLE console_sessions (
    id INTEGER PRIMARY KEY,
    server_id INTEGER NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    tenant_id INTEGER REFERENCES tenants(id) ON DELETE SET NULL,
    user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    username TEXT NOT NULL,
    kind TEXT NOT NULL,
    view_only BOOLEAN NOT NULL,
    bmc_key TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    opened_at INTEGER,
    closed_at INTEGER,
    close_reason TEXT,
    close_detail TEXT,
    viewers INTEGER NOT NULL DEFAULT 0,
    last_input_at INTEGER,
    closes_at INTEGER
);
CREATE INDEX console_sessions_active ON console_sessions(state, bmc_key);
CREATE INDEX console_sessions_tenant ON console_sessions(tenant_id, id);
