//! Workflow order and floors: steps out of order are caller bugs, and the version floors persist and are raised by cached files.

use super::*;

#[test]
fn snapshot_before_timestamp_is_a_caller_bug() {
    let repo = Repo::new();
    let mut s = trusting_root(&repo);
    let err = s.update_snapshot(&repo.snapshot, now()).unwrap_err();
    assert!(matches!(err, TrustError::OutOfOrder { .. }));
    assert_eq!(err.failure(), Failure::Internal);
}

#[test]
fn snapshot_listing_a_newer_root_is_reported() {
    let mut repo = Repo::new();
    let v2 = repo.signed_root(2, far(), &repo.root_key, &[&repo.root_key]);
    let mut s = repo.state();
    assert!(!s.snapshot_lists_other_root());
    repo.root = v2.clone();
    repo.publish(2, 2);
    s.update_timestamp(&repo.timestamp, now()).unwrap();
    s.update_snapshot(&repo.snapshot, now()).unwrap();
    assert!(s.snapshot_lists_other_root());
    s.update_root(&v2).unwrap();
    assert!(!s.snapshot_lists_other_root());
}

#[test]
fn version_floors_survive_a_json_round_trip() {
    let mut repo = Repo::new();
    repo.publish(4, 7);
    let floors = repo.state().floors().clone();
    let json = serde_json::to_string(&floors).unwrap();
    let back: crate::tuf::trusted::VersionFloors = serde_json::from_str(&json).unwrap();
    assert_eq!(back, floors);
    assert_eq!(
        (
            back.root,
            back.timestamp,
            back.snapshot,
            back.targets["targets"]
        ),
        (1, 7, 4, 1)
    );
}

#[test]
fn cached_snapshot_and_targets_raise_their_floors() {
    let mut repo = Repo::new();
    repo.publish(5, 5);
    let mut s = trusting_root(&repo);
    assert!(s.remember_cached(&RoleName::snapshot(), &repo.snapshot));
    assert!(s.remember_cached(&RoleName::targets(), repo.file("targets")));
    assert!(
        !s.remember_cached(&RoleName::targets(), &repo.snapshot),
        "wrong _type never counts"
    );
    assert_eq!((s.floors().snapshot, s.floors().targets["targets"]), (5, 1));
}

#[test]
fn unchanged_timestamp_needs_no_new_snapshot() {
    let repo = Repo::new();
    let mut s = repo.state();
    assert!(!s.update_timestamp(&repo.timestamp, now()).unwrap());
    assert!(s.targets_role(&RoleName::targets()).is_some());
}
