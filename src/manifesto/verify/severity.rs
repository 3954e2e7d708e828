//! The severity order of failures, which decides the exit code when several requirements or images
//! fail: evidence of an attack first, then definitive verdicts, then conditions a retry may clear.
//! See docs/verdict.md.

use crate::failure::Failure;

/// Severity of a failure when several are combined (higher wins): evidence of an attack first,
/// then definitive verdicts, then conditions a retry may clear. See docs/verdict.md.
pub fn severity(f: Failure) -> u8 {
    match f {
        Failure::Rollback => 10,
        Failure::Untrusted => 9,
        Failure::PolicyDenied => 8,
        Failure::Stale => 7,
        Failure::NotFound => 6,
        Failure::Unavailable => 5,
        Failure::LocalState => 4,
        Failure::Conflict => 3,
        Failure::Internal => 2,
        Failure::Usage => 1,
    }
}

/// The most severe of some failures; `None` when there are none (everything passed).
pub fn most_severe(failures: impl IntoIterator<Item = Option<Failure>>) -> Option<Failure> {
    failures.into_iter().flatten().max_by_key(|f| severity(*f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_puts_attacks_first_then_definitive_verdicts_then_transient_ones() {
        use Failure::*;
        let order = [
            Rollback,
            Untrusted,
            PolicyDenied,
            Stale,
            NotFound,
            Unavailable,
            LocalState,
            Conflict,
            Internal,
            Usage,
        ];
        for w in order.windows(2) {
            assert!(severity(w[0]) > severity(w[1]), "{:?} > {:?}", w[0], w[1]);
        }
        assert_eq!(most_severe([None, None]), None);
        assert_eq!(
            most_severe([Some(Stale), None, Some(PolicyDenied)]),
            Some(PolicyDenied)
        );
        assert_eq!(
            most_severe([Some(Unavailable), Some(PolicyDenied)]),
            Some(PolicyDenied)
        );
        assert_eq!(
            most_severe([Some(PolicyDenied), Some(Rollback)]),
            Some(Rollback)
        );
    }
}
