-- Rooms and their Yjs update log.
-- Times are Unix milliseconds so that both stores share one representation.
CREATE TABLE rooms (
    id          TEXT PRIMARY KEY NOT NULL, -- hyphenated UUID
    title       TEXT NOT NULL,
    language    TEXT NOT NULL,
    -- plain-text mirror of the shared text, for GET /api/rooms/{id} and search
    code        TEXT NOT NULL DEFAULT '',
    -- Yjs v1 update encoding the whole document up to the last compaction
    snapshot    BLOB,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE room_updates (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id     TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    -- Yjs v1 update as the client sent it
    data        BLOB NOT NULL,
    -- Yjs client id and display name of the connection that sent it, when known
    client_id   INTEGER,
    author      TEXT,
    created_at  INTEGER NOT NULL
);

CREATE INDEX room_updates_room_seq ON room_updates (room_id, seq);
