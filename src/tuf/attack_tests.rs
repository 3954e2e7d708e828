//! Every check of the trusted state as a test named after the attack it stops.
//!
//! Fixture tests replay repositories served by a real notary-server 0.7.0; attack tests build
//! repositories with throwaway keys (see `test_support`) and then play the tampering server.

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

// ---------------------------------------------------------------- fixtures from a live server

const MYORG: &str = "127.0.0.1:5000/myorg/app";
const DELEG2: &str = "127.0.0.1:5000/test/deleg2";

#[test]
fn myorg_app_fixture_repository_verifies_end_to_end() {
    let mut s =
        TrustedState::new(MYORG, fixture("root.v1.x509-root.json"), &Limits::default()).unwrap();
    s.update_timestamp(fixture("timestamp.json"), now())
        .unwrap();
    // Root v2 moved the snapshot key to the server: with v1's keys the snapshot does not verify,
    // which sends the client through "update root, then restart at the timestamp".
    assert!(matches!(
        s.update_snapshot(fixture("snapshot.json"), now()),
        Err(TrustError::Verify(_))
    ));
    s.update_root(fixture("root.json")).unwrap();
    assert_eq!(s.root().version.get(), 2);
    assert_eq!(
        s.floors().snapshot,
        0,
        "snapshot keys changed, so its floor was reset"
    );
    s.update_timestamp(fixture("timestamp.json"), now())
        .unwrap();
    s.update_snapshot(fixture("snapshot.json"), now()).unwrap();
    assert!(!s.snapshot_lists_other_root());
    s.update_targets(fixture("targets.json"), now()).unwrap();
    let Lookup::Found(v1) = s.lookup("v1").unwrap() else {
        panic!("v1 not found")
    };
    assert_eq!(v1.role, RoleName::targets());
    assert_eq!(v1.meta.length, 15);
    assert_eq!(v1.meta.custom.as_ref().unwrap()["note"], "signed by ü");
    assert_eq!(
        s.lookup("qa/build-1").unwrap(),
        Lookup::NeedRole(role("targets/qa"))
    );
    s.update_targets_role(&role("targets/qa"), fixture("targets-qa.json"), now())
        .unwrap();
    assert_eq!(found_in(s.lookup("qa/build-1").unwrap()), "targets/qa");
    assert_eq!(s.lookup("nothing-here").unwrap(), Lookup::NotFound);
    assert_eq!(s.floors().timestamp, 5);
    assert_eq!(s.floors().targets["targets/qa"], 1);
}

fn deleg2_file(role: &RoleName) -> &'static [u8] {
    match role.as_str() {
        "targets" => fixture("deleg2/targets.json"),
        "targets/rsa" => fixture("deleg2/targets-rsa.rsapkcs1v15.json"),
        other => fixture(&format!("deleg2/{}.json", other.replace('/', "-"))),
    }
}

fn deleg2_state() -> TrustedState {
    let mut s = TrustedState::new(DELEG2, fixture("deleg2/root.json"), &Limits::default()).unwrap();
    s.update_timestamp(fixture("deleg2/timestamp.json"), now())
        .unwrap();
    s.update_snapshot(fixture("deleg2/snapshot.json"), now())
        .unwrap();
    s.update_targets(deleg2_file(&RoleName::targets()), now())
        .unwrap();
    loop {
        match s.list_targets().unwrap() {
            Ok(_) => return s,
            Err(needed) => s
                .update_targets_role(&needed, deleg2_file(&needed), now())
                .unwrap(),
        }
    }
}

