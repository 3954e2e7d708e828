//! The write side against the real notary-server: repositories and delegations manifesto
//! publishes are read by a fresh Go notary client, and racing writers lose nothing.

use std::path::Path;

use crate::go_notary::GoNotary;
use crate::harness::{StackKind, TestEnv, code, stack, stderr, stdout, unique_repo};
use crate::scene::{copy_dir, trust_copies};

/// `init` of a repository no image was pushed to (these tests are about the trust data).
fn init(env: &TestEnv, server: &str, gun: &str) {
    let out = env
        .signer_cmd()
        .args(["--server", server, "init", gun, "--allow-new-repository"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "init {gun}: {}", stderr(&out));
}

/// Generate a delegate key in `env` and return the public PEM path.
fn delegate_key(env: &TestEnv, role: &str) -> std::path::PathBuf {
    let public = env
        .home
        .path()
        .join(format!("{}.pem", role.replace('/', "-")));
    let out = env
        .signer_cmd()
        .args(["key", "generate", "--role", role, "--public-out"])
        .arg(&public)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "key generate: {}", stderr(&out));
    public
}

fn delegate_add(
    env: &TestEnv,
    server: &str,
    gun: &str,
    name: &str,
    key: &Path,
    types: &[&str],
) -> std::process::Output {
    let mut cmd = env.signer_cmd();
    cmd.args(["--server", server, "delegate", "add", gun, name, "--key"])
        .arg(key);
    for t in types {
        cmd.args(["--type", t]);
    }
    cmd.output().unwrap()
}

#[test]
fn a_repository_manifesto_initialises_is_read_by_a_fresh_go_client() {
    let s = stack(StackKind::Plain);
    let gun = format!("{}/{}", s.registry, unique_repo("init"));
    let env = TestEnv::new();
    init(&env, &s.notary_url, &gun);

    let go = GoNotary::new(s);
    assert!(
        go.list(&gun).is_empty(),
        "the Go client trusts the new repository and sees no targets"
    );
    let root = go.fetch_signed(&gun, "root");
    assert_eq!(root["version"], 1);
    assert_eq!(go.root_role_key_ids(&gun, "root").len(), 1);

    // Published bytes are what Go would write: the server's snapshot hashes match what it serves.
    let snapshot = go.fetch_signed(&gun, "snapshot");
    let targets_raw = go.fetch_raw(&gun, "targets");
    assert_eq!(
        snapshot["meta"]["targets"]["length"],
        targets_raw.len() as u64
    );

    let again = env
        .signer_cmd()
        .args([
            "--server",
            &s.notary_url,
            "init",
            &gun,
            "--allow-new-repository",
        ])
        .output()
        .unwrap();
    assert_eq!(
        code(&again),
        2,
        "an existing repository is reported: {}",
        stderr(&again)
    );
    assert!(stderr(&again).contains("already has trust data"));
    assert_eq!(go.fetch_signed(&gun, "root"), root, "and left alone");
}

#[test]
fn a_delegation_manifesto_adds_is_listed_by_the_go_client_and_its_delegate_can_publish() {
    let s = stack(StackKind::Plain);
    let gun = format!("{}/{}", s.registry, unique_repo("deleg-add"));
    let owner = TestEnv::new();
    init(&owner, &s.notary_url, &gun);

    // The delegate is a Go client holding its own key; manifesto adds its public key.
    let go = GoNotary::new(s);
    let qa = go.generate_delegate_key("targets/qa");
    let out = delegate_add(
        &owner,
        &s.notary_url,
        &gun,
        "qa",
        &qa.cert_or_pub_pem,
        &["approvals"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let listed = go.delegation_list(&gun);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].role, "targets/qa");
    assert_eq!(
        listed[0].paths,
        vec!["_manifesto/".to_string(), "approvals/".to_string()]
    );
    assert_eq!(listed[0].key_ids, vec![qa.key_id.clone()]);

    go.delegate_publish(
        &gun,
        &qa,
        "targets/qa",
        "approvals/sha256:2222",
        b"{\"status\":\"approved\"}",
    );
    let targets = go.list(&gun);
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].role, "targets/qa");

    // manifesto reads the delegate's publish too, and lists the delegation.
    let out = owner
        .cmd()
        .args([
            "--server",
            &s.notary_url,
            "-o",
            "json",
            "delegate",
            "list",
            &gun,
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["items"][0]["types"], serde_json::json!(["approvals"]));

    // Adding the same delegation again publishes nothing.
    let again = delegate_add(
        &owner,
        &s.notary_url,
        &gun,
        "qa",
        &qa.cert_or_pub_pem,
        &["approvals"],
    );
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(
        stdout(&again).contains("nothing to publish"),
        "{}",
        stdout(&again)
    );

    let out = owner
        .signer_cmd()
        .args(["--server", &s.notary_url, "delegate", "remove", &gun, "qa"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(go.delegation_list(&gun).is_empty());
    let out = owner
        .signer_cmd()
        .args(["--server", &s.notary_url, "delegate", "remove", &gun, "qa"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 9, "{}", stderr(&out));
}

#[test]
fn twenty_racing_writers_all_land_with_strictly_increasing_versions() {
    let s = stack(StackKind::Plain);
    let gun = format!("{}/{}", s.registry, unique_repo("race"));
    let owner = TestEnv::new();
    init(&owner, &s.notary_url, &gun);
    let key = delegate_key(&owner, "targets/writers");

    // Twenty processes, each with its own copy of the owner's trust dir (so no local lock
    // serialises them): they race at the server and must retry on the new state.
    let writers = trust_copies(&owner, 20);
    let go = GoNotary::new(s);
    let before = go.served_version(&gun, "targets");
    let barrier = std::sync::Barrier::new(writers.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = writers
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let (barrier, key, gun, server) = (&barrier, &key, &gun, &s.notary_url);
                scope.spawn(move || {
                    let mut cmd = w.signer_cmd();
                    cmd.args([
                        "--server",
                        server,
                        "delegate",
                        "add",
                        gun,
                        &format!("w{i}"),
                        "--key",
                    ])
                    .arg(key)
                    .args(["--type", &format!("type{i}")]);
                    barrier.wait();
                    cmd.output().unwrap()
                })
            })
            .collect();
        for h in handles {
            let out = h.join().unwrap();
            assert_eq!(code(&out), 0, "a writer failed: {}", stderr(&out));
        }
    });
    let listed = go.delegation_list(&gun);
    let mut roles: Vec<String> = listed.iter().map(|d| d.role.clone()).collect();
    roles.sort();
    let mut expected: Vec<String> = (0..20).map(|i| format!("targets/w{i}")).collect();
    expected.sort();
    assert_eq!(roles, expected, "every writer's change is present");
    assert_eq!(
        go.served_version(&gun, "targets"),
        before + 20,
        "one version per change, none reused"
    );
}

