-- INVAPI callback keys (eq_callback.php): the SHA-256 of a random 128-bit
-- key handed to the caller, and the task it stands for. Deleted at the
-- first final answer; gone with the task.
CREATE TABLE invapi_callbacks (
    key_hash BLOB PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    action TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
