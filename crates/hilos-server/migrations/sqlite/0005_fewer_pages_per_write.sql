-- Two indexes that made every write batch dirty more pages than it needed.
-- Each dirty page is a WAL frame written, synced and later checkpointed.

-- The list order in ascending form. SQLite reads an index backwards for
-- `ORDER BY created_on DESC, id DESC` just as it reads a descending one
-- forwards, so listing is unchanged. New contacts, the newest, now go at
-- the end of the account's range instead of its front, where they kept
-- splitting pages: under the benchmark's mix, 3.4 to 4.3 pages of this
-- index per batch before, 1.9 to 2.7 after (docs/benchmarks.md).
DROP INDEX contacts_account_created;
CREATE INDEX contacts_account_created ON contacts (account_id, created_on, id);

-- Tag links by tag. Only deleting a tag needs them (the cascade to
-- contact_tags), and nothing deletes tags; but every link written touched
-- this index in the tag's own region, about one page per distinct tag in a
-- batch (5.6 pages per batch under the benchmark's mix).
DROP INDEX contact_tags_tag_id;
