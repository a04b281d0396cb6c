-- Times are Unix milliseconds (INTEGER) so that SQLite and PostgreSQL store
-- and compare them the same way.
CREATE TABLE tenants (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    tenant_id INTEGER REFERENCES tenants(id),
    pin_hash TEXT,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at INTEGER NOT NULL
);

CREATE TABLE tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    server_ids TEXT,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX tokens_user ON tokens(user_id, id);

CREATE TABLE sites (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    location TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

CREATE TABLE servers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    site_id INTEGER NOT NULL REFERENCES sites(id),
    tenant_id INTEGER REFERENCES tenants(id),
    macs TEXT NOT NULL,
    bmc_driver TEXT NOT NULL,
    bmc_address TEXT NOT NULL,
    bmc_port INTEGER NOT NULL,
    bmc_username TEXT NOT NULL,
    bmc_password BLOB,
    bmc_options TEXT NOT NULL,
    power_state TEXT NOT NULL DEFAULT 'unknown',
    power_observed_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX servers_tenant ON servers(tenant_id, id);
CREATE INDEX servers_site ON servers(site_id, id);

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    server_id INTEGER NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    tenant_id INTEGER,
    site_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    state TEXT NOT NULL,
    result TEXT,
    error TEXT,
    created_by INTEGER,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    last_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tasks_tenant ON tasks(tenant_id, id);
CREATE INDEX tasks_server ON tasks(server_id, id);
CREATE INDEX tasks_open ON tasks(state, id);

CREATE TABLE task_messages (
    task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (task_id, seq)
);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    user_id INTEGER,
    username TEXT NOT NULL,
    tenant_id INTEGER,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT,
    source TEXT NOT NULL,
    result TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX audit_tenant ON audit(tenant_id, id);
