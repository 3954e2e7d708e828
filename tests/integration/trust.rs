//! `trust inspect` and the TUF update client against the real notary-server, with repositories
//! written by the Go notary client.

use crate::go_notary::GoNotary;
use crate::harness::{Stack, StackKind, TestEnv, code, stack, stderr, stdout, unique_repo};

fn inspect_json(env: &TestEnv, server: &str, gun: &str) -> serde_json::Value {
    let out = env
        .cmd()
        .args(["--server", server, "-o", "json", "trust", "inspect", gun])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "trust inspect {gun}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

#[test]
fn trust_inspect_of_an_uninitialised_repository_is_not_found() {
    let s = stack(StackKind::Plain);
    let gun = format!("{}/{}", s.registry, unique_repo("uninit"));
    let out = TestEnv::new()
        .cmd()
        .args(["--server", &s.notary_url, "trust", "inspect", &gun])
        .output()
        .unwrap();
    assert_eq!(code(&out), 9, "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    assert!(
        stderr(&out).contains("manifesto init"),
        "says what to do next: {}",
        stderr(&out)
    );
}

#[test]
fn trust_inspect_agrees_with_the_go_client_on_targets_and_roles() {
    let s = stack(StackKind::Plain);
    let gun = format!("{}/{}", s.registry, unique_repo("go-targets"));
    let go = GoNotary::new(s);
    go.init_with_targets(
        &gun,
        &[
            ("v1", b"hello".as_slice()),
            ("approvals/sha256:abc", b"{\"ok\":true}"),
        ],
    );
    let listed = go.list(&gun);
    let env = TestEnv::new();
    let report = inspect_json(&env, &s.notary_url, &gun);
    let ours: Vec<(String, String, u64, String)> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["sha256"].as_str().unwrap().to_string(),
                t["size"].as_u64().unwrap(),
                t["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut theirs: Vec<(String, String, u64, String)> = listed
        .iter()
        .map(|t| (t.name.clone(), t.sha256_hex.clone(), t.size, t.role.clone()))
        .collect();
    theirs.sort();
    assert_eq!(
        ours, theirs,
        "manifesto and notary list see the same targets"
    );
    let roles: Vec<&str> = report["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["root", "targets", "snapshot", "timestamp"]);
    assert_eq!(report["roles"][0]["keys"][0]["key_type"], "ecdsa-x509");
    assert_ne!(
        report["roles"][0]["keys"][0]["key_id"], report["roles"][0]["keys"][0]["public_key_id"],
        "a root certificate has a certificate id and a public-key id"
    );
    // A second run works from the warm cache.
    let again = inspect_json(&env, &s.notary_url, &gun);
    assert_eq!(again["targets"], report["targets"]);
}

/// `(name, sha256, length, role)` of every target manifesto reports, sorted.
fn our_targets(report: &serde_json::Value) -> Vec<(String, String, u64, String)> {
    let mut v: Vec<_> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["sha256"].as_str().unwrap().to_string(),
                t["size"].as_u64().unwrap(),
                t["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn go_targets(go: &GoNotary, gun: &str) -> Vec<(String, String, u64, String)> {
    let mut v: Vec<_> = go
        .list(gun)
        .into_iter()
        .map(|t| (t.name, t.sha256_hex, t.size, t.role))
        .collect();
    v.sort();
    v
}

#[test]
fn a_delegate_counts_only_inside_its_paths_as_the_go_client_agrees() {
    let s = stack(StackKind::Plain);
    let gun = format!("{}/{}", s.registry, unique_repo("go-deleg"));
    let go = GoNotary::new(s);
    go.init_with_targets(&gun, &[("v1", b"image".as_slice())]);
    go.rotate_snapshot_to_server(&gun);
    let qa = go.generate_delegate_key("targets/qa");
    go.add_delegation(&gun, "targets/qa", &qa, &["approvals/", "scan/"]);
    go.delegate_publish(
        &gun,
        &qa,
        "targets/qa",
        "approvals/sha256:1111",
        b"{\"status\":\"approved\"}",
    );
    go.delegate_publish(
        &gun,
        &qa,
        "targets/qa",
        "scan/sha256:1111",
        b"{\"critical\":0}",
    );
    // The owner takes `scan/` away. The delegate's signed file still holds the scan target;
    // the server does not enforce paths, so readers must ignore it.
    go.ok(&[
        "delegation",
        "remove",
        "-p",
        &gun,
        "targets/qa",
        "--paths",
        "scan/",
        "-y",
    ]);
    assert!(
        go.fetch_signed(&gun, "targets/qa")["targets"]
            .get("scan/sha256:1111")
            .is_some(),
        "the delegate's file still signs the scan target"
    );

    let report = inspect_json(&TestEnv::new(), &s.notary_url, &gun);
    let ours = our_targets(&report);
    assert_eq!(
        ours,
        go_targets(&go, &gun),
        "manifesto and notary list agree"
    );
    assert!(
        ours.iter()
            .any(|t| t.0 == "approvals/sha256:1111" && t.3 == "targets/qa")
    );
    assert!(
        !ours.iter().any(|t| t.0.starts_with("scan/")),
        "a target outside the delegation's paths is ignored"
    );

    let deleg = &report["delegations"][0];
    assert_eq!(deleg["role"], "targets/qa");
    assert_eq!(deleg["paths"], serde_json::json!(["approvals/"]));
    let go_deleg = go.delegation_list(&gun);
    assert_eq!(go_deleg.len(), 1);
    assert_eq!(deleg["keys"][0]["key_id"], go_deleg[0].key_ids[0]);
    assert_eq!(deleg["threshold"], go_deleg[0].threshold);
    assert_eq!(
        report["roles"][2]["keys"][0]["key_type"], "ed25519",
        "the snapshot key is the server's now"
    );
}

#[test]
fn key_rotations_by_the_go_client_are_followed_from_a_warm_cache() {
    let (s, gun, go, env, before) = go_repository_inspected("go-rotate");
    let old_root_key = before["roles"][0]["keys"][0]["key_id"].clone();

    go.rotate_snapshot_to_server(&gun);
    go.rotate_targets_key(&gun);
    go.add_target(&gun, "v2", b"two");
    let mid = inspect_json(&env, &s.notary_url, &gun);
    assert_eq!(
        our_targets(&mid),
        go_targets(&go, &gun),
        "no target lost by the targets key rotation"
    );

    go.rotate_root_key(&gun);
    go.rotate_root_key(&gun);
    go.add_target(&gun, "v3", b"three");
    let after = inspect_json(&env, &s.notary_url, &gun);
    assert_eq!(our_targets(&after), go_targets(&go, &gun));
    assert_ne!(
        after["roles"][0]["keys"][0]["key_id"], old_root_key,
        "the root key changed twice"
    );
    assert!(
        after["roles"][0]["version"].as_u64().unwrap()
            >= before["roles"][0]["version"].as_u64().unwrap() + 4,
        "root followed through every rotation: {} -> {}",
        before["roles"][0]["version"],
        after["roles"][0]["version"]
    );
    // A fresh client (trust on first use of the newest root) sees the same.
    assert_eq!(
        our_targets(&inspect_json(&TestEnv::new(), &s.notary_url, &gun)),
        our_targets(&after)
    );
}

/// Go's file writer spells `<`, `>` and `&` as `\u003c`, `\u003e` and `\u0026`, so such a
/// targets file is not its own canonical form: it is verified over its re-encoding (the full
/// path), while files without them are verified over their own text. Both must agree with Go.
#[test]
fn a_go_written_target_name_with_html_characters_verifies_and_lists_as_the_go_client_lists_it() {
    let (s, gun, go, env, before) = go_repository_inspected("go-html");
    assert_eq!(our_targets(&before), go_targets(&go, &gun));

    go.add_target(&gun, "release<2>&more", b"two");
    let raw = String::from_utf8(go.fetch_raw(&gun, "targets")).unwrap();
    assert!(
        raw.contains("release\\u003c2\\u003e\\u0026more"),
        "the Go client escaped the name: {raw}"
    );
    let after = inspect_json(&env, &s.notary_url, &gun);
    let ours = our_targets(&after);
    assert_eq!(ours, go_targets(&go, &gun));
    assert!(ours.iter().any(|t| t.0 == "release<2>&more"), "{ours:?}");
    // Warm, from the cached file, the same.
    let again = inspect_json(&env, &s.notary_url, &gun);
    assert_eq!(our_targets(&again), ours);
}

/// A repository the Go client initialised with one target `v1`, and manifesto's first
/// `trust inspect -o json` of it.
fn go_repository_inspected(
    label: &str,
) -> (&'static Stack, String, GoNotary, TestEnv, serde_json::Value) {
    let s = stack(StackKind::Plain);
    let gun = format!("{}/{}", s.registry, unique_repo(label));
    let go = GoNotary::new(s);
    go.init_with_targets(&gun, &[("v1", b"one".as_slice())]);
    let env = TestEnv::new();
    let before = inspect_json(&env, &s.notary_url, &gun);
    (s, gun, go, env, before)
}
