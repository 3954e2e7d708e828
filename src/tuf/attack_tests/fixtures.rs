//! Repositories served by a real notary-server 0.7.0 (fixtures/notary), replayed: the whole chain verifies, delegations of every key type resolve, and mixed, replayed or foreign files are refused.

use super::*;

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
