//! Listing and searching an account's contacts on PostgreSQL.
//!
//! A search is `ILIKE '%term%'` on first name, last name, email and
//! external URL, or `LIKE '%digits%'` on the canonical phone, each served
//! by a pg_trgm GIN index (migrations/postgres/0002). What the planner
//! picks follows the estimated matches:
//!
//! - few matches: a BitmapOr of the trigram indexes, then a top-N sort of
//!   the matches, so the page costs in proportion to the matches;
//! - many matches: the list-order index `contacts_account_created`, testing
//!   each contact until the page is full, which stops early because matches
//!   are dense.
//!
//! Sequential scans are disabled for these statements (`SET LOCAL
//! enable_seqscan = off`): the planner prices an `ILIKE` like any cheap
//! operator, so on a table of a few thousand pages it takes a scan of every
//! row as cheaper than the trigram indexes, while evaluating five `ILIKE`s
//! per row costs about a hundred times more than it thinks. Each statement
//! is planned with its actual pattern (an unnamed statement, never a cached
//! generic plan), so the estimates see the term.
//!
//! Terms shorter than 3 characters have no trigrams; they walk the account
//! in list order. The count reads every match, so it is proportional to
//! their number.

use std::collections::HashMap;

use sqlx::postgres::PgArguments;
use sqlx::{PgConnection, Postgres, Row};
use uuid::Uuid;

use super::queries::{contact_columns, contact_from_row, tag_from_row, QueryError};
use crate::domain::{like_substring_pattern, ContactPage, ContactSearch, Tag};

/// The list order, newest first and stable.
macro_rules! list_order {
    () => {
        " ORDER BY created_on DESC, id DESC"
    };
}

/// `$2` is the term's `ILIKE` pattern.
macro_rules! text_filter {
    () => {
        "first_name ILIKE $2 OR last_name ILIKE $2 OR email ILIKE $2 OR external_url ILIKE $2"
    };
}

const COUNT_ALL: &str = "SELECT COUNT(*) FROM contacts WHERE account_id = $1";
const PAGE_ALL: &str = concat!(
    "SELECT ",
    contact_columns!(),
    " FROM contacts WHERE account_id = $1",
    list_order!(),
    " LIMIT $2 OFFSET $3"
);

const COUNT_TEXT: &str = concat!(
    "SELECT COUNT(*) FROM contacts WHERE account_id = $1 AND (",
    text_filter!(),
    ")"
);
const PAGE_TEXT: &str = concat!(
    "SELECT ",
    contact_columns!(),
    " FROM contacts WHERE account_id = $1 AND (",
    text_filter!(),
    ")",
    list_order!(),
    " LIMIT $3 OFFSET $4"
);

/// `$3` is the phone digits' `LIKE` pattern.
const COUNT_PHONE: &str = concat!(
    "SELECT COUNT(*) FROM contacts WHERE account_id = $1 AND (canonical_phone LIKE $3 OR ",
    text_filter!(),
    ")"
);
const PAGE_PHONE: &str = concat!(
    "SELECT ",
    contact_columns!(),
    " FROM contacts WHERE account_id = $1 AND (canonical_phone LIKE $3 OR ",
    text_filter!(),
    ")",
    list_order!(),
    " LIMIT $4 OFFSET $5"
);

/// How one listing filters its contacts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Filter {
    All,
    Text { text: String },
    Phone { text: String, digits: String },
}

impl Filter {
    fn for_search(search: Option<&ContactSearch>) -> Self {
        let Some(search) = search else {
            return Filter::All;
        };
        let text = like_substring_pattern(&search.text);
        match &search.phone_digits {
            Some(digits) => Filter::Phone {
                text,
                digits: like_substring_pattern(digits),
            },
            None => Filter::Text { text },
        }
    }

    fn sql(&self) -> (&'static str, &'static str) {
        match self {
            Filter::All => (COUNT_ALL, PAGE_ALL),
            Filter::Text { .. } => (COUNT_TEXT, PAGE_TEXT),
            Filter::Phone { .. } => (COUNT_PHONE, PAGE_PHONE),
        }
    }

