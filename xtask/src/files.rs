//! Writing generated files, or checking them without writing.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use similar::TextDiff;

/// What one generated file looked like against its fresh contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The file on disk already matches.
    Fresh,
    /// The file was rewritten.
    Updated,
    /// Check mode: the file differs; carries a unified diff.
    Stale(String),
}

/// One generated file and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// Path relative to the project root.
    pub path: PathBuf,
    /// What happened to it.
    pub outcome: Outcome,
}

impl fmt::Display for FileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.outcome {
            Outcome::Fresh => writeln!(f, "{:>8} {path}", "Fresh"),
            Outcome::Updated => writeln!(f, "{:>8} {path}", "Updated"),
            Outcome::Stale(diff) => {
                writeln!(f, "{:>8} {path}", "Stale")?;
                write!(f, "{diff}")
            }
        }
    }
}

/// Makes `root/relative` hold `contents`, or, in check mode, reports how it
/// differs without touching it. Line endings are normalised before comparing.
pub fn ensure_file_contents(
    root: &Path,
    relative: &Path,
    contents: &str,
    check: bool,
) -> Result<FileReport> {
    let path = root.join(relative);
    let current = match std::fs::read_to_string(&path) {
        Ok(text) => Some(normalize_newlines(&text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    let contents = normalize_newlines(contents);
    let outcome = if current.as_deref() == Some(contents.as_str()) {
        Outcome::Fresh
    } else if check {
        let old = current.unwrap_or_default();
        let diff = TextDiff::from_lines(&old, &contents)
            .unified_diff()
            .context_radius(3)
            .header(
                &format!("a/{}", relative.display()),
                &format!("b/{}", relative.display()),
            )
            .to_string();
        Outcome::Stale(diff)
    } else {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &contents).with_context(|| format!("writing {}", path.display()))?;
        Outcome::Updated
    };
    Ok(FileReport {
        path: relative.to_path_buf(),
        outcome,
    })
}

fn normalize_newlines(text: &str) -> String {
    text.replace("\r\n", "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_mode_reports_a_diff_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("a.rs"), "one\ntwo\n").expect("write");
        let report =
            ensure_file_contents(dir.path(), Path::new("a.rs"), "one\n2\n", true).expect("check");
        let Outcome::Stale(diff) = report.outcome else {
            panic!("expected a stale file");
        };
        assert!(diff.contains("-two\n+2\n"), "{diff}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.rs")).expect("read"),
            "one\ntwo\n"
        );
    }

    #[test]
    fn write_mode_updates_then_is_fresh() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = Path::new("sub/b.rs");
        let first = ensure_file_contents(dir.path(), path, "x\r\n", false).expect("write");
        assert_eq!(first.outcome, Outcome::Updated);
        let second = ensure_file_contents(dir.path(), path, "x\n", true).expect("check");
        assert_eq!(second.outcome, Outcome::Fresh);
    }
}
