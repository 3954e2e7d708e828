//! Roots: keys a root must not use, and root rotation (old and new keys both sign, no skipped or replayed version, a bounded chain).

use super::*;

#[test]
fn root_with_bare_key_is_refused() {
    let mut repo = Repo::new();
    let bare = TestKey::ecdsa();
    repo.root = repo.signed_root(1, far(), &bare, &[&bare]);
    assert!(matches!(
        TrustedState::new(GUN, &repo.root, &Limits::default()),
        Err(TrustError::Verify(VerifyError::Threshold { .. }))
    ));
}

#[test]
fn a_root_2_of_2_listing_two_certificates_of_one_key_is_not_met_by_that_key_exit_3() {
    let repo = Repo::new();
    let key = TestKey::root_cert(GUN);
    let (renewed_id, renewed) = key.certificate_twin_until(GUN, at("2035-01-01T00:00:00Z"));
    assert_ne!(renewed_id, key.id, "another certificate, another id");
    let mut meta = root_meta(
        1,
        far(),
        &[&key],
        2,
        &repo.ts_key,
        &repo.sn_key,
        &repo.tg_key,
    );
    meta.keys.insert(renewed_id.clone(), renewed);
    meta.roles
        .get_mut("root")
        .unwrap()
        .keyids
        .push(renewed_id.clone());
    let m = message(&meta);
    let twice =
        crate::tuf::write::metadata_file(&meta, &[key.sign(&m), key.sign_under(&m, &renewed_id)])
            .unwrap();
    let err = TrustedState::new(GUN, &twice, &Limits::default()).unwrap_err();
    assert_one_of_two_signers(&err);
    assert_eq!(err.failure(), Failure::Untrusted);
}

#[test]
fn root_two_of_three_needs_two_distinct_certificates() {
    let repo = Repo::new();
    let keys: Vec<TestKey> = (0..3).map(|_| TestKey::root_cert(GUN)).collect();
    let refs: Vec<&TestKey> = keys.iter().collect();
    let meta = root_meta(1, far(), &refs, 2, &repo.ts_key, &repo.sn_key, &repo.tg_key);
    let one = sign(&meta, &[&keys[0]]);
    assert!(matches!(
        TrustedState::new(GUN, &one, &Limits::default()),
        Err(TrustError::Verify(VerifyError::Threshold {
            valid: 1,
            threshold: 2,
            ..
        }))
    ));
    let same_twice = sign(&meta, &[&keys[0], &keys[0]]);
    assert!(matches!(
        TrustedState::new(GUN, &same_twice, &Limits::default()),
        Err(TrustError::Verify(VerifyError::Threshold {
            valid: 1,
            threshold: 2,
            ..
        }))
    ));
    let two = sign(&meta, &[&keys[0], &keys[2]]);
    TrustedState::new(GUN, &two, &Limits::default()).unwrap();
    // m > n is refused when the root is parsed.
    let impossible = root_meta(1, far(), &refs, 4, &repo.ts_key, &repo.sn_key, &repo.tg_key);
    let all = sign(&impossible, &refs);
    assert!(matches!(
        TrustedState::new(GUN, &all, &Limits::default()),
        Err(TrustError::Verify(VerifyError::Metadata { .. }))
    ));
}

#[test]
fn root_rotation_signed_by_old_and_new_keys_is_accepted() {
    let repo = Repo::new();
    let new_key = TestKey::root_cert(GUN);
    let v2 = repo.signed_root(2, far(), &new_key, &[&repo.root_key, &new_key]);
    let newer_key = TestKey::root_cert(GUN);
    let v3 = repo.signed_root(3, far(), &newer_key, &[&new_key, &newer_key]);
    let mut s = trusting_root(&repo);
    s.update_root(&v2).unwrap();
    s.update_root(&v3).unwrap();
    assert_eq!(s.root().version.get(), 3);
    assert_eq!(s.floors().root, 3);
}

#[test]
fn root_rotation_signed_only_by_new_key_is_refused() {
    let repo = Repo::new();
    let new_key = TestKey::root_cert(GUN);
    let mut s = trusting_root(&repo);
    let err = s
        .update_root(&repo.signed_root(2, far(), &new_key, &[&new_key]))
        .unwrap_err();
    assert!(
        matches!(err, TrustError::Verify(VerifyError::Threshold { .. })),
        "{err:?}"
    );
    assert_eq!(s.root().version.get(), 1, "v1 is kept");
}

