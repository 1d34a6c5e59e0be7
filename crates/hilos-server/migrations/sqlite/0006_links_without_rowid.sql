-- Tag and assignee links stored in their primary key's order, without a
-- separate rowid table.
--
-- A rowid table with a composite primary key is two b-trees: the rows, in
-- rowid order, and the key's index. Every link written went into both, so a
-- batch dirtied pages of each (about 2.5 pages of the index and 2 of the
-- rows per batch under the benchmark's mix). `WITHOUT ROWID` keeps the rows
-- in the key's b-tree itself: one b-tree, and a contact's links side by
-- side. The rows are small (a UUID, an integer and a position), which is
-- what `WITHOUT ROWID` suits.

CREATE TABLE contact_tags_by_key (
    contact_id  TEXT    NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    tag_id      INTEGER NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    PRIMARY KEY (contact_id, tag_id)
) WITHOUT ROWID;
INSERT INTO contact_tags_by_key (contact_id, tag_id, position)
SELECT contact_id, tag_id, position FROM contact_tags;
DROP TABLE contact_tags;
ALTER TABLE contact_tags_by_key RENAME TO contact_tags;

CREATE TABLE contact_assignees_by_key (
    contact_id  TEXT    NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    position    INTEGER NOT NULL,
    PRIMARY KEY (contact_id, user_id)
) WITHOUT ROWID;
INSERT INTO contact_assignees_by_key (contact_id, user_id, position)
SELECT contact_id, user_id, position FROM contact_assignees;
DROP TABLE contact_assignees;
ALTER TABLE contact_assignees_by_key RENAME TO contact_assignees;
-- A user's links, for the foreign-key check when a user is deleted.
CREATE INDEX contact_assignees_user_id ON contact_assignees (user_id);
