-- The writer merges the search index's segments itself, a little after
-- every batch it indexes (`'merge'` in src/store/sqlite/sync_queries.rs),
-- instead of FTS5's automatic merging. Automatic merging works in bursts:
-- every 64 leaf pages written, it merges 64 pages per level of the index in
-- one go, and the batch that triggers it took 20 to 40 ms.
INSERT INTO contacts_search (contacts_search, rank) VALUES ('automerge', 0);
