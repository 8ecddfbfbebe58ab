-- A room is a project of files. Its first file is the room's own document (its row here);
-- every other file is a row of its own in this table whose project_id is the room's id.
-- A room's row has project_id = id. path_key is the path in lower case: two paths that
-- differ only by case would name one file on macOS and Windows, so they may not coexist.
-- A room created before projects has no path until its files are first listed or added.
ALTER TABLE rooms ADD COLUMN project_id UUID REFERENCES rooms (id) ON DELETE CASCADE;
ALTER TABLE rooms ADD COLUMN path TEXT;
ALTER TABLE rooms ADD COLUMN path_key TEXT;
-- Renames count up, so that the room can tell a late change from a newer one.
ALTER TABLE rooms ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
UPDATE rooms SET project_id = id;
CREATE UNIQUE INDEX rooms_project_path ON rooms (project_id, path_key);
