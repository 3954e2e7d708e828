//! Stale delegations: a role left behind by a key or delegation change (retired key, removed
//! delegation, expired file) is skipped — its targets absent, every other role working — while
//! everything that looks like tampering (bytes unlike the snapshot, forged or double-counted
//! signatures, a malformed file, a rollback, the top-level targets) stays a hard failure.

use super::*;
use crate::tuf::trusted::{RoleLoad, SkipReason};

/// Looks `name` up the way the updater does: every role the walk needs is loaded or skipped.
fn lookup(s: &mut TrustedState, repo: &Repo, name: &str) -> Result<Lookup, TrustError> {
    loop {
        match s.lookup(name)? {
            Lookup::NeedRole(r) => {
                s.load_or_skip_role(&r, &repo.files[&r], now())?;
            }
            done => return Ok(done),
        }
    }
}

/// `targets` delegates `qa/` to `targets/qa` (keys `qa_keys`, threshold) and `dev/` to
/// `targets/dev` (key `dev`), which publishes `dev/x`; `targets` itself signs `app/v1`. `qa` is the file offered for
/// `targets/qa`.
fn repo_with_qa(qa_keys: &[&TestKey], threshold: u32, dev: &TestKey, qa: Vec<u8>) -> Repo {
    let mut top = targets_meta(2, far(), &[("app/v1", b"hello")]);
    delegate(&mut top, "targets/qa", &["qa/"], qa_keys, threshold);
    delegate(&mut top, "targets/dev", &["dev/"], &[dev], 1);
    let mut repo = Repo::new();
    repo.set("targets", sign(&top, &[&repo.tg_key]));
    repo.set("targets/qa", qa);
    repo.set(
        "targets/dev",
        sign(&targets_meta(1, far(), &[("dev/x", b"x")]), &[dev]),
    );
    repo.publish(2, 2);
    repo
}

fn qa_file(version: u64, signers: &[&TestKey]) -> Vec<u8> {
    sign(&targets_meta(version, far(), &[("qa/x", b"x")]), signers)
}

#[test]
fn a_delegation_signed_only_by_its_retired_key_is_skipped_and_the_other_roles_keep_working() {
    let (old, new, dev) = (TestKey::ecdsa(), TestKey::ecdsa(), TestKey::ecdsa());
    let repo = repo_with_qa(&[&new], 1, &dev, qa_file(3, &[&old]));
    let mut s = repo.state();
    assert_eq!(lookup(&mut s, &repo, "qa/x").unwrap(), Lookup::NotFound);
    assert_eq!(
        found_in(lookup(&mut s, &repo, "dev/x").unwrap()),
        "targets/dev"
    );
    assert_eq!(
        found_in(lookup(&mut s, &repo, "app/v1").unwrap()),
        "targets"
    );
    let skipped: Vec<_> = s.skipped_roles().cloned().collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].role, role("targets/qa"));
    assert_eq!(
        skipped[0].reason,
        SkipReason::RetiredKeys {
            valid: 0,
            threshold: 1,
            unlisted: 1
        }
    );
    // Nothing of a file signed by retired keys is kept for re-signing.
    assert!(s.renewable(&role("targets/qa")).is_none());
    // The next file must be above the version the stale one claims.
    assert_eq!(s.version_in_use(&role("targets/qa")), 3);
    assert_eq!(s.skipped_for("qa/x").len(), 1);
    assert!(s.skipped_for("dev/x").is_empty());
    // Its floor is not raised by a file that did not verify.
    assert!(!s.floors().targets.contains_key("targets/qa"));
    // A full listing works too, without the stale role's targets.
    let listed = loop {
        match s.list_targets().unwrap() {
            Ok(all) => break all,
            Err(r) => {
                s.load_or_skip_role(&r, &repo.files[&r], now()).unwrap();
            }
        }
    };
    let names: Vec<_> = listed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["app/v1", "dev/x"]);
}

#[test]
fn a_threshold_2_delegation_with_one_key_revoked_is_skipped_not_half_trusted() {
    let (kept, revoked, added, dev) = (
        TestKey::ecdsa(),
        TestKey::ecdsa(),
        TestKey::ecdsa(),
        TestKey::ecdsa(),
    );
    // The delegation now lists `kept` and `added`; the file was signed by `kept` and `revoked`.
    let repo = repo_with_qa(&[&kept, &added], 2, &dev, qa_file(1, &[&kept, &revoked]));
    let mut s = repo.state();
    assert_eq!(lookup(&mut s, &repo, "qa/x").unwrap(), Lookup::NotFound);
    assert_eq!(
        s.skipped(&role("targets/qa")).unwrap().reason,
        SkipReason::RetiredKeys {
            valid: 1,
            threshold: 2,
            unlisted: 1
        }
    );
}