    /// Binds the filter's parameters after the account (`$1`).
    fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, Postgres, PgArguments>,
    ) -> sqlx::query::Query<'q, Postgres, PgArguments> {
        match self {
            Filter::All => query,
            Filter::Text { text } => query.bind(text),
            Filter::Phone { text, digits } => query.bind(text).bind(digits),
        }
    }

    fn count_query(&self, account_id: i64) -> sqlx::query::Query<'_, Postgres, PgArguments> {
        self.bind(sqlx::query(self.sql().0).bind(account_id))
            .persistent(false)
    }

    fn page_query(
        &self,
        account_id: i64,
        offset: u64,
        limit: u64,
    ) -> sqlx::query::Query<'_, Postgres, PgArguments> {
        self.bind(sqlx::query(self.sql().1).bind(account_id))
            .bind(to_i64(limit))
            .bind(to_i64(offset))
            .persistent(false)
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Planner settings for the list statements; see the module docs. Must run
/// inside the listing's transaction.
async fn prepare(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// One page of `account_id`'s contacts, with tags and without assignees,
/// and the count of all matches; run inside one snapshot.
pub(super) async fn list_contacts(
    conn: &mut PgConnection,
    account_id: i64,
    search: Option<&ContactSearch>,
    offset: u64,
    limit: u64,
) -> Result<ContactPage, QueryError> {
    let filter = Filter::for_search(search);
    prepare(conn).await?;
    let count: i64 = filter
        .count_query(account_id)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    let count = u64::try_from(count).unwrap_or(0);
    if limit == 0 || offset >= count {
        return Ok(ContactPage {
            count,
            contacts: Vec::new(),
        });
    }
    let rows = filter
        .page_query(account_id, offset, limit)
        .fetch_all(&mut *conn)
        .await?;
    let mut contacts = rows
        .iter()
        .map(contact_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<Uuid> = contacts.iter().map(|c| c.id).collect();
    let mut tags = tags_of(conn, &ids).await?;
    for contact in &mut contacts {
        contact.tags = tags.remove(&contact.id).unwrap_or_default();
    }
    Ok(ContactPage { count, contacts })
}

/// The tags of each of `ids`, in attach order.
async fn tags_of(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<Tag>>, sqlx::Error> {
    let mut by_contact: HashMap<Uuid, Vec<Tag>> = HashMap::new();
    if ids.is_empty() {
        return Ok(by_contact);
    }
    let rows = sqlx::query(
        "SELECT ct.contact_id, t.id, t.name FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id \
         WHERE ct.contact_id = ANY($1) ORDER BY ct.contact_id, ct.position",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        by_contact
            .entry(row.try_get("contact_id")?)
            .or_default()
            .push(tag_from_row(row)?);
    }
    Ok(by_contact)
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of the count and page statements a listing
/// runs, with the same settings and parameters; inside one transaction.
pub(super) async fn explain_list_contacts(
    conn: &mut PgConnection,
    account_id: i64,
    search: Option<&ContactSearch>,
    offset: u64,
    limit: u64,
) -> Result<String, sqlx::Error> {
    let filter = Filter::for_search(search);
    prepare(conn).await?;
    let (count_sql, page_sql) = filter.sql();
    let mut out = String::new();
    for (label, sql) in [("count", count_sql), ("page", page_sql)] {
        let explain = format!("EXPLAIN (ANALYZE, BUFFERS) {sql}");
        let query = filter.bind(sqlx::query(sqlx::AssertSqlSafe(explain)).bind(account_id));
        let query = if label == "page" {
            query.bind(to_i64(limit)).bind(to_i64(offset))
        } else {
            query
        };
        let rows = query.persistent(false).fetch_all(&mut *conn).await?;
        out.push_str(&format!("-- {label}: {sql}\n"));
        for row in &rows {
            let line: String = row.try_get(0)?;
            out.push_str(&format!("  {line}\n"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_escape_and_pick_the_phone_form() {
        let f = Filter::for_search(ContactSearch::parse(Some(" +52 55 ")).as_ref());
        assert_eq!(
            f,
            Filter::Phone {
                text: "%+52 55%".into(),
                digits: "%5255%".into()
            }
        );
        let f = Filter::for_search(ContactSearch::parse(Some("50%_off")).as_ref());
        assert_eq!(
            f,
            Filter::Text {
                text: "%50\\%\\_off%".into()
            }
        );
        assert_eq!(Filter::for_search(None), Filter::All);
    }
}
