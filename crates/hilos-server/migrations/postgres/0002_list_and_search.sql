-- Listing and searching contacts (GET /api/contact) stays fast on large
-- accounts.
--
-- pg_trgm is a trusted extension (PostgreSQL 13+): a role that may create
-- objects in the database can install it without being superuser.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- The list order, newest first: an unfiltered page reads only its own
-- entries, and a search whose matches are common walks the account in list
-- order and stops once the page is full.
CREATE INDEX contacts_account_created ON contacts (account_id, created_on DESC, id DESC);

-- Case-insensitive substring search: one trigram index per searched field
-- serves `ILIKE '%term%'` (and `LIKE` for the phone's digits) for terms of
-- 3 or more characters; the planner combines them with a BitmapOr, so a
-- search costs in proportion to its matches, not to the account. The
-- canonical phone is indexed as stored ("+" and digits): a digits-only
-- term is a substring of it exactly when it is a substring of its digits.
CREATE INDEX contacts_canonical_phone_trgm ON contacts USING gin (canonical_phone gin_trgm_ops);
CREATE INDEX contacts_first_name_trgm ON contacts USING gin (first_name gin_trgm_ops);
CREATE INDEX contacts_last_name_trgm ON contacts USING gin (last_name gin_trgm_ops);
CREATE INDEX contacts_email_trgm ON contacts USING gin (email gin_trgm_ops);
CREATE INDEX contacts_external_url_trgm ON contacts USING gin (external_url gin_trgm_ops);
