-- What the BMC last said about the hardware. Each refresh replaces the
-- server's whole set, so the tables stay bounded; the time of the last
-- refresh is kept on the server (an empty set still has a time).
ALTER TABLE servers ADD COLUMN sensors_read_at BIGINT;
ALTER TABLE servers ADD COLUMN sel_read_at BIGINT;

-- The latest reading of each sensor, in the BMC's order.
CREATE TABLE sensor_readings (
    server_id BIGINT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    position BIGINT NOT NULL,
    sensor_type TEXT NOT NULL,
    reading DOUBLE PRECISION,
    unit TEXT,
    status TEXT NOT NULL,
    PRIMARY KEY (server_id, name)
);

-- The System Event Log as last read, oldest first (at most SEL_KEEP entries).
CREATE TABLE sel_entries (
    server_id BIGINT NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    record_id BIGINT NOT NULL,
    at BIGINT,
    text TEXT NOT NULL,
    PRIMARY KEY (server_id, position)
);
