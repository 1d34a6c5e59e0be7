-- The search index is brought up to date once per write transaction
-- instead of once per statement.
--
-- FTS5 writes its pending changes out as a new segment at the end of every
-- statement that touches it, and later merges those segments. Kept by
-- per-row triggers, that was one segment per contact written, and most of
-- the cost of a write. Now the triggers only queue the contact's key here,
-- and the store's writer applies the whole queue with two statements just
-- before it commits (see src/store/sqlite/writer.rs), so a group commit of
-- many contacts makes one segment. The queue is part of the same
-- transaction, so a committed contact is always searchable.
--
-- Rows that other tools write (a bulk import, a repair by hand) are queued
-- the same way and indexed by the next write the server commits, or when it
-- starts.
--
-- `fresh`: the key has no index entry yet (queued by an insert), so there is
-- nothing to delete before indexing it.
CREATE TABLE contact_search_pending (
    key   INTEGER PRIMARY KEY,
    fresh INTEGER NOT NULL
);

DROP TRIGGER contacts_search_after_insert;
CREATE TRIGGER contacts_search_after_insert AFTER INSERT ON contacts
BEGIN
    INSERT INTO contact_search_keys (contact_id, account_id, created_on)
    VALUES (new.id, new.account_id, new.created_on);
    INSERT OR IGNORE INTO contact_search_pending (key, fresh)
    SELECT key, 1 FROM contact_search_keys WHERE contact_id = new.id;
END;

DROP TRIGGER contacts_search_after_update;
CREATE TRIGGER contacts_search_after_update
AFTER UPDATE OF canonical_phone, first_name, last_name, email, external_url ON contacts
WHEN old.canonical_phone IS NOT new.canonical_phone
  OR old.first_name IS NOT new.first_name
  OR old.last_name IS NOT new.last_name
  OR old.email IS NOT new.email
  OR old.external_url IS NOT new.external_url
BEGIN
    INSERT OR IGNORE INTO contact_search_pending (key, fresh)
    SELECT key, 0 FROM contact_search_keys WHERE contact_id = new.id;
END;

-- A deleted contact leaves the index at once (deletes are rare), and leaves
-- the queue.
DROP TRIGGER contacts_search_after_delete;
CREATE TRIGGER contacts_search_after_delete AFTER DELETE ON contacts
BEGIN
    DELETE FROM contacts_search
    WHERE rowid = (SELECT key FROM contact_search_keys WHERE contact_id = old.id);
    DELETE FROM contact_search_pending
    WHERE key = (SELECT key FROM contact_search_keys WHERE contact_id = old.id);
    DELETE FROM contact_search_keys WHERE contact_id = old.id;
END;
