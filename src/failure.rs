//! The one place where failures become process exit codes.
//!
//! Every error type in the library reports which [`Failure`] it is, and only this file turns a
//! `Failure` into the stable numbers documented in the README (DESIGN.md §6). Scripts and CI gates
//! depend on these numbers, so they never change meaning.

use serde::Serialize;

/// What kind of failure ended a command. Ordered by severity for commands that aggregate several
/// results (a gate reports the most severe one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    /// A bug or an unexpected state in manifesto itself.
    Internal,
    /// Bad command line, bad reference, bad file: the user can fix the input.
    Usage,
    /// A signature, threshold, hash, length, signer authority or pin did not check out.
    Untrusted,
    /// Signed metadata expired, or older than the caller's max-age.
    Stale,
    /// A version went backwards, or the server is replaying old metadata.
    Rollback,
    /// The network, the server or the registry could not be reached or answered 5xx.
    Unavailable,
    /// Another writer kept winning; retries are exhausted.
    Conflict,
    /// Local state is unusable: key permissions, missing key or passphrase, corrupt cache, lock.
    LocalState,
    /// The image, repository or metadata does not exist.
    NotFound,
    /// A policy requirement was not met.
    PolicyDenied,
}

impl Failure {
    /// The process exit code for this failure (README "Exit codes").
    pub const fn exit_code(self) -> u8 {
        match self {
            Failure::Internal => 1,
            Failure::Usage => 2,
            Failure::Untrusted => 3,
            Failure::Stale => 4,
            Failure::Rollback => 5,
            Failure::Unavailable => 6,
            Failure::Conflict => 7,
            Failure::LocalState => 8,
            Failure::NotFound => 9,
            Failure::PolicyDenied => 10,
        }
    }

    /// Every failure with its code, for documentation and tests.
    pub const ALL: [Failure; 10] = [
        Failure::Internal,
        Failure::Usage,
        Failure::Untrusted,
        Failure::Stale,
        Failure::Rollback,
        Failure::Unavailable,
        Failure::Conflict,
        Failure::LocalState,
        Failure::NotFound,
        Failure::PolicyDenied,
    ];
}

/// The messages of `err`'s source chain that are not already said: a cause whose text the
/// message (or an earlier cause) contains is left out, so `#[error(transparent)]` wrappers and
/// messages that quote their source are not repeated. The one flattener for reports.
pub fn causes(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut said = err.to_string();
    let mut causes = Vec::new();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !said.contains(&text) {
            said.push_str(": ");
            said.push_str(&text);
            causes.push(text);
        }
        source = s.source();
    }
    causes
}

/// `err`'s message followed by its [`causes`], joined with `": "` (one line, for verdicts).
pub fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut message = err.to_string();
    for cause in causes(err) {
        message.push_str(": ");
        message.push_str(&cause);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error(transparent)]
        Wrapped(#[from] Inner),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read /x")]
    struct Inner(#[source] std::io::Error);

    #[test]
    fn causes_leave_out_what_the_message_already_says() {
        let err = Outer::from(Inner(std::io::Error::other("disk on fire")));
        // The transparent wrapper's inner message is the message itself: not repeated.
        assert_eq!(causes(&err), ["disk on fire"]);
        assert_eq!(describe(&err), "cannot read /x: disk on fire");
    }

    #[test]
    fn exit_codes_are_distinct_and_match_the_documented_table() {
        let codes: Vec<u8> = Failure::ALL.iter().map(|f| f.exit_code()).collect();
        assert_eq!(codes, (1..=10).collect::<Vec<u8>>());
    }
}
