//! `put --batch FILE`: many entries signed in one Notary publish per repository.
//!
//! The file is JSON Lines, one entry per line: `{"image": REF, "type": TYPE, "file": PATH}` with
//! optional `"media_type"` and `"annotations"` (an object of strings). Blank lines are skipped.
//! Every line is checked here, before anything touches the network; `put` then resolves and
//! authorises every entry before it uploads anything (see [`super::put::put_many`]).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;

use serde::Deserialize;

use super::MetadataType;
use crate::error::Error;
use crate::registry::ImageRef;

/// A batch file (or stdin) that cannot be used. Exit 2: nothing was published.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("cannot read the batch {source_name}")]
    Read {
        source_name: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "line {line} of the batch is not an entry: {reason} (each line is {{\"image\": REF, \"type\": TYPE, \"file\": PATH}}, optionally with \"media_type\" and \"annotations\")"
    )]
    Line { line: usize, reason: String },
    #[error("line {line} of the batch repeats the {ty} of {image} from line {first}")]
    Duplicate {
        line: usize,
        first: usize,
        image: String,
        ty: String,
    },
    #[error("the batch has no entries")]
    Empty,
}

impl BatchError {
    pub fn failure(&self) -> crate::failure::Failure {
        crate::failure::Failure::Usage
    }
}

/// One entry to store: what a single `put` stores, or one line of `put --batch`.
#[derive(Debug, Clone)]
pub struct PutItem {
    pub image: ImageRef,
    pub metadata_type: MetadataType,
    /// The content, already in a file (stdin is spooled to a temporary file first).
    pub file: PathBuf,
    pub media_type: Option<String>,
    pub annotations: BTreeMap<String, String>,
    /// Its line in a batch file, named by any error about it.
    pub line: Option<usize>,
}

impl PutItem {
    /// `e`, naming this entry's batch line when it has one.
    pub(crate) fn at(&self, e: impl Into<Error>) -> Error {
        let e = e.into();
        match self.line {
            Some(line) => Error::BatchLine {
                line,
                source: Box::new(e),
            },
            None => e,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    image: String,
    #[serde(rename = "type")]
    metadata_type: String,
    file: PathBuf,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The entries of a batch read from `input` (`source_name` names it in errors), each checked:
/// a reference, a type, a readable regular file; an image and type at most once.
pub fn parse(input: impl BufRead, source_name: &str) -> Result<Vec<PutItem>, Error> {
    let mut items: Vec<PutItem> = Vec::new();
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (i, text) in input.lines().enumerate() {
        let line = i + 1;
        let text = text.map_err(|source| BatchError::Read {
            source_name: source_name.to_owned(),
            source,
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| BatchError::Line { line, reason };
        let entry: Line = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let at = |e: Error| Error::BatchLine {
            line,
            source: Box::new(e),
        };
        let image = ImageRef::parse(&entry.image).map_err(|e| at(e.into()))?;
        let metadata_type = MetadataType::parse(&entry.metadata_type).map_err(|e| at(e.into()))?;
        match std::fs::metadata(&entry.file) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(bad(format!("{} is not a file", entry.file.display())).into()),
            Err(e) => return Err(bad(format!("cannot read {}: {e}", entry.file.display())).into()),
        }
        if let Some((k, _)) = entry.annotations.iter().find(|(k, _)| k.is_empty()) {
            return Err(bad(format!("annotation key {k:?} is empty")).into());
        }
        let key = (image.to_string(), metadata_type.to_string());
        if let Some(&first) = seen.get(&key) {
            return Err(BatchError::Duplicate {
                line,
                first,
                image: key.0,
                ty: key.1,
            }
            .into());
        }
        seen.insert(key, line);
        items.push(PutItem {
            image,
            metadata_type,
            file: entry.file,
            media_type: entry.media_type,
            annotations: entry.annotations,
            line: Some(line),
        });
    }
    if items.is_empty() {
        return Err(BatchError::Empty.into());
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.json");
        std::fs::write(&file, b"{}").unwrap();
        (dir, file.display().to_string())
    }

    fn line(image: &str, ty: &str, file: &str) -> String {
        serde_json::json!({"image": image, "type": ty, "file": file}).to_string()
    }

    #[test]
    fn entries_keep_their_line_numbers_and_blank_lines_are_skipped() {
        let (_d, f) = with_file();
        let text = format!(
            "{}\n\n{}\n",
            line("reg.example/app:1", "approvals", &f),
            line("reg.example/app:2", "scan", &f)
        );
        let items = parse(text.as_bytes(), "batch").unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].line, Some(3));
        assert_eq!(items[1].metadata_type.as_str(), "scan");
    }

    #[test]
    fn a_bad_line_is_refused_naming_its_number_with_exit_2() {
        let (_d, f) = with_file();
        for (bad, want) in [
            ("{\"image\": 1}".to_string(), 2),
            (line("reg.example/App", "approvals", &f), 2),
            (line("reg.example/app:1", "Bad Type", &f), 2),
            (
                line("reg.example/app:1", "approvals", "/nonexistent/file"),
                2,
            ),
        ] {
            let text = format!("{}\n{bad}\n", line("reg.example/app:1", "scan", &f));
            let err = parse(text.as_bytes(), "batch").unwrap_err();
            assert_eq!(err.failure().exit_code(), want, "{err}");
            let chain = format!("{err}");
            assert!(chain.contains("line 2"), "{chain}");
        }
    }

    #[test]
    fn the_same_image_and_type_twice_is_refused_naming_both_lines() {
        let (_d, f) = with_file();
        let l = line("reg.example/app:1", "scan", &f);
        let err = parse(format!("{l}\n{l}\n").as_bytes(), "batch").unwrap_err();
        assert!(
            matches!(
                err,
                Error::Batch(BatchError::Duplicate {
                    line: 2,
                    first: 1,
                    ..
                })
            ),
            "{err}"
        );
        assert!(matches!(
            parse(&b"\n\n"[..], "batch").unwrap_err(),
            Error::Batch(BatchError::Empty)
        ));
    }
}
