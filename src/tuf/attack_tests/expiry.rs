//! Expiry: every role, delegations and the root (and its certificate) are refused once expired.

use super::*;

#[test]
fn expired_timestamp_is_refused() {
    let repo = Repo::new();
    let mut s = trusting_root(&repo);
    let ts = sign(&timestamp_meta(2, past(), &repo.snapshot), &[&repo.ts_key]);
    assert!(matches!(
        s.update_timestamp(&ts, now()),
        Err(TrustError::Expired { .. })
    ));
}

#[test]
fn expired_snapshot_is_refused() {
    let mut repo = Repo::new();
    let mut listed = repo.files.clone();
    listed.insert(RoleName::root(), repo.root.clone());
    repo.snapshot = sign(&snapshot_meta(2, past(), &listed), &[&repo.sn_key]);
    repo.timestamp = sign(&timestamp_meta(2, far(), &repo.snapshot), &[&repo.ts_key]);
    let mut s = trusting_root(&repo);
    s.update_timestamp(&repo.timestamp, now()).unwrap();
    let err = s.update_snapshot(&repo.snapshot, now()).unwrap_err();
    assert!(matches!(err, TrustError::Expired { .. }));
    assert_eq!(err.failure(), Failure::Stale);
}

#[test]
fn expired_targets_is_refused() {
    let mut repo = Repo::new();
    repo.set(
        "targets",
        sign(&targets_meta(2, past(), &[]), &[&repo.tg_key]),
    );
    repo.publish(2, 2);
    let mut s = up_to_snapshot(&repo);
    assert!(matches!(
        s.update_targets(repo.file("targets"), now()),
        Err(TrustError::Expired { .. })
    ));
}

#[test]
fn expired_delegation_is_refused() {
    let mut repo = Repo::new();
    let k = TestKey::ecdsa();
    let mut top = targets_meta(2, far(), &[]);
    delegate(&mut top, "targets/qa", &[""], &[&k], 1);
    repo.set("targets", sign(&top, &[&repo.tg_key]));
    repo.set(
        "targets/qa",
        sign(&targets_meta(1, past(), &[("x", b"x")]), &[&k]),
    );
    repo.publish(2, 2);
    let mut s = repo.state();
    assert!(matches!(
        s.update_targets_role(&role("targets/qa"), repo.file("targets/qa"), now()),
        Err(TrustError::Expired { .. })
    ));
}

#[test]
fn expired_root_is_refused() {
    let mut repo = Repo::new();
    repo.root = repo.signed_root(1, past(), &repo.root_key, &[&repo.root_key]);
    repo.publish(1, 1);
    let mut s = trusting_root(&repo);
    let err = s.update_timestamp(&repo.timestamp, now()).unwrap_err();
    assert!(
        matches!(err, TrustError::Expired { ref role, .. } if role == &RoleName::root()),
        "{err:?}"
    );
    assert_eq!(err.failure(), Failure::Stale);
}

#[test]
fn expired_root_certificate_is_refused() {
    let mut repo = Repo::new();
    repo.root_key =
        TestKey::root_cert_valid(GUN, at("2016-01-01T00:00:00Z"), at("2026-11-27T12:00:00Z"));
    repo.root = repo.signed_root(1, far(), &repo.root_key, &[&repo.root_key]);
    repo.publish(1, 1);
    let mut s = trusting_root(&repo);
    let err = s.update_timestamp(&repo.timestamp, now()).unwrap_err();
    assert!(
        matches!(err, TrustError::Verify(VerifyError::Threshold { .. })),
        "{err:?}"
    );
}
