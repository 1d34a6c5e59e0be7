-- Listing and searching contacts (GET /api/contact) stays fast on large
-- accounts.

-- The list order, newest first: an unfiltered page reads only its own
-- entries, and a search too short for the trigram index walks the account
-- in list order and stops once the page is full.
CREATE INDEX contacts_account_created ON contacts (account_id, created_on DESC, id DESC);

-- Stable integer keys for the search index. contacts has a TEXT primary
-- key, so its rowid is implicit and VACUUM may renumber it; an INTEGER
-- PRIMARY KEY never changes. A contact's id and account never change.
-- account_id and created_on are copies, so a search filters and orders its
-- matches here, in small rows reached by integer key, and reads only the
-- page's contacts.
CREATE TABLE contact_search_keys (
    key         INTEGER PRIMARY KEY,
    contact_id  TEXT    NOT NULL UNIQUE,
    account_id  INTEGER NOT NULL,
    created_on  INTEGER NOT NULL
);

-- Case-insensitive substring search over the searched fields: an FTS5
-- trigram index answers `"term"` phrase queries of 3 or more characters
-- from its postings, so the cost follows the number of matches, not the
-- size of the account. Its rowid is contact_search_keys.key. The canonical
-- phone is indexed as stored ("+" and digits): a digits-only term is a
-- substring of it exactly when it is a substring of its digits.
-- Contentless (the text stays in contacts only), with deletes and full-row
-- updates by rowid (SQLite 3.43+, as bundled).
CREATE VIRTUAL TABLE contacts_search USING fts5 (
    canonical_phone,
    first_name,
    last_name,
    email,
    external_url,
    tokenize = 'trigram case_sensitive 0',
    content = '',
    contentless_delete = 1
);

-- Kept in step by triggers, so every writer (the store, a bulk import, a
-- repair by hand) leaves the index right.
CREATE TRIGGER contacts_search_after_insert AFTER INSERT ON contacts
BEGIN
    INSERT INTO contact_search_keys (contact_id, account_id, created_on)
    VALUES (new.id, new.account_id, new.created_on);
    INSERT INTO contacts_search (rowid, canonical_phone, first_name, last_name, email, external_url)
    VALUES (
        (SELECT key FROM contact_search_keys WHERE contact_id = new.id),
        new.canonical_phone, new.first_name, new.last_name, new.email, new.external_url
    );
END;

-- Only when a searched field changed: a meta-only upsert leaves the index
-- alone. A contentless table takes updates of every column at once.
CREATE TRIGGER contacts_search_after_update
AFTER UPDATE OF canonical_phone, first_name, last_name, email, external_url ON contacts
WHEN old.canonical_phone IS NOT new.canonical_phone
  OR old.first_name IS NOT new.first_name
  OR old.last_name IS NOT new.last_name
  OR old.email IS NOT new.email
  OR old.external_url IS NOT new.external_url
BEGIN
    UPDATE contacts_search
    SET canonical_phone = new.canonical_phone,
        first_name = new.first_name,
        last_name = new.last_name,
        email = new.email,
        external_url = new.external_url
    WHERE rowid = (SELECT key FROM contact_search_keys WHERE contact_id = new.id);
END;

CREATE TRIGGER contacts_search_created_on_after_update AFTER UPDATE OF created_on ON contacts
WHEN old.created_on IS NOT new.created_on
BEGIN
    UPDATE contact_search_keys SET created_on = new.created_on WHERE contact_id = new.id;
END;

CREATE TRIGGER contacts_search_after_delete AFTER DELETE ON contacts
BEGIN
    DELETE FROM contacts_search
    WHERE rowid = (SELECT key FROM contact_search_keys WHERE contact_id = old.id);
    DELETE FROM contact_search_keys WHERE contact_id = old.id;
END;

-- Index the contacts that already exist.
INSERT INTO contact_search_keys (contact_id, account_id, created_on)
SELECT id, account_id, created_on FROM contacts ORDER BY account_id, created_on, id;

INSERT INTO contacts_search (rowid, canonical_phone, first_name, last_name, email, external_url)
SELECT k.key, c.canonical_phone, c.first_name, c.last_name, c.email, c.external_url
FROM contact_search_keys k JOIN contacts c ON c.id = k.contact_id;
