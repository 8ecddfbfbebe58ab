-- Rooms and their Yjs update log.
-- Times are Unix milliseconds (BIGINT) so that both stores share one representation.
CREATE TABLE rooms (
    id          UUID PRIMARY KEY,
    title       TEXT NOT NULL,
    language    TEXT NOT NULL,
    -- plain-text mirror of the shared text, for GET /api/rooms/{id} and search
    code        TEXT NOT NULL DEFAULT '',
    -- Yjs v1 update encoding the whole document up to the last compaction
    snapshot    BYTEA,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE room_updates (
    seq         BIGSERIAL PRIMARY KEY,
    room_id     UUID NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    -- Yjs v1 update as the client sent it
    data        BYTEA NOT NULL,
    -- Yjs client id and display name of the connection that sent it, when known
    client_id   BIGINT,
    author      TEXT,
    created_at  BIGINT NOT NULL
);

CREATE INDEX room_updates_room_seq ON room_updates (room_id, seq);