#[test]
fn deleg2_fixture_every_key_type_delegation_loads_and_resolves() {
    let s = deleg2_state();
    let listed: BTreeMap<String, String> = s
        .list_targets()
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|t| (t.name, t.role.to_string()))
        .collect();
    let expected: BTreeMap<String, String> = [
        ("ecx509-target", "targets/ecx509"),
        ("ed-target", "targets/ed"),
        ("hp-target", "targets/hp"),
        ("p384-target", "targets/p384"),
        ("qa/ok", "targets/paths"),
        ("rsa-target", "targets/rsa"),
        ("rsax509-target", "targets/rsax509"),
        ("t2-target", "targets/t2"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(listed, expected);
}

#[test]
fn target_outside_delegation_paths_is_ignored() {
    // The server stored `other/bad` in targets/paths (paths ["qa/"]); it must not resolve.
    let s = deleg2_state();
    assert!(
        s.targets_role(&role("targets/paths"))
            .unwrap()
            .targets
            .contains_key("other/bad")
    );
    assert_eq!(s.lookup("other/bad").unwrap(), Lookup::NotFound);
    assert_eq!(found_in(s.lookup("qa/ok").unwrap()), "targets/paths");
}

#[test]
fn mix_and_match_old_targets_is_refused() {
    let mut s = TrustedState::new(MYORG, fixture("root.json"), &Limits::default()).unwrap();
    s.update_timestamp(fixture("timestamp.json"), now())
        .unwrap();
    s.update_snapshot(fixture("snapshot.json"), now()).unwrap();
    let err = s
        .update_targets(fixture("targets.v2.json"), now())
        .unwrap_err();
    assert!(matches!(err, TrustError::LengthMismatch { .. }), "{err:?}");
    assert_eq!(err.failure(), Failure::Untrusted);
    // An older, validly signed delegation file (targets/rsa v1) in place of the listed v2.
    let mut d = TrustedState::new(DELEG2, fixture("deleg2/root.json"), &Limits::default()).unwrap();
    d.update_timestamp(fixture("deleg2/timestamp.json"), now())
        .unwrap();
    d.update_snapshot(fixture("deleg2/snapshot.json"), now())
        .unwrap();
    d.update_targets(fixture("deleg2/targets.json"), now())
        .unwrap();
    let err = d
        .update_targets_role(
            &role("targets/rsa"),
            fixture("deleg2/targets-rsa.rsapss.json"),
            now(),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::LengthMismatch { .. } | TrustError::HashMismatch { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn replayed_timestamp_past_its_expiry_is_refused() {
    let mut s = TrustedState::new(MYORG, fixture("root.json"), &Limits::default()).unwrap();
    let err = s
        .update_timestamp(fixture("timestamp.json"), at("2026-12-12T00:00:00Z"))
        .unwrap_err();
    assert!(matches!(err, TrustError::Expired { .. }), "{err:?}");
    assert_eq!(err.failure(), Failure::Stale);
}

#[test]
fn root_for_another_gun_is_refused() {
    let err = TrustedState::new(
        "127.0.0.1:5000/other/app",
        fixture("root.json"),
        &Limits::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, TrustError::Verify(VerifyError::Threshold { .. })),
        "{err:?}"
    );
    assert_eq!(err.failure(), Failure::Untrusted);
}

// ---------------------------------------------------------------- signatures and thresholds

#[test]
fn flipped_signature_byte_in_targets_is_refused() {
    let repo = Repo::new();
    let mut bytes = repo.file("targets").to_vec();
    let mut t: Targets = Targets::from_signed(
        &super::envelope::SignedEnvelope::parse(&bytes, 1 << 20)
            .unwrap()
            .signed,
    )
    .unwrap();
    t.version = v(1);
    let mut sig = repo.tg_key.sign(&message(&t));
    sig.sig[10] ^= 1;
    bytes = super::write::metadata_file(&t, &[sig]).unwrap();
    let mut repo = repo;
    repo.set("targets", bytes.clone());
    repo.publish(2, 2);
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    s.update_timestamp(&repo.timestamp, now()).unwrap();
    s.update_snapshot(&repo.snapshot, now()).unwrap();
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
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    s.update_timestamp(&repo.timestamp, now()).unwrap();
    s.update_snapshot(&repo.snapshot, now()).unwrap();
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
        super::write::metadata_file(&t2, &[one.clone(), one]).unwrap(),
    );
    repo.publish(2, 2);
    let mut s = repo.state();
    let err = s
        .update_targets_role(&role("targets/t2"), repo.file("targets/t2"), now())
        .unwrap_err();
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
    // Both keys: accepted.
    repo.set("targets/t2", sign(&t2, &[&k1, &k2]));
    repo.publish(3, 3);
    let mut s = repo.state();
    s.update_targets_role(&role("targets/t2"), repo.file("targets/t2"), now())
        .unwrap();
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
        super::write::metadata_file(&t2, &[key.sign(&m), key.sign_under(&m, &cert_id)]).unwrap(),
    );
    repo.publish(2, 2);
    let mut s = repo.state();
    let err = s
        .update_targets_role(&role("targets/t2"), repo.file("targets/t2"), now())
        .unwrap_err();
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
    assert_eq!(err.failure(), Failure::Untrusted);
}

#[test]
fn a_root_listing_the_targets_key_bare_and_as_its_certificate_is_not_two_signers_exit_3() {
    let mut repo = Repo::new();
    let (cert_id, cert) = repo.tg_key.certificate_twin(GUN);
    let mut root = root_meta(
        1,
        far(),
        &[&repo.root_key],
        1,
        &repo.ts_key,
        &repo.sn_key,
        &repo.tg_key,
    );
    root.keys.insert(cert_id.clone(), cert);
    let targets_role = root.roles.get_mut("targets").unwrap();
    targets_role.keyids.push(cert_id.clone());
    targets_role.threshold = 2;
    repo.root = sign(&root, &[&repo.root_key]);
    let top = targets_meta(2, far(), &[("app/v2", b"two")]);
    let m = message(&top);
    repo.set(
        "targets",
        super::write::metadata_file(
            &top,
            &[repo.tg_key.sign(&m), repo.tg_key.sign_under(&m, &cert_id)],
        )
        .unwrap(),
    );
    repo.publish(2, 2);
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    s.update_timestamp(&repo.timestamp, now()).unwrap();
    s.update_snapshot(&repo.snapshot, now()).unwrap();
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
    repo.timestamp = super::write::metadata_file(&ts, &[forged]).unwrap();
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    assert!(matches!(
        s.update_timestamp(&repo.timestamp, now()),
        Err(TrustError::Verify(VerifyError::Threshold { .. }))
    ));
}

#[test]
fn snapshot_served_as_timestamp_is_refused() {
    let repo = Repo::new();
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    let err = s.update_timestamp(&repo.snapshot, now()).unwrap_err();
    assert!(
        matches!(err, TrustError::Verify(VerifyError::Metadata { .. })),
        "{err:?}"
    );
    assert_eq!(err.failure(), Failure::Untrusted);
}

// ---------------------------------------------------------------- hashes, lengths, sizes

#[test]
fn whitespace_tampered_targets_is_refused() {
    let repo = Repo::new();
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    s.update_timestamp(&repo.timestamp, now()).unwrap();
    s.update_snapshot(&repo.snapshot, now()).unwrap();
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
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
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
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    let huge = vec![b' '; Limits::default().timestamp_max_bytes as usize + 1];
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

// ---------------------------------------------------------------- rollback and freeze

#[test]
fn rolled_back_timestamp_is_refused() {
    let mut repo = Repo::new();
    repo.publish(5, 5);
    let mut s = repo.state();
    let old = sign(&timestamp_meta(3, far(), &repo.snapshot), &[&repo.ts_key]);
    let err = s.update_timestamp(&old, now()).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::Rollback {
                version: 3,
                floor: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.failure(), Failure::Rollback);
    assert_eq!(
        s.timestamp().unwrap().version.get(),
        5,
        "the trusted timestamp is kept"
    );
}

#[test]
fn rolled_back_timestamp_after_restart_is_refused() {
    let mut repo = Repo::new();
    repo.publish(5, 5);
    let floors = repo.state().floors().clone();
    let old = sign(&timestamp_meta(3, far(), &repo.snapshot), &[&repo.ts_key]);
    let mut fresh = TrustedState::new(GUN, &repo.root, &Limits::default())
        .unwrap()
        .with_floors(&floors);
    assert!(matches!(
        fresh.update_timestamp(&old, now()),
        Err(TrustError::Rollback { .. })
    ));
    // The same floor can be rebuilt from the cached timestamp file itself.
    let mut fresh = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    assert!(fresh.remember_cached(&RoleName::timestamp(), &repo.timestamp));
    assert!(matches!(
        fresh.update_timestamp(&old, now()),
        Err(TrustError::Rollback { .. })
    ));
}

#[test]
fn same_version_timestamp_with_other_content_is_refused() {
    let mut repo = Repo::new();
    let mut s = repo.state();
    repo.publish(2, 1);
    let err = s.update_timestamp(&repo.timestamp, now()).unwrap_err();
    assert!(
        matches!(err, TrustError::SameVersionDiffers { .. }),
        "{err:?}"
    );
}

#[test]
fn rolled_back_snapshot_is_refused() {
    let mut repo = Repo::new();
    repo.publish(5, 5);
    let mut s = repo.state();
    repo.publish(4, 6);
    s.update_timestamp(&repo.timestamp, now()).unwrap();
    let err = s.update_snapshot(&repo.snapshot, now()).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::Rollback {
                version: 4,
                floor: 5,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn rolled_back_targets_is_refused() {
    let mut repo = Repo::new();
    repo.set(
        "targets",
        sign(
            &targets_meta(3, far(), &[("app/v1", b"hello")]),
            &[&repo.tg_key],
        ),
    );
    repo.publish(2, 2);
    let mut s = repo.state();
    repo.set(
        "targets",
        sign(
            &targets_meta(2, far(), &[("app/v1", b"older")]),
            &[&repo.tg_key],
        ),
    );
    repo.publish(3, 3);
    s.update_timestamp(&repo.timestamp, now()).unwrap();
    s.update_snapshot(&repo.snapshot, now()).unwrap();
    let err = s.update_targets(repo.file("targets"), now()).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::Rollback {
                version: 2,
                floor: 3,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn expired_timestamp_is_refused() {
    let repo = Repo::new();
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
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
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
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
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    s.update_timestamp(&repo.timestamp, now()).unwrap();
    s.update_snapshot(&repo.snapshot, now()).unwrap();
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
    repo.root = sign(
        &root_meta(
            1,
            past(),
            &[&repo.root_key],
            1,
            &repo.ts_key,
            &repo.sn_key,
            &repo.tg_key,
        ),
        &[&repo.root_key],
    );
    repo.publish(1, 1);
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
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
    repo.root = sign(
        &root_meta(
            1,
            far(),
            &[&repo.root_key],
            1,
            &repo.ts_key,
            &repo.sn_key,
            &repo.tg_key,
        ),
        &[&repo.root_key],
    );
    repo.publish(1, 1);
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    let err = s.update_timestamp(&repo.timestamp, now()).unwrap_err();
    assert!(
        matches!(err, TrustError::Verify(VerifyError::Threshold { .. })),
        "{err:?}"
    );
}

#[test]
fn root_with_bare_key_is_refused() {
    let mut repo = Repo::new();
    let bare = TestKey::ecdsa();
    repo.root = sign(
        &root_meta(
            1,
            far(),
            &[&bare],
            1,
            &repo.ts_key,
            &repo.sn_key,
            &repo.tg_key,
        ),
        &[&bare],
    );
    assert!(matches!(
        TrustedState::new(GUN, &repo.root, &Limits::default()),
        Err(TrustError::Verify(VerifyError::Threshold { .. }))
    ));
}

// ---------------------------------------------------------------- root rotation

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
        super::write::metadata_file(&meta, &[key.sign(&m), key.sign_under(&m, &renewed_id)])
            .unwrap();
    let err = TrustedState::new(GUN, &twice, &Limits::default()).unwrap_err();
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

fn rotated_root(repo: &Repo, version: u64, new_key: &TestKey, signers: &[&TestKey]) -> Vec<u8> {
    sign(
        &root_meta(
            version,
            far(),
            &[new_key],
            1,
            &repo.ts_key,
            &repo.sn_key,
            &repo.tg_key,
        ),
        signers,
    )
}

#[test]
fn root_rotation_signed_by_old_and_new_keys_is_accepted() {
    let repo = Repo::new();
    let new_key = TestKey::root_cert(GUN);
    let v2 = rotated_root(&repo, 2, &new_key, &[&repo.root_key, &new_key]);
    let newer_key = TestKey::root_cert(GUN);
    let v3 = rotated_root(&repo, 3, &newer_key, &[&new_key, &newer_key]);
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    s.update_root(&v2).unwrap();
    s.update_root(&v3).unwrap();
    assert_eq!(s.root().version.get(), 3);
    assert_eq!(s.floors().root, 3);
}

#[test]
fn root_rotation_signed_only_by_new_key_is_refused() {
    let repo = Repo::new();
    let new_key = TestKey::root_cert(GUN);
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    let err = s
        .update_root(&rotated_root(&repo, 2, &new_key, &[&new_key]))
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
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    assert!(matches!(
        s.update_root(&rotated_root(&repo, 2, &new_key, &[&repo.root_key])),
        Err(TrustError::Verify(VerifyError::Threshold { valid: 0, .. }))
    ));
}

#[test]
fn root_rotation_to_certificate_for_another_gun_is_refused() {
    let repo = Repo::new();
    let other = TestKey::root_cert("example.com/other/app");
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    assert!(matches!(
        s.update_root(&rotated_root(&repo, 2, &other, &[&repo.root_key, &other])),
        Err(TrustError::Verify(VerifyError::Threshold { valid: 0, .. }))
    ));
}

#[test]
fn root_version_skip_is_refused() {
    let repo = Repo::new();
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    let v3 = rotated_root(&repo, 3, &repo.root_key, &[&repo.root_key]);
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
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    s.update_root(&rotated_root(&repo, 2, &repo.root_key, &[&repo.root_key]))
        .unwrap();
    let err = s.update_root(&repo.root).unwrap_err();
    assert_eq!(err.failure(), Failure::Rollback);
}

#[test]
fn endless_root_chain_stops_at_the_cap() {
    let repo = Repo::new();
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    for version in 2..=(Limits::default().max_root_rotations as u64 + 1) {
        s.update_root(&rotated_root(
            &repo,
            version,
            &repo.root_key,
            &[&repo.root_key],
        ))
        .unwrap();
    }
    let next = rotated_root(
        &repo,
        Limits::default().max_root_rotations as u64 + 2,
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
    let v2 = sign(
        &root_meta(
            2,
            past(),
            &[&repo.root_key],
            1,
            &repo.ts_key,
            &repo.sn_key,
            &repo.tg_key,
        ),
        &[&repo.root_key],
    );
    let v3 = rotated_root(&repo, 3, &repo.root_key, &[&repo.root_key]);
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
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
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    s.update_timestamp(&evil, now()).unwrap();
    // The owner rotates the timestamp key; the server starts again at a low version.
    repo.ts_key = TestKey::ed25519();
    let v2 = sign(
        &root_meta(
            2,
            far(),
            &[&repo.root_key],
            1,
            &repo.ts_key,
            &repo.sn_key,
            &repo.tg_key,
        ),
        &[&repo.root_key],
    );
    s.update_root(&v2).unwrap();
    assert_eq!(s.floors().timestamp, 0);
    repo.root = v2;
    repo.publish(2, 2);
    s.update_timestamp(&repo.timestamp, now()).unwrap();
    // A cached file signed with the old key no longer raises the floor.
    assert!(!s.remember_cached(&RoleName::timestamp(), &evil));
}

// ---------------------------------------------------------------- delegations

/// A repo whose targets delegates as given; `files` are (role, targets, signer) to publish.
fn delegated_repo(top: Targets, files: Vec<(&str, Targets, &TestKey)>) -> Repo {
    let mut repo = Repo::new();
    repo.set("targets", sign(&top, &[&repo.tg_key]));
    for (name, meta, key) in files {
        repo.set(name, sign(&meta, &[key]));
    }
    repo.publish(2, 2);
    repo
}

fn load_all(repo: &Repo) -> TrustedState {
    let mut s = repo.state();
    while let Err(needed) = s.list_targets().unwrap() {
        s.update_targets_role(&needed, &repo.files[&needed], now())
            .unwrap();
    }
    s
}

#[test]
fn target_outside_generated_delegation_paths_is_ignored() {
    let k = TestKey::ecdsa();
    let mut top = targets_meta(2, far(), &[]);
    delegate(&mut top, "targets/qa", &["qa/"], &[&k], 1);
    let qa = targets_meta(1, far(), &[("qa/ok", b"ok"), ("prod/evil", b"evil")]);
    let s = load_all(&delegated_repo(top, vec![("targets/qa", qa, &k)]));
    assert_eq!(found_in(s.lookup("qa/ok").unwrap()), "targets/qa");
    assert_eq!(s.lookup("prod/evil").unwrap(), Lookup::NotFound);
    let names: Vec<String> = s
        .list_targets()
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["qa/ok"]);
}

#[test]
fn child_paths_are_kept_within_parent_paths() {
    let (ka, kb) = (TestKey::ecdsa(), TestKey::ecdsa());
    let mut top = targets_meta(2, far(), &[]);
    delegate(&mut top, "targets/a", &["a/"], &[&ka], 1);
    let mut a = targets_meta(1, far(), &[]);
    // The child claims everything; only `a/x` lies within its parent's `a/`.
    delegate(&mut a, "targets/a/b", &["", "a/x", "b/"], &[&kb], 1);
    let b = targets_meta(1, far(), &[("a/x1", b"1"), ("a/y", b"2"), ("b/z", b"3")]);
    let s = load_all(&delegated_repo(
        top,
        vec![("targets/a", a, &ka), ("targets/a/b", b, &kb)],
    ));
    assert_eq!(found_in(s.lookup("a/x1").unwrap()), "targets/a/b");
    assert_eq!(s.lookup("a/y").unwrap(), Lookup::NotFound);
    assert_eq!(s.lookup("b/z").unwrap(), Lookup::NotFound);
}

#[test]
fn delegation_order_decides_which_role_wins() {
    let (k1, k2) = (TestKey::ecdsa(), TestKey::ecdsa());
    let mut top = targets_meta(2, far(), &[("top", b"from targets")]);
    delegate(&mut top, "targets/one", &[""], &[&k1], 1);
    delegate(&mut top, "targets/two", &[""], &[&k2], 1);
    let one = targets_meta(1, far(), &[("shared", b"one"), ("top", b"shadow")]);
    let two = targets_meta(1, far(), &[("shared", b"two"), ("only-two", b"2")]);
    let s = load_all(&delegated_repo(
        top,
        vec![("targets/one", one, &k1), ("targets/two", two, &k2)],
    ));
    assert_eq!(found_in(s.lookup("shared").unwrap()), "targets/one");
    assert_eq!(found_in(s.lookup("top").unwrap()), "targets");
    assert_eq!(found_in(s.lookup("only-two").unwrap()), "targets/two");
    let Lookup::Found(t) = s.lookup("shared").unwrap() else {
        unreachable!()
    };
    assert_eq!(t.meta, super::metadata::FileMeta::of(b"one"));
}

#[test]
fn delegation_not_declared_by_its_parent_is_refused() {
    let k = TestKey::ecdsa();
    let top = targets_meta(2, far(), &[]);
    let ghost = targets_meta(1, far(), &[("x", b"x")]);
    let repo = delegated_repo(top, vec![("targets/ghost", ghost, &k)]);
    let mut s = repo.state();
    let err = s
        .update_targets_role(&role("targets/ghost"), repo.file("targets/ghost"), now())
        .unwrap_err();
    assert!(matches!(err, TrustError::NotDelegated { .. }), "{err:?}");
}

#[test]
fn delegation_to_a_grandchild_name_is_refused() {
    let k = TestKey::ecdsa();
    let mut top = targets_meta(2, far(), &[]);
    delegate(&mut top, "targets/a/b", &[""], &[&k], 1);
    let mut repo = Repo::new();
    repo.set("targets", sign(&top, &[&repo.tg_key]));
    repo.publish(2, 2);
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    s.update_timestamp(&repo.timestamp, now()).unwrap();
    s.update_snapshot(&repo.snapshot, now()).unwrap();
    assert!(matches!(
        s.update_targets(repo.file("targets"), now()),
        Err(TrustError::Delegation { .. })
    ));
}

#[test]
fn delegation_signed_by_parent_key_instead_of_delegated_key_is_refused() {
    let k = TestKey::ecdsa();
    let mut top = targets_meta(2, far(), &[]);
    delegate(&mut top, "targets/qa", &[""], &[&k], 1);
    let mut repo = Repo::new();
    let qa = sign(&targets_meta(1, far(), &[("x", b"x")]), &[&repo.tg_key]);
    repo.set("targets", sign(&top, &[&repo.tg_key]));
    repo.set("targets/qa", qa);
    repo.publish(2, 2);
    let mut s = repo.state();
    assert!(matches!(
        s.update_targets_role(&role("targets/qa"), repo.file("targets/qa"), now()),
        Err(TrustError::Verify(VerifyError::Threshold { valid: 0, .. }))
    ));
}

#[test]
fn wide_delegation_search_is_bounded() {
    let mut top = targets_meta(2, far(), &[]);
    let keys: Vec<TestKey> = (0..40).map(|_| TestKey::ed25519()).collect();
    let names: Vec<String> = (0..40).map(|i| format!("targets/d{i}")).collect();
    for (name, k) in names.iter().zip(&keys) {
        delegate(&mut top, name, &[""], &[k], 1);
    }
    let files = names
        .iter()
        .zip(&keys)
        .map(|(n, k)| (n.as_str(), targets_meta(1, far(), &[]), k))
        .collect();
    let repo = delegated_repo(top, files);
    let mut s = repo.state();
    // targets + 30 loaded roles + the one still needed = 32 visits: still answered.
    for n in &names[..30] {
        s.update_targets_role(&role(n), repo.file(n), now())
            .unwrap();
    }
    assert_eq!(
        s.lookup("missing").unwrap(),
        Lookup::NeedRole(role(&names[30]))
    );
    s.update_targets_role(&role(&names[30]), repo.file(&names[30]), now())
        .unwrap();
    assert!(matches!(
        s.lookup("missing"),
        Err(TrustError::TooManyDelegations { .. })
    ));
}

#[test]
fn reloading_a_parent_forgets_its_children() {
    let k = TestKey::ecdsa();
    let mut top = targets_meta(2, far(), &[]);
    delegate(&mut top, "targets/qa", &[""], &[&k], 1);
    let repo = delegated_repo(
        top,
        vec![("targets/qa", targets_meta(1, far(), &[("x", b"x")]), &k)],
    );
    let mut s = load_all(&repo);
    assert!(s.targets_role(&role("targets/qa")).is_some());
    s.update_targets(repo.file("targets"), now()).unwrap();
    assert!(s.targets_role(&role("targets/qa")).is_none());
}

// ---------------------------------------------------------------- workflow order

#[test]
fn snapshot_before_timestamp_is_a_caller_bug() {
    let repo = Repo::new();
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
    let err = s.update_snapshot(&repo.snapshot, now()).unwrap_err();
    assert!(matches!(err, TrustError::OutOfOrder { .. }));
    assert_eq!(err.failure(), Failure::Internal);
}

#[test]
fn snapshot_listing_a_newer_root_is_reported() {
    let mut repo = Repo::new();
    let v2 = sign(
        &root_meta(
            2,
            far(),
            &[&repo.root_key],
            1,
            &repo.ts_key,
            &repo.sn_key,
            &repo.tg_key,
        ),
        &[&repo.root_key],
    );
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
    let back: super::trusted::VersionFloors = serde_json::from_str(&json).unwrap();
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
    let mut s = TrustedState::new(GUN, &repo.root, &Limits::default()).unwrap();
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
