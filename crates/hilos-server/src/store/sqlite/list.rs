//! Listing and searching an account's contacts on SQLite.
//!
//! Three plans, chosen by the search term:
//!
//! - **No search**: the page is read from the index `contacts_account_created`
//!   in list order; only its entries are touched.
//! - **A term of 3 or more characters** (and, when it is a phone, 3 or more
//!   digits): the FTS5 trigram index `contacts_search` finds the matches,
//!   which are filtered by account, ordered and cut to the page in
//!   `contact_search_keys`; only the page's contacts are read. The cost
//!   follows the number of matches (of every account), not the size of the
//!   account.
//! - **A shorter term**, which trigrams cannot serve: the account's contacts
//!   are walked in list order and tested one by one, stopping when the page
//!   is full. Case folding here is ASCII only (SQLite's `lower`), where the
//!   trigram index also folds other letters.
//!
//! The count of every plan reads all matches, so it is proportional to
//! their number (for a short term, to the size of the account).

use std::collections::HashMap;

use sqlx::sqlite::SqliteRow;
use sqlx::SqliteConnection;

use super::queries::{contact_from_row, get};
use crate::domain::{ContactPage, ContactSearch, StoreError, Tag};
use crate::store::map_sqlx_error;

/// The contact columns of a list query, on the table aliased `c`.
macro_rules! contact_columns {
    () => {
        "c.id, c.account_id, c.phone, c.canonical_phone, c.first_name, c.last_name, c.email, \
         c.external_url, c.meta, c.source, c.created_by, c.created_on, c.last_updated_on"
    };
}

/// The list order, newest first and stable.
macro_rules! list_order {
    () => {
        " ORDER BY c.created_on DESC, c.id DESC"
    };
}

const COUNT_ALL: &str = "SELECT COUNT(*) FROM contacts WHERE account_id = ?1";
const PAGE_ALL: &str = concat!(
    "SELECT ",
    contact_columns!(),
    " FROM contacts c WHERE c.account_id = ?1",
    list_order!(),
    " LIMIT ?2 OFFSET ?3"
);

/// The account's matches of an FTS5 query (`?1`) in account `?2`.
///
/// `CROSS JOIN` fixes the join order: the full-text matches drive, each
/// looked up by integer key.
macro_rules! indexed_matches {
    () => {
        " FROM contacts_search s CROSS JOIN contact_search_keys k ON k.key = s.rowid \
         WHERE contacts_search MATCH ?1 AND k.account_id = ?2"
    };
}

const COUNT_INDEXED: &str = concat!("SELECT COUNT(*)", indexed_matches!());
const PAGE_INDEXED: &str = concat!(
    "SELECT ",
    contact_columns!(),
    " FROM (SELECT k.contact_id",
    indexed_matches!(),
    " ORDER BY k.created_on DESC, k.contact_id DESC LIMIT ?3 OFFSET ?4) AS page \
     CROSS JOIN contacts c ON c.id = page.contact_id",
    list_order!()
);

/// A term too short for trigrams, tested on each contact: `?1` account,
/// `?2` phone digits (NULL for none), `?3` the term. `instr` is literal.
macro_rules! scan_filter {
    () => {
        " FROM contacts c WHERE c.account_id = ?1 AND (instr(c.canonical_phone, ?2) > 0 \
         OR instr(lower(c.first_name), lower(?3)) > 0 \
         OR instr(lower(c.last_name), lower(?3)) > 0 \
         OR instr(lower(c.email), lower(?3)) > 0 \
         OR instr(lower(c.external_url), lower(?3)) > 0)"
    };
}

const COUNT_SCAN: &str = concat!("SELECT COUNT(*)", scan_filter!());
const PAGE_SCAN: &str = concat!(
    "SELECT ",
    contact_columns!(),
    scan_filter!(),
    list_order!(),
    " LIMIT ?4 OFFSET ?5"
);

