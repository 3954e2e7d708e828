//! Hashes, lengths and sizes: a file that does not match what its parent signed for it, or is larger than the limits allow.

use super::*;

#[test]
fn whitespace_tampered_targets_is_refused() {
    let repo = Repo::new();
    let mut s = up_to_snapshot(&repo);
    let mut tampered = repo.file("targets").to_vec();
    tampered.insert(1, b' ');
    assert!(matches!(
        s.update_targets(&tampered, now()),
        Err(TrustError::LengthMismatch { .. })
    ));
    // Same length, one byte changed inside a signed string: hash mismatch.
    let text = String::from_utf8(repo.file("targets").to_vec())
        .unwrap()
        .replace("app/v1", "app/v2");
    assert!(matches!(
        s.update_targets(text.as_bytes(), now()),
        Err(TrustError::HashMismatch { .. })
    ));
}

#[test]
fn snapshot_not_named_by_the_timestamp_is_refused() {
    let mut repo = Repo::new();
    let old_snapshot = repo.snapshot.clone();
    repo.publish(2, 2);
    let mut s = trusting_root(&repo);
    s.update_timestamp(&repo.timestamp, now()).unwrap();
    assert!(matches!(
        s.update_snapshot(&old_snapshot, now()),
        Err(TrustError::LengthMismatch { .. } | TrustError::HashMismatch { .. })
    ));
    s.update_snapshot(&repo.snapshot, now()).unwrap();
}

#[test]
fn oversized_timestamp_is_refused() {
    let repo = Repo::new();
    let mut s = trusting_root(&repo);
    let huge = vec![b' '; usize::try_from(Limits::default().timestamp_max_bytes).unwrap() + 1];
    assert!(matches!(
        s.update_timestamp(&huge, now()),
        Err(TrustError::Envelope { .. })
    ));
}

#[test]
fn delegation_missing_from_snapshot_is_refused() {
    let repo = Repo::new();
    let mut s = repo.state();
    let file = sign(&targets_meta(1, far(), &[]), &[&repo.tg_key]);
    assert!(matches!(
        s.update_targets_role(&role("targets/qa"), &file, now()),
        Err(TrustError::NotInSnapshot { .. })
    ));
}
