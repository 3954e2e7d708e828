//! Signatures and thresholds: a flipped byte, an undelegated key, one key counted twice (repeated id, or bare and as its certificate), a method that does not fit the key, one role served as another.

use super::*;

/// A fresh state of `repo` (up to its targets) offered `repo`'s current `targets/t2`.
fn offer_t2(repo: &Repo) -> Result<(), TrustError> {
    let mut s = repo.state();
    s.update_targets_role(&role("targets/t2"), repo.file("targets/t2"), now())
}

#[test]
fn flipped_signature_byte_in_targets_is_refused() {
    let repo = Repo::new();
    let mut bytes = repo.file("targets").to_vec();
    let mut t: Targets = Targets::from_signed(
        &crate::tuf::envelope::SignedEnvelope::parse(&bytes, 1 << 20)
            .unwrap()
            .signed,
    )
    .unwrap();
    t.version = v(1);
    let mut sig = repo.tg_key.sign(&message(&t));
    sig.sig[10] ^= 1;
    bytes = crate::tuf::write::metadata_file(&t, &[sig]).unwrap();
    let mut repo = repo;
    repo.set("targets", bytes.clone());
    repo.publish(2, 2);
    let mut s = up_to_snapshot(&repo);
    let err = s.update_targets(&bytes, now()).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::Verify(VerifyError::Threshold { valid: 0, .. })
        ),
        "{err:?}"
    );
}

#[test]
fn targets_signed_by_undelegated_key_is_refused() {
    let mut repo = Repo::new();
    let intruder = TestKey::ecdsa();
    repo.set(
        "targets",
        sign(
            &targets_meta(2, far(), &[("app/v1", b"evil")]),
            &[&intruder],
        ),
    );
    repo.publish(2, 2);
    let mut s = up_to_snapshot(&repo);
    assert!(matches!(
        s.update_targets(repo.file("targets"), now()),
        Err(TrustError::Verify(VerifyError::Threshold { .. }))
    ));
}

#[test]
fn threshold_met_by_repeated_key_id_is_refused() {
    let mut repo = Repo::new();
    let (k1, k2) = (TestKey::ecdsa(), TestKey::ecdsa());
    let mut top = targets_meta(2, far(), &[]);
    delegate(&mut top, "targets/t2", &[""], &[&k1, &k2], 2);
    repo.set("targets", sign(&top, &[&repo.tg_key]));
    let t2 = targets_meta(1, far(), &[("x", b"x")]);
    let one = k1.sign(&message(&t2));
    repo.set(
        "targets/t2",
        crate::tuf::write::metadata_file(&t2, &[one.clone(), one]).unwrap(),
    );
    repo.publish(2, 2);
    let err = offer_t2(&repo).unwrap_err();
    assert_one_of_two_signers(&err);
    // Both keys: accepted.
    repo.set("targets/t2", sign(&t2, &[&k1, &k2]));
    repo.publish(3, 3);
    offer_t2(&repo).unwrap();
}

/// One key listed twice: bare under its own id and as its certificate under another, with
/// threshold 2, and a file signed once under each id (SECURITY-TESTS scenario 46).
#[test]
fn a_delegation_listing_one_key_bare_and_as_its_certificate_is_not_two_signers_exit_3() {
    let mut repo = Repo::new();
    let key = TestKey::ecdsa();
    let (cert_id, cert) = key.certificate_twin(GUN);
    let mut top = targets_meta(2, far(), &[]);
    delegate(&mut top, "targets/t2", &[""], &[&key], 2);
    top.delegations.keys.insert(cert_id.clone(), cert);
    top.delegations.roles[0].keyids.push(cert_id.clone());
    repo.set("targets", sign(&top, &[&repo.tg_key]));
    let t2 = targets_meta(1, far(), &[("x", b"x")]);
    let m = message(&t2);
    repo.set(
        "targets/t2",
        crate::tuf::write::metadata_file(&t2, &[key.sign(&m), key.sign_under(&m, &cert_id)])
            .unwrap(),
    );
    repo.publish(2, 2);
    let err = offer_t2(&repo).unwrap_err();
    assert_one_of_two_signers(&err);
    assert_eq!(err.failure(), Failure::Untrusted);
}

#[test]
fn a_root_listing_the_targets_key_bare_and_as_its_certificate_is_not_two_signers_exit_3() {
    let mut repo = Repo::new();
    let (cert_id, cert) = repo.tg_key.certificate_twin(GUN);
    let mut root = repo.root_meta_with(1, far(), &repo.root_key);
    root.keys.insert(cert_id.clone(), cert);
    let targets_role = root.roles.get_mut("targets").unwrap();
    targets_role.keyids.push(cert_id.clone());
    targets_role.threshold = 2;
    repo.root = sign(&root, &[&repo.root_key]);
    let top = targets_meta(2, far(), &[("app/v2", b"two")]);
    let m = message(&top);
    repo.set(
        "targets",
        crate::tuf::write::metadata_file(
            &top,
            &[repo.tg_key.sign(&m), repo.tg_key.sign_under(&m, &cert_id)],
        )
        .unwrap(),
    );
    repo.publish(2, 2);
    let mut s = up_to_snapshot(&repo);
    let err = s.update_targets(repo.file("targets"), now()).unwrap_err();
    assert!(
        matches!(
            &err,
            TrustError::Verify(VerifyError::Threshold {
                role,
                valid: 1,
                threshold: 2,
            }) if role == &RoleName::targets()
        ),
        "{err:?}"
    );
}

#[test]
fn signature_method_not_fitting_the_key_is_refused() {
    // The timestamp key is ed25519; a signature claiming `ecdsa` must not count.
    let mut repo = Repo::new();
    let ts = timestamp_meta(2, far(), &repo.snapshot);
    let forged = repo.ts_key.sign_as(&message(&ts), "ecdsa");
    repo.timestamp = crate::tuf::write::metadata_file(&ts, &[forged]).unwrap();
    let mut s = trusting_root(&repo);
    assert!(matches!(
        s.update_timestamp(&repo.timestamp, now()),
        Err(TrustError::Verify(VerifyError::Threshold { .. }))
    ));
}

#[test]
fn snapshot_served_as_timestamp_is_refused() {
    let repo = Repo::new();
    let mut s = trusting_root(&repo);
    let err = s.update_timestamp(&repo.snapshot, now()).unwrap_err();
    assert!(
        matches!(err, TrustError::Verify(VerifyError::Metadata { .. })),
        "{err:?}"
    );
    assert_eq!(err.failure(), Failure::Untrusted);
}
