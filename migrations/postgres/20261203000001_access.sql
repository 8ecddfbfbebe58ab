-- Who may do what. A room is reached by two links: its edit link (edit_id) and its
-- view link (view_id), each a random id of its own, so that a link can be replaced
-- without moving the room. The room's own id names its first file and is no link:
-- viewers see it in the list of files. A room made before links existed keeps its id
-- as its edit link and has no view link (its viewers would learn the edit link from its
-- list of files). File rows have neither.
--
-- owner_key_hash is the SHA-256 of the key that whoever created the room holds (hex);
-- none for older rooms. access is what the edit link grants: 'edit', or 'view' when the
-- owner has made the room view-only for everyone but themselves.
ALTER TABLE rooms ADD COLUMN edit_id TEXT;
ALTER TABLE rooms ADD COLUMN view_id TEXT;
ALTER TABLE rooms ADD COLUMN owner_key_hash TEXT;
ALTER TABLE rooms ADD COLUMN access TEXT NOT NULL DEFAULT 'edit';
UPDATE rooms SET edit_id = CAST(id AS TEXT) WHERE project_id = id;
CREATE UNIQUE INDEX rooms_edit_id ON rooms (edit_id);
CREATE UNIQUE INDEX rooms_view_id ON rooms (view_id);
