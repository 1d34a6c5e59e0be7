//! The report of failed rows: a CSV that can be fixed and imported again.

use std::path::Path;

use anyhow::Context as _;

/// One row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRow {
    /// The CSV line the row starts on (the header is line 1).
    pub line: u64,
    /// The row's cells as read.
    pub cells: Vec<String>,
    /// Why it failed.
    pub error: String,
}

/// The report's name when none is given: `FILE.failed.csv` beside `FILE.csv`.
pub fn default_path(input: &Path) -> std::path::PathBuf {
    input.with_extension("failed.csv")
}

/// Writes `rows` to `path`: the input's columns, then `line` and `error`.
///
/// A row shorter than the header is padded so `line` and `error` stay in
/// their columns; the extra cells of a longer row come after them.
pub fn write(path: &Path, headers: &[String], rows: &[FailedRow]) -> anyhow::Result<()> {
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("cannot create the report {}", path.display()))?;
    let mut header: Vec<&str> = headers.iter().map(String::as_str).collect();
    header.extend(["line", "error"]);
    writer.write_record(&header)?;
    for row in rows {
        let line = row.line.to_string();
        let mut record: Vec<&str> = (0..headers.len())
            .map(|i| row.cells.get(i).map_or("", String::as_str))
            .collect();
        record.push(&line);
        record.push(&row.error);
        record.extend(row.cells.iter().skip(headers.len()).map(String::as_str));
        writer.write_record(&record)?;
    }
    writer
        .flush()
        .with_context(|| format!("cannot write the report {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_path_sits_beside_the_input() {
        assert_eq!(
            default_path(Path::new("dir/contacts.csv")),
            Path::new("dir/contacts.failed.csv")
        );
        assert_eq!(
            default_path(Path::new("contacts")),
            Path::new("contacts.failed.csv")
        );
    }

    #[test]
    fn rows_keep_their_columns() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("failed.csv");
        let headers = vec!["phone".to_owned(), "plan".to_owned()];
        let rows = vec![
            FailedRow {
                line: 3,
                cells: vec!["x".into()],
                error: "phone: Enter a valid phone number.".into(),
            },
            FailedRow {
                line: 9,
                cells: vec!["1".into(), "2".into(), "3".into()],
                error: "too many, cells".into(),
            },
        ];
        write(&path, &headers, &rows)?;
        let text = std::fs::read_to_string(&path)?;
        assert_eq!(
            text,
            "phone,plan,line,error\n\
             x,,3,phone: Enter a valid phone number.\n\
             1,2,9,\"too many, cells\",3\n"
        );
        Ok(())
    }
}