/// How one listing finds its contacts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    All,
    Indexed {
        fts_query: String,
    },
    Scan {
        digits: Option<String>,
        text: String,
    },
}

impl Plan {
    fn for_search(search: Option<&ContactSearch>) -> Self {
        match search {
            None => Plan::All,
            Some(s) if s.is_indexable() => Plan::Indexed {
                fts_query: fts_query(s),
            },
            Some(s) => Plan::Scan {
                digits: s.phone_digits.clone(),
                text: s.text.clone(),
            },
        }
    }

    fn count_query(
        &self,
        account_id: i64,
    ) -> sqlx::query::QueryScalar<'_, sqlx::Sqlite, i64, sqlx::sqlite::SqliteArguments> {
        match self {
            Plan::All => sqlx::query_scalar(COUNT_ALL).bind(account_id),
            Plan::Indexed { fts_query } => sqlx::query_scalar(COUNT_INDEXED)
                .bind(fts_query)
                .bind(account_id),
            Plan::Scan { digits, text } => sqlx::query_scalar(COUNT_SCAN)
                .bind(account_id)
                .bind(digits)
                .bind(text),
        }
    }

    fn page_query(
        &self,
        account_id: i64,
        offset: u64,
        limit: u64,
    ) -> sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
        let (offset, limit) = (to_i64(offset), to_i64(limit));
        match self {
            Plan::All => sqlx::query(PAGE_ALL)
                .bind(account_id)
                .bind(limit)
                .bind(offset),
            Plan::Indexed { fts_query } => sqlx::query(PAGE_INDEXED)
                .bind(fts_query)
                .bind(account_id)
                .bind(limit)
                .bind(offset),
            Plan::Scan { digits, text } => sqlx::query(PAGE_SCAN)
                .bind(account_id)
                .bind(digits)
                .bind(text)
                .bind(limit)
                .bind(offset),
        }
    }

    fn sql(&self) -> (&'static str, &'static str) {
        match self {
            Plan::All => (COUNT_ALL, PAGE_ALL),
            Plan::Indexed { .. } => (COUNT_INDEXED, PAGE_INDEXED),
            Plan::Scan { .. } => (COUNT_SCAN, PAGE_SCAN),
        }
    }
}

