//! Which CSV column feeds which contact field.

use std::collections::HashSet;

use crate::contact::{ContactInput, NOT_SENT};

/// What a column holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Column {
    /// The phone number.
    Phone,
    /// First name.
    FirstName,
    /// Last name.
    LastName,
    /// Email address.
    Email,
    /// URL of the contact elsewhere.
    ExternalUrl,
    /// Where the contact came from.
    Source,
    /// Tag names separated by `;` or `|`.
    Tags,
    /// A meta attribute named after the header.
    Meta(String),
    /// Ignored (`--skip-column`).
    Skipped,
}

impl Column {
    /// The column a header names, ignoring case and surrounding space.
    pub fn from_header(header: &str) -> Self {
        let header = header.trim();
        match header.to_ascii_lowercase().as_str() {
            "phone" => Column::Phone,
            "first_name" => Column::FirstName,
            "last_name" => Column::LastName,
            "email" => Column::Email,
            "external_url" => Column::ExternalUrl,
            "source" => Column::Source,
            "tags" => Column::Tags,
            _ => Column::Meta(header.to_owned()),
        }
    }
}

/// The columns of a CSV file, in order.
#[derive(Debug, Clone)]
pub struct Columns {
    columns: Vec<Column>,
}

impl Columns {
    /// Maps `headers`; columns named in `skip` (any case) are ignored.
    ///
    /// Fails when there is no `phone` column, or when two columns would
    /// feed the same field or meta key.
    pub fn from_headers<S: AsRef<str>>(headers: &[S], skip: &[String]) -> anyhow::Result<Self> {
        let skip: HashSet<String> = skip.iter().map(|s| s.trim().to_lowercase()).collect();
        let mut seen = HashSet::new();
        let mut columns = Vec::with_capacity(headers.len());
        for (index, header) in headers.iter().enumerate() {
            // A byte-order mark is not part of the first header.
            let header = header.as_ref().trim_start_matches('\u{feff}');
            if skip.contains(&header.trim().to_lowercase()) {
                columns.push(Column::Skipped);
                continue;
            }
            let column = Column::from_header(header);
            if let Column::Meta(key) = &column {
                if key.is_empty() {
                    anyhow::bail!(
                        "column {} has an empty header; name it or pass --skip-column \"\"",
                        index + 1
                    );
                }
            }
            if !seen.insert(column.clone()) {
                anyhow::bail!(
                    "two columns are named {:?} (headers are matched ignoring case)",
                    header.trim()
                );
            }
            columns.push(column);
        }
        if !columns.contains(&Column::Phone) {
            anyhow::bail!("the CSV file has no `phone` column (headers: {})", {
                let names: Vec<&str> = headers.iter().map(AsRef::as_ref).collect();
                names.join(", ")
            });
        }
        Ok(Self { columns })
    }

    /// How many columns the header has.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether the header has no columns (never, once built).
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The contact that a row describes, or what is wrong with the row.
    ///
    /// Cells are trimmed, and empty cells are left out. A row shorter than
    /// the header has empty cells at the end; a longer one is refused, as
    /// its extra cells belong to no column.
    pub fn contact(&self, cells: &[String]) -> Result<ContactInput, Vec<String>> {
        if cells.len() > self.columns.len() {
            return Err(vec![format!(
                "the row has {} cells but the header has {} columns {NOT_SENT}",
                cells.len(),
                self.columns.len()
            )]);
        }
        let mut input = ContactInput::default();
        for (column, cell) in self.columns.iter().zip(cells) {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            let text = Some(cell.to_owned());
            match column {
                Column::Phone => input.phone = text,
                Column::FirstName => input.first_name = text,
                Column::LastName => input.last_name = text,
                Column::Email => input.email = text,
                Column::ExternalUrl => input.external_url = text,
                Column::Source => input.source = text,
                Column::Tags => input.tags = split_tags(cell),
                Column::Meta(key) => input.meta.push((key.clone(), cell.to_owned())),
                Column::Skipped => {}
            }
        }
        if input.phone.is_none() {
            return Err(vec![format!("phone: the cell is empty {NOT_SENT}")]);
        }
        Ok(input)
    }
}

/// Splits `a; b|c` into `["a", "b", "c"]`, without empty or repeated names.
pub fn split_tags(cell: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for tag in cell.split([';', '|']).map(str::trim) {
        if !tag.is_empty() && !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    #[test]
    fn headers_match_ignoring_case_and_others_become_meta() {
        let columns = Columns::from_headers(
            &[
                "\u{feff}Phone",
                " FIRST_NAME ",
                "Tags",
                "Loyalty Tier",
                "email",
            ],
            &[],
        )
        .expect("valid header");
        let input = columns
            .contact(&cells(&[" +52 55 1234 5678 ", "Ana", "a; b|a", "gold", ""]))
            .expect("valid row");
        assert_eq!(input.phone.as_deref(), Some("+52 55 1234 5678"));
        assert_eq!(input.first_name.as_deref(), Some("Ana"));
        assert_eq!(input.tags, vec!["a", "b"]);
        assert_eq!(
            input.meta,
            vec![("Loyalty Tier".to_owned(), "gold".to_owned())]
        );
        assert_eq!(input.email, None);
    }

    #[test]
    fn empty_meta_cells_are_skipped_and_short_rows_padded() {
        let columns = Columns::from_headers(&["phone", "plan", "city"], &[]).expect("header");
        let input = columns
            .contact(&cells(&["5215512345678", " "]))
            .expect("row");
        assert!(input.meta.is_empty());
    }

    #[test]
    fn bad_rows_say_why() {
        let columns = Columns::from_headers(&["phone", "plan"], &[]).expect("header");
        let long = columns
            .contact(&cells(&["1", "2", "3"]))
            .expect_err("too many cells");
        assert!(long[0].contains("3 cells"));
        let empty = columns
            .contact(&cells(&["", "gold"]))
            .expect_err("no phone");
        assert!(empty[0].starts_with("phone: "));
    }

    #[test]
    fn bad_headers_are_refused() {
        assert!(Columns::from_headers(&["name", "email"], &[]).is_err());
        assert!(Columns::from_headers(&["phone", "Phone"], &[]).is_err());
        assert!(Columns::from_headers(&["phone", "x", "x"], &[]).is_err());
        assert!(Columns::from_headers(&["phone", ""], &[]).is_err());
    }

    #[test]
    fn skipped_columns_are_ignored() {
        let columns = Columns::from_headers(
            &["phone", "line", "ERROR"],
            &["Line".into(), "error".into()],
        )
        .expect("header");
        let input = columns
            .contact(&cells(&["5215512345678", "7", "phone: bad"]))
            .expect("row");
        assert!(input.meta.is_empty());
    }
}