#[test]
fn an_expired_delegation_is_skipped_with_its_expiry() {
    let (qa, dev) = (TestKey::ecdsa(), TestKey::ecdsa());
    let expired = sign(&targets_meta(1, past(), &[("qa/x", b"x")]), &[&qa]);
    let repo = repo_with_qa(&[&qa], 1, &dev, expired);
    let mut s = repo.state();
    assert_eq!(lookup(&mut s, &repo, "qa/x").unwrap(), Lookup::NotFound);
    assert_eq!(
        found_in(lookup(&mut s, &repo, "dev/x").unwrap()),
        "targets/dev"
    );
    assert!(matches!(
        s.skipped(&role("targets/qa")).unwrap().reason,
        SkipReason::Expired { .. }
    ));
    // Its signers may renew it: the content is kept for re-signing, never for lookups.
    let renewable = s.renewable(&role("targets/qa")).unwrap();
    assert!(renewable.targets.contains_key("qa/x"));
    assert!(s.skipped_for("qa/x").len() == 1);
}

#[test]
fn a_removed_delegation_whose_file_the_server_still_lists_is_skipped_when_asked_for() {
    let (qa, dev) = (TestKey::ecdsa(), TestKey::ecdsa());
    let mut repo = repo_with_qa(&[&qa], 1, &dev, qa_file(1, &[&qa]));
    // The owner removes targets/qa; the server keeps listing its old file.
    let mut top = targets_meta(3, far(), &[]);
    delegate(&mut top, "targets/dev", &["dev/"], &[&dev], 1);
    repo.set("targets", sign(&top, &[&repo.tg_key]));
    repo.publish(3, 3);
    let mut s = repo.state();
    let load = s
        .load_or_skip_role(&role("targets/qa"), repo.file("targets/qa"), now())
        .unwrap();
    assert!(
        matches!(&load, RoleLoad::Skipped(r) if r.reason == SkipReason::NotDelegated),
        "{load:?}"
    );
    assert_eq!(
        found_in(lookup(&mut s, &repo, "dev/x").unwrap()),
        "targets/dev"
    );
}

#[test]
fn a_skipped_role_takes_its_subtree_with_it() {
    let (old, new, child, dev) = (
        TestKey::ecdsa(),
        TestKey::ecdsa(),
        TestKey::ecdsa(),
        TestKey::ecdsa(),
    );
    let mut qa = targets_meta(1, far(), &[]);
    delegate(&mut qa, "targets/qa/nightly", &["qa/"], &[&child], 1);
    let mut repo = repo_with_qa(&[&new], 1, &dev, sign(&qa, &[&old]));
    repo.set(
        "targets/qa/nightly",
        sign(&targets_meta(1, far(), &[("qa/n", b"n")]), &[&child]),
    );
    repo.publish(3, 3);
    let mut s = repo.state();
    assert_eq!(lookup(&mut s, &repo, "qa/n").unwrap(), Lookup::NotFound);
    assert!(s.targets_role(&role("targets/qa/nightly")).is_none());
}

#[test]
fn a_new_snapshot_with_the_role_re_signed_by_its_new_key_checks_it_again() {
    let (old, new, dev) = (TestKey::ecdsa(), TestKey::ecdsa(), TestKey::ecdsa());
    let mut repo = repo_with_qa(&[&new], 1, &dev, qa_file(3, &[&old]));
    let mut s = repo.state();
    assert_eq!(lookup(&mut s, &repo, "qa/x").unwrap(), Lookup::NotFound);
    repo.set("targets/qa", qa_file(4, &[&new]));
    repo.publish(3, 3);
    s.update_timestamp(&repo.timestamp, now()).unwrap();
    s.update_snapshot(&repo.snapshot, now()).unwrap();
    s.update_targets(repo.file("targets"), now()).unwrap();
    assert_eq!(
        found_in(lookup(&mut s, &repo, "qa/x").unwrap()),
        "targets/qa"
    );
    assert!(s.skipped_roles().next().is_none());
    assert_eq!(s.floors().targets["targets/qa"], 4);
}

// --- what stays a hard failure ---

#[test]
fn a_delegation_whose_bytes_differ_from_the_snapshot_is_still_refused() {
    let (old, new, dev) = (TestKey::ecdsa(), TestKey::ecdsa(), TestKey::ecdsa());
    let repo = repo_with_qa(&[&new], 1, &dev, qa_file(1, &[&old]));
    let mut s = repo.state();
    let other = qa_file(2, &[&old]);
    let err = s
        .load_or_skip_role(&role("targets/qa"), &other, now())
        .unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::LengthMismatch { .. } | TrustError::HashMismatch { .. }
        ),
        "{err:?}"
    );
    assert_eq!(err.failure(), Failure::Untrusted);
}

#[test]
fn a_forged_signature_under_a_listed_key_is_still_refused() {
    let (qa, dev) = (TestKey::ecdsa(), TestKey::ecdsa());
    let meta = targets_meta(1, far(), &[("qa/x", b"x")]);
    let other = targets_meta(1, far(), &[("qa/x", b"evil")]);
    let forged = crate::tuf::write::metadata_file(&meta, &[qa.sign(&message(&other))]).unwrap();
    let repo = repo_with_qa(&[&qa], 1, &dev, forged);
    let mut s = repo.state();
    let err = lookup(&mut s, &repo, "qa/x").unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::Verify(VerifyError::Threshold { valid: 0, .. })
        ),
        "{err:?}"
    );
    assert!(s.skipped_roles().next().is_none());
}

