//! Every check of the trusted state as a test named after the attack it stops.
//!
//! Fixture tests replay repositories served by a real notary-server 0.7.0; attack tests build
//! repositories with throwaway keys (see `test_support`) and then play the tampering server.
//!
//! One file per attack family; this module holds what they share: imports, and the set-ups that
//! nearly every test repeats ([`trusting_root`], [`up_to_snapshot`]) and the threshold check of
//! the double-signer attacks ([`assert_one_of_two_signers`]).

mod delegations;
mod expiry;
mod fixtures;
mod hashes;
mod rollback;
mod roots;
mod signatures;
mod stale_roles;
mod workflow;

use std::collections::BTreeMap;

use super::limits::Limits;
use super::metadata::{Metadata, Targets};
use super::names::RoleName;
use super::test_support::*;
use super::trusted::{Lookup, TrustError, TrustedState};
use super::verify::VerifyError;
use crate::failure::Failure;

fn role(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}

fn found_in(lookup: Lookup) -> String {
    match lookup {
        Lookup::Found(t) => t.role.to_string(),
        other => panic!("expected a target, got {other:?}"),
    }
}

/// A fresh state trusting only `repo`'s root (default limits).
fn trusting_root(repo: &Repo) -> TrustedState {
    TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap()
}

/// A state trusting `repo`'s root that has verified its current timestamp and snapshot, ready
/// for a targets file to be offered.
fn up_to_snapshot(repo: &Repo) -> TrustedState {
    let mut s = trusting_root(repo);
    s.update_timestamp(&repo.timestamp, now()).unwrap();
    s.update_snapshot(&repo.snapshot, now()).unwrap();
    s
}

/// Asserts `err` is a threshold failure counting one valid signature of the two required: what
/// every "one signer counted twice" attack must end in.
#[track_caller]
fn assert_one_of_two_signers(err: &TrustError) {
    assert!(
        matches!(
            err,
            TrustError::Verify(VerifyError::Threshold {
                valid: 1,
                threshold: 2,
                ..
            })
        ),
        "{err:?}"
    );
}
