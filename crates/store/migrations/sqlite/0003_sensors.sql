-- What the BMC last said about the hardware. Each refresh replaces the
-- server's whole set, so the tables stay bounded; the time of the last
-- refresh is kept on the server (an empty set still has a time).
ALTER TABLE servers ADD COLUMN sensors_read_at INTEGER;
ALTER TABLE servers ADD COLUMN sel_read_at INTEGER;

-- The latest reading of each sensor, in the BMC's order.
CREATE TABLE sensor_readings (
    server_id INTEGER NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    sensor_type TEXT NOT NULL,
    reading REAL,
    unit TEXT,
    status TEXT NOT NULL,
    PRIMARY KEY (server_id, name)
);

-- The System Event Log as last read, oldest first (at most SEL_KEEP entries).
CREATE TABLE sel_entries (
    server_id INTEGER NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    record_id INTEGER NOT NULL,
    at INTEGER,
    text TEXT NOT NULL,
    PRIMARY KEY (server_id, position)
);
