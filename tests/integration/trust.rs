//! `trust inspect` and the TUF update client against the real notary-server, with repositories
//! written by the Go notary client.

use crate::go_notary::GoNotary;
use crate::harness::{StackKind, TestEnv, code, stack, stderr, stdout, unique_repo};

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
                t["length"].as_u64().unwrap(),
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
    assert_eq!(report["roles"][0]["keys"][0]["type"], "ecdsa-x509");
    assert_ne!(
        report["roles"][0]["keys"][0]["id"], report["roles"][0]["keys"][0]["public_key_id"],
        "a root certificate has a certificate id and a public-key id"
    );
    // A second run works from the warm cache.
    let again = inspect_json(&env, &s.notary_url, &gun);
    assert_eq!(again["targets"], report["targets"]);
}