/// The FTS5 query for a term: each part one quoted phrase (so every
/// character is literal), restricted to the columns it may match.
fn fts_query(search: &ContactSearch) -> String {
    let phrase = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let text = format!(
        "{{first_name last_name email external_url}} : {}",
        phrase(&search.text)
    );
    match &search.phone_digits {
        Some(digits) => format!("canonical_phone : {} OR {text}", phrase(digits)),
        None => text,
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// One page of `account_id`'s contacts, with tags and without assignees,
/// and the count of all matches; run inside one read transaction.
pub(super) async fn list_contacts(
    conn: &mut SqliteConnection,
    account_id: i64,
    search: Option<&ContactSearch>,
    offset: u64,
    limit: u64,
) -> Result<ContactPage, StoreError> {
    let plan = Plan::for_search(search);
    let count = plan
        .count_query(account_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(map_sqlx_error)?;
    let count = u64::try_from(count).unwrap_or(0);
    if limit == 0 || offset >= count {
        return Ok(ContactPage {
            count,
            contacts: Vec::new(),
        });
    }
    let rows = plan
        .page_query(account_id, offset, limit)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_sqlx_error)?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut contacts = Vec::with_capacity(rows.len());
    for row in &rows {
        let (id, contact) = contact_from_row(row)?;
        ids.push(id);
        contacts.push(contact);
    }
    let mut tags = tags_of(conn, &ids).await?;
    for (id, contact) in ids.iter().zip(contacts.iter_mut()) {
        contact.tags = tags.remove(id).unwrap_or_default();
    }
    Ok(ContactPage { count, contacts })
}

/// The tags of each of `ids` (stored id texts), in attach order.
async fn tags_of(
    conn: &mut SqliteConnection,
    ids: &[String],
) -> Result<HashMap<String, Vec<Tag>>, StoreError> {
    let mut by_contact: HashMap<String, Vec<Tag>> = HashMap::new();
    if ids.is_empty() {
        return Ok(by_contact);
    }
    let ids_json = serde_json::Value::from(ids.to_vec()).to_string();
    let rows = sqlx::query(
        "SELECT ct.contact_id, t.id, t.name FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id \
         WHERE ct.contact_id IN (SELECT value FROM json_each(?)) \
         ORDER BY ct.contact_id, ct.position",
    )
    .bind(ids_json)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_sqlx_error)?;
    for row in &rows {
        by_contact
            .entry(get(row, "contact_id")?)
            .or_default()
            .push(tag_from_row(row)?);
    }
    Ok(by_contact)
}

fn tag_from_row(row: &SqliteRow) -> Result<Tag, StoreError> {
    Ok(Tag {
        id: get(row, "id")?,
        name: get(row, "name")?,
    })
}

/// `EXPLAIN QUERY PLAN` of the count and page queries a listing runs.
pub(super) async fn explain_list_contacts(
    conn: &mut SqliteConnection,
    account_id: i64,
    search: Option<&ContactSearch>,
    offset: u64,
    limit: u64,
) -> Result<String, StoreError> {
    let plan = Plan::for_search(search);
    let (count_sql, page_sql) = plan.sql();
    let mut out = String::new();
    for (label, sql) in [("count", count_sql), ("page", page_sql)] {
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let query = sqlx::query(sqlx::AssertSqlSafe(explain));
        // Bind exactly what the listing binds.
        let query = match (&plan, label) {
            (Plan::All, "count") => query.bind(account_id),
            (Plan::All, _) => query
                .bind(account_id)
                .bind(to_i64(limit))
                .bind(to_i64(offset)),
            (Plan::Indexed { fts_query }, "count") => query.bind(fts_query).bind(account_id),
            (Plan::Indexed { fts_query }, _) => query
                .bind(fts_query)
                .bind(account_id)
                .bind(to_i64(limit))
                .bind(to_i64(offset)),
            (Plan::Scan { digits, text }, "count") => {
                query.bind(account_id).bind(digits).bind(text)
            }
            (Plan::Scan { digits, text }, _) => query
                .bind(account_id)
                .bind(digits)
                .bind(text)
                .bind(to_i64(limit))
                .bind(to_i64(offset)),
        };
        let rows = query.fetch_all(&mut *conn).await.map_err(map_sqlx_error)?;
        out.push_str(&format!("-- {label}: {sql}\n"));
        // Rows are (id, parent, notused, detail); indent by depth.
        let mut depth: HashMap<i64, usize> = HashMap::new();
        for row in &rows {
            let id: i64 = get(row, "id")?;
            let parent: i64 = get(row, "parent")?;
            let detail: String = get(row, "detail")?;
            let level = depth.get(&parent).map_or(0, |d| d + 1);
            depth.insert(id, level);
            out.push_str(&format!("{}{detail}\n", "  ".repeat(level + 1)));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_queries_quote_every_part() {
        let s = ContactSearch::parse(Some("+52 55")).expect("term");
        assert_eq!(
            fts_query(&s),
            "canonical_phone : \"5255\" OR {first_name last_name email external_url} : \"+52 55\""
        );
        let s = ContactSearch::parse(Some("a\"b%")).expect("term");
        assert_eq!(
            fts_query(&s),
            "{first_name last_name email external_url} : \"a\"\"b%\""
        );
    }

    #[test]
    fn short_terms_scan() {
        let plan = Plan::for_search(ContactSearch::parse(Some("an")).as_ref());
        assert!(matches!(plan, Plan::Scan { .. }), "{plan:?}");
        let plan = Plan::for_search(ContactSearch::parse(Some("ana")).as_ref());
        assert!(matches!(plan, Plan::Indexed { .. }), "{plan:?}");
        assert_eq!(Plan::for_search(None), Plan::All);
    }
}