#[test]
fn a_forged_signature_beside_a_retired_one_is_still_refused() {
    let (old, qa, dev) = (TestKey::ecdsa(), TestKey::ecdsa(), TestKey::ecdsa());
    let meta = targets_meta(1, far(), &[("qa/x", b"x")]);
    let other = targets_meta(1, far(), &[("qa/x", b"evil")]);
    let m = message(&meta);
    let file = crate::tuf::write::metadata_file(&meta, &[old.sign(&m), qa.sign(&message(&other))])
        .unwrap();
    let repo = repo_with_qa(&[&qa], 1, &dev, file);
    let mut s = repo.state();
    assert!(lookup(&mut s, &repo, "qa/x").is_err());
}

#[test]
fn one_key_counted_twice_for_a_threshold_of_2_is_still_refused() {
    let (key, dev) = (TestKey::ecdsa(), TestKey::ecdsa());
    let (cert_id, cert) = key.certificate_twin(GUN);
    let meta = targets_meta(1, far(), &[("qa/x", b"x")]);
    let m = message(&meta);
    let file =
        crate::tuf::write::metadata_file(&meta, &[key.sign(&m), key.sign_under(&m, &cert_id)])
            .unwrap();
    let mut repo = repo_with_qa(&[&key], 2, &dev, file);
    let mut top = targets_meta(3, far(), &[]);
    delegate(&mut top, "targets/qa", &["qa/"], &[&key], 2);
    top.delegations.keys.insert(cert_id.clone(), cert);
    top.delegations.roles[0].keyids.push(cert_id);
    delegate(&mut top, "targets/dev", &["dev/"], &[&dev], 1);
    repo.set("targets", sign(&top, &[&repo.tg_key]));
    repo.publish(3, 3);
    let mut s = repo.state();
    let err = lookup(&mut s, &repo, "qa/x").unwrap_err();
    assert_one_of_two_signers(&err);
}

#[test]
fn an_unsigned_delegation_file_is_still_refused() {
    let (qa, dev) = (TestKey::ecdsa(), TestKey::ecdsa());
    let meta = targets_meta(1, far(), &[("qa/x", b"x")]);
    let repo = repo_with_qa(
        &[&qa],
        1,
        &dev,
        crate::tuf::write::metadata_file(&meta, &[]).unwrap(),
    );
    let mut s = repo.state();
    assert!(lookup(&mut s, &repo, "qa/x").is_err());
}

#[test]
fn a_malformed_delegation_file_is_still_refused() {
    let (qa, dev) = (TestKey::ecdsa(), TestKey::ecdsa());
    let repo = repo_with_qa(
        &[&qa],
        1,
        &dev,
        b"{\"signed\":{},\"signatures\":[]}".to_vec(),
    );
    let mut s = repo.state();
    let err = lookup(&mut s, &repo, "qa/x").unwrap_err();
    assert_eq!(err.failure(), Failure::Untrusted, "{err:?}");
}

#[test]
fn a_rolled_back_delegation_signed_by_a_retired_key_is_still_a_rollback() {
    let (qa, dev) = (TestKey::ecdsa(), TestKey::ecdsa());
    let mut repo = repo_with_qa(&[&qa], 1, &dev, qa_file(5, &[&qa]));
    let mut first = repo.state();
    lookup(&mut first, &repo, "qa/x").unwrap();
    let floors = first.floors().clone();
    // The server now serves an older, validly signed qa file.
    repo.set("targets/qa", qa_file(4, &[&qa]));
    repo.publish(3, 3);
    let mut s = trusting_root(&repo).with_floors(&floors);
    s.update_timestamp(&repo.timestamp, now()).unwrap();
    s.update_snapshot(&repo.snapshot, now()).unwrap();
    s.update_targets(repo.file("targets"), now()).unwrap();
    let err = lookup(&mut s, &repo, "qa/x").unwrap_err();
    assert!(matches!(err, TrustError::Rollback { .. }), "{err:?}");
    assert_eq!(err.failure(), Failure::Rollback);
}

#[test]
fn the_top_level_targets_signed_by_a_retired_key_is_never_skipped() {
    let mut repo = Repo::new();
    let retired = TestKey::ecdsa();
    repo.set("targets", sign(&targets_meta(2, far(), &[]), &[&retired]));
    repo.publish(2, 2);
    let mut s = up_to_snapshot(&repo);
    let err = s
        .load_or_skip_role(&RoleName::targets(), repo.file("targets"), now())
        .unwrap_err();
    assert!(
        matches!(err, TrustError::Verify(VerifyError::Threshold { .. })),
        "{err:?}"
    );
}

#[test]
fn an_expired_top_level_targets_is_never_skipped() {
    let mut repo = Repo::new();
    repo.set(
        "targets",
        sign(&targets_meta(2, past(), &[]), &[&repo.tg_key]),
    );
    repo.publish(2, 2);
    let mut s = up_to_snapshot(&repo);
    let err = s
        .load_or_skip_role(&RoleName::targets(), repo.file("targets"), now())
        .unwrap_err();
    assert_eq!(err.failure(), Failure::Stale, "{err:?}");
}