#[test]
fn a_threshold_2_delegation_gets_two_signatures_collected_before_one_publish() {
    let s = stack(StackKind::Plain);
    let repo = unique_repo("threshold");
    s.push_image(&repo, "v1");
    let gun = format!("{}/{repo}", s.registry);
    let image = format!("{gun}:v1");
    let owner = TestEnv::new();
    init(&owner, &s.notary_url, &gun);

    // The delegate's store holds both keys of a 2-of-2 delegation.
    let delegate = TestEnv::new();
    let a = delegate_key(&delegate, "targets/qa");
    let b_pem = delegate.home.path().join("b.pem");
    let out = delegate
        .signer_cmd()
        .args(["key", "generate", "--role", "targets/qa", "--public-out"])
        .arg(&b_pem)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = owner
        .signer_cmd()
        .args([
            "--server",
            &s.notary_url,
            "delegate",
            "add",
            &gun,
            "qa",
            "--key",
        ])
        .arg(&a)
        .arg("--key")
        .arg(&b_pem)
        .args(["--type", "approvals", "--threshold", "2"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // A signer holding only one of the two keys is refused before anything is uploaded.
    let half = TestEnv::new();
    copy_dir(&delegate.trust_dir(), &half.trust_dir());
    let out = delegate
        .cmd()
        .args(["-o", "json", "key", "list"])
        .output()
        .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
    let second = listed["items"][1]["key_id"].as_str().unwrap();
    std::fs::remove_file(
        half.trust_dir()
            .join("private")
            .join(format!("{second}.key")),
    )
    .unwrap();
    let out = half
        .signer_cmd()
        .args([
            "--server",
            &s.notary_url,
            "put",
            &image,
            "approvals",
            "--role",
            "qa",
            "-",
        ])
        .write_stdin("{\"status\":\"approved\"}")
        .output()
        .unwrap();
    assert_eq!(code(&out), 8, "one key of a 2-of-2 role: {}", stderr(&out));
    assert!(stderr(&out).contains("threshold 2"), "{}", stderr(&out));

    let out = delegate
        .signer_cmd()
        .args([
            "--server",
            &s.notary_url,
            "put",
            &image,
            "approvals",
            "--role",
            "qa",
            "-",
        ])
        .write_stdin("{\"status\":\"approved\"}")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let go = GoNotary::new(s);
    let file: serde_json::Value =
        serde_json::from_slice(&go.fetch_raw(&gun, "targets/qa")).unwrap();
    assert_eq!(
        file["signatures"].as_array().unwrap().len(),
        2,
        "two signatures on one file"
    );
    let listed = go.list(&gun);
    assert!(
        listed
            .iter()
            .any(|t| t.name.starts_with("approvals/") && t.role == "targets/qa"),
        "the Go client accepts the 2-of-2 role: {listed:?}"
    );
    let out = owner
        .cmd()
        .args([
            "--server",
            &s.notary_url,
            "get",
            &image,
            "approvals",
            "--signed-by",
            "qa",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
