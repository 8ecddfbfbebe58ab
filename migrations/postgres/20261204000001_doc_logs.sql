-- Each document's log numbered on its own: several servers may append to one document,
-- and each must be able to tell from the numbers alone whether it missed an update
-- (gap) and fetch exactly what it missed. doc_logs holds the last number given out
-- (appends lock the row, so a document's numbers are committed in order) and the number
-- the stored snapshot covers (a compaction that would cover less is skipped).
CREATE TABLE doc_logs (
    id            UUID PRIMARY KEY REFERENCES rooms (id) ON DELETE CASCADE,
    last_seq      BIGINT NOT NULL DEFAULT 0,
    snapshot_seq  BIGINT NOT NULL DEFAULT 0
);

ALTER TABLE room_updates ADD COLUMN doc_seq BIGINT;
-- The numbers given so far already grow within each document.
UPDATE room_updates SET doc_seq = seq;
ALTER TABLE room_updates ALTER COLUMN doc_seq SET NOT NULL;
INSERT INTO doc_logs (id, last_seq)
    SELECT room_id, max(seq) FROM room_updates GROUP BY room_id;
CREATE UNIQUE INDEX room_updates_doc_seq ON room_updates (room_id, doc_seq);
DROP INDEX room_updates_room_seq;