#[test]
fn root_rotation_signed_only_by_old_key_is_refused() {
    let repo = Repo::new();
    let new_key = TestKey::root_cert(GUN);
    let mut s = trusting_root(&repo);
    assert!(matches!(
        s.update_root(&repo.signed_root(2, far(), &new_key, &[&repo.root_key])),
        Err(TrustError::Verify(VerifyError::Threshold { valid: 0, .. }))
    ));
}

#[test]
fn root_rotation_to_certificate_for_another_gun_is_refused() {
    let repo = Repo::new();
    let other = TestKey::root_cert("example.com/other/app");
    let mut s = trusting_root(&repo);
    assert!(matches!(
        s.update_root(&repo.signed_root(2, far(), &other, &[&repo.root_key, &other])),
        Err(TrustError::Verify(VerifyError::Threshold { valid: 0, .. }))
    ));
}

#[test]
fn root_version_skip_is_refused() {
    let repo = Repo::new();
    let mut s = trusting_root(&repo);
    let v3 = repo.signed_root(3, far(), &repo.root_key, &[&repo.root_key]);
    let err = s.update_root(&v3).unwrap_err();
    assert!(matches!(
        err,
        TrustError::RootNotNext {
            current: 1,
            found: 3
        }
    ));
    assert_eq!(err.failure(), Failure::Untrusted);
}

#[test]
fn replayed_root_version_is_refused_as_rollback() {
    let repo = Repo::new();
    let mut s = trusting_root(&repo);
    s.update_root(&repo.signed_root(2, far(), &repo.root_key, &[&repo.root_key]))
        .unwrap();
    let err = s.update_root(&repo.root).unwrap_err();
    assert_eq!(err.failure(), Failure::Rollback);
}

#[test]
fn endless_root_chain_stops_at_the_cap() {
    let repo = Repo::new();
    let mut s = trusting_root(&repo);
    for version in 2..=(Limits::default().max_root_rotations as u64 + 1) {
        s.update_root(&repo.signed_root(version, far(), &repo.root_key, &[&repo.root_key]))
            .unwrap();
    }
    let next = repo.signed_root(
        Limits::default().max_root_rotations as u64 + 2,
        far(),
        &repo.root_key,
        &[&repo.root_key],
    );
    assert!(matches!(
        s.update_root(&next),
        Err(TrustError::TooManyRootRotations { .. })
    ));
}

#[test]
fn expired_intermediate_root_with_valid_final_root_is_accepted() {
    let mut repo = Repo::new();
    let v2 = repo.signed_root(2, past(), &repo.root_key, &[&repo.root_key]);
    let v3 = repo.signed_root(3, far(), &repo.root_key, &[&repo.root_key]);
    let mut s = trusting_root(&repo);
    s.update_root(&v2).unwrap();
    assert!(matches!(
        s.check_root(now()),
        Err(TrustError::Expired { ref role, .. }) if role == &RoleName::root()
    ));
    s.update_root(&v3).unwrap();
    repo.root = v3;
    repo.publish(2, 2);
    s.update_timestamp(&repo.timestamp, now()).unwrap();
}

#[test]
fn fast_forwarded_timestamp_recovers_after_timestamp_key_rotation() {
    let mut repo = Repo::new();
    // An attacker holding the old timestamp key pushed version 2^31-1.
    let evil = sign(
        &timestamp_meta((1 << 31) - 1, far(), &repo.snapshot),
        &[&repo.ts_key],
    );
    let mut s = trusting_root(&repo);
    s.update_timestamp(&evil, now()).unwrap();
    // The owner rotates the timestamp key; the server starts again at a low version.
    repo.ts_key = TestKey::ed25519();
    let v2 = repo.signed_root(2, far(), &repo.root_key, &[&repo.root_key]);
    s.update_root(&v2).unwrap();
    assert_eq!(s.floors().timestamp, 0);
    repo.root = v2;
    repo.publish(2, 2);
    s.update_timestamp(&repo.timestamp, now()).unwrap();
    // A cached file signed with the old key no longer raises the floor.
    assert!(!s.remember_cached(&RoleName::timestamp(), &evil));
}
