-- Name-prefix filters compare in byte order (COLLATE "C") so that they mean
-- the same as on SQLite; this index serves them whatever the database's
-- default collation is.
CREATE INDEX servers_name_c ON servers (name COLLATE "C");
