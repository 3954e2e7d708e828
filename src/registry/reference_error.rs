//! The one error of the name grammar: a reference, repository name, tag or digest that could not
//! be parsed. Its kind is for callers (and tests) that branch on what was wrong; its message quotes
//! the input, cut short and escaped, and says what to type instead. Always exit 2.

use std::fmt;

use crate::failure::Failure;

/// What was wrong with a reference, for callers (and tests) that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReferenceErrorKind {
    /// Nothing was given.
    Empty,
    /// Whitespace, a control character or a non-ASCII character.
    InvalidCharacter,
    /// A URL (`https://…`) was given where a reference belongs.
    UrlScheme,
    /// A bare 64-hex string, which Docker refuses as ambiguous with an image ID.
    ImageId,
    /// A tag or digest with no repository name before it (`:tag`, `@sha256:…`).
    MissingName,
    /// Uppercase in the repository path.
    Uppercase,
    /// The registry host or port is malformed.
    InvalidRegistry,
    /// A repository path component is malformed (empty, `..`, bad separator, bad character).
    InvalidRepository,
    /// The tag is empty, too long or has a character tags may not have.
    InvalidTag,
    /// The digest is malformed or uses an unsupported algorithm.
    InvalidDigest,
    /// `registry/repository` is longer than 255 characters.
    NameTooLong,
    /// A tag or digest was given where only a repository is wanted.
    UnexpectedTagOrDigest,
}

/// A reference, repository name, tag or digest that could not be parsed. Always the user's to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ReferenceError {
    kind: ReferenceErrorKind,
    /// What was being parsed ("image reference", "digest", …), for the message.
    subject: &'static str,
    input: String,
    detail: String,
}

impl ReferenceError {
    pub(super) fn new(
        kind: ReferenceErrorKind,
        subject: &'static str,
        input: &str,
        detail: String,
    ) -> Self {
        ReferenceError {
            kind,
            subject,
            input: input.to_string(),
            detail,
        }
    }

    pub fn kind(&self) -> ReferenceErrorKind {
        self.kind
    }

    /// The text that was refused, as given.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Every parse error is bad input the user can correct.
    pub fn failure(&self) -> Failure {
        Failure::Usage
    }
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} {}: {}",
            self.subject,
            Shown(&self.input),
            self.detail
        )
    }
}

/// Quotes user input for a message: escaped (so NUL and control characters are visible) and cut
/// short, so that a 10 kB argument does not drown the explanation.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const LIMIT: usize = 72;
        let count = self.0.chars().count();
        if count <= LIMIT {
            write!(f, "{:?}", self.0)
        } else {
            let head: String = self.0.chars().take(LIMIT).collect();
            write!(f, "{head:?}… ({count} characters)")
        }
    }
}

pub(super) fn quoted(s: &str) -> String {
    Shown(s).to_string()
}
