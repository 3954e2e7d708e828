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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct_and_match_the_documented_table() {
        let codes: Vec<u8> = Failure::ALL.iter().map(|f| f.exit_code()).collect();
        assert_eq!(codes, (1..=10).collect::<Vec<u8>>());
    }
}
