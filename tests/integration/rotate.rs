//! `manifesto key rotate` against the real notary-server: after each rotation a fresh Go client,
//! Go and manifesto clients whose caches predate the rotation, and the owner's own warm cache all
//! read the repository, and see exactly the targets and delegations they saw before.

use std::process::Output;

use chrono::{Datelike, Utc};

use crate::go_notary::{DelegateKey, GoNotary, ListedDelegation, ListedTarget};
use crate::harness::{Stack, StackKind, TestEnv, code, ok, stack, stderr, stdout};
use crate::scene::{Published, copy_dir};

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
}

const APPROVAL: &str = "{\"status\":\"approved\"}";
const SCAN_NAME: &str = "scan/sha256:1111";
const SCAN: &[u8] = b"{\"critical\":0}";

/// A repository with something in every place a rotation could lose it, and readers that
/// trusted it before the rotation.
struct Fixture {
    s: &'static Stack,
    gun: String,
    image: String,
    owner: TestEnv,
    /// A manifesto client that read the repository before the rotation.
    reader: TestEnv,
    /// A Go client that listed the repository before the rotation.
    go_reader: GoNotary,
    /// The Go delegate of `targets/qa` (keeps its key alive).
    _qa: DelegateKey,
    targets_before: Vec<ListedTarget>,
    delegations_before: Vec<ListedDelegation>,
}

fn sorted(mut v: Vec<ListedTarget>) -> Vec<ListedTarget> {
    v.sort_by(|a, b| (&a.name, &a.role).cmp(&(&b.name, &b.role)));
    v
}

impl Fixture {
    /// `manifesto init`; a target in top-level targets (`put`); `targets/qa` held by a Go
    /// delegate who published into it; `targets/ci` with a key from `manifesto key generate`.
    fn new(label: &str) -> Fixture {
        // The readers come later, once every role holds something.
        let Published {
            stack: s,
            owner,
            gun,
            image,
            ..
        } = Published::unread(label);
        let go = GoNotary::new(s);
        let qa = go.generate_delegate_key("targets/qa");
        ok(
            owner
                .signer_cmd()
                .args(["--server", &s.notary_url, "delegate", "add", &gun, "qa"])
                .arg("--key")
                .arg(&qa.cert_or_pub_pem)
                .args(["--type", "scan"])
                .output()
                .unwrap(),
            "delegate add qa",
        );
        go.delegate_publish(&gun, &qa, "targets/qa", SCAN_NAME, SCAN);
        let ci_pem = owner.home.path().join("ci.pem");
        ok(
            owner
                .signer_cmd()
                .args(["key", "generate", "--role", "targets/ci", "--public-out"])
                .arg(&ci_pem)
                .output()
                .unwrap(),
            "key generate",
        );
        ok(
            owner
                .signer_cmd()
                .args(["--server", &s.notary_url, "delegate", "add", &gun, "ci"])
                .arg("--key")
                .arg(&ci_pem)
                .args(["--type", "approvals"])
                .output()
                .unwrap(),
            "delegate add ci",
        );

        let reader = TestEnv::new();
        let seen = inspect(&reader, s, &gun);
        let go_reader = GoNotary::new(s);
        let targets_before = sorted(go_reader.list(&gun));
        assert_eq!(
            seen["targets"].as_array().unwrap().len(),
            targets_before.len(),
            "{seen}"
        );
        assert!(targets_before.iter().any(|t| t.role == "targets"));
        assert!(targets_before.iter().any(|t| t.role == "targets/qa"));
        let delegations_before = GoNotary::new(s).delegation_list(&gun);
        assert_eq!(delegations_before.len(), 2, "{delegations_before:?}");
        Fixture {
            s,
            gun,
            image,
            owner,
            reader,
            go_reader,
            _qa: qa,
            targets_before,
            delegations_before,
        }
    }

    /// `manifesto -o json key rotate GUN ROLE EXTRA…` as the owner.
    fn rotate(&self, role: &str, extra: &[&str]) -> serde_json::Value {
        let out = ok(
            self.owner
                .signer_cmd()
                .args([
                    "--server",
                    &self.s.notary_url,
                    "-o",
                    "json",
                    "key",
                    "rotate",
                ])
                .args([&self.gun, role])
                .args(extra)
                .output()
                .unwrap(),
            &format!("key rotate {role}"),
        );
        let report = json(&out);
        assert_eq!(report["role"], role);
        assert_eq!(report["published"], true);
        report
    }

    fn go(&self) -> GoNotary {
        GoNotary::new(self.s)
    }

    fn served_root_version(&self) -> u64 {
        self.go().served_version(&self.gun, "root")
    }

    /// Everyone reads the repository after a rotation that made `role` list `new_key`, and sees
    /// what they saw before.
    fn assert_everyone_follows(&self, role: &str, new_key: &str) {
        let fresh = self.go();
        assert_eq!(
            fresh.root_role_key_ids(&self.gun, role),
            vec![new_key.to_string()],
            "the served root lists the new {role} key"
        );
        assert_eq!(
            sorted(fresh.list(&self.gun)),
            self.targets_before,
            "a fresh Go client"
        );
        assert_eq!(fresh.delegation_list(&self.gun), self.delegations_before);
        assert!(fresh.verify(&self.gun, SCAN_NAME, SCAN), "notary verify");
        assert!(!fresh.verify(&self.gun, SCAN_NAME, b"{\"critical\":9}"));
        assert_eq!(
            sorted(self.go_reader.list(&self.gun)),
            self.targets_before,
            "a Go client whose cache predates the rotation"
        );
        assert_eq!(
            self.go_reader.delegation_list(&self.gun),
            self.delegations_before
        );

        for (who, env) in [("owner", &self.owner), ("earlier reader", &self.reader)] {
            let seen = inspect(env, self.s, &self.gun);
            assert_eq!(
                role_key_ids(&seen, role),
                vec![new_key.to_string()],
                "{who}: trust inspect shows the new {role} key"
            );
            let mut names: Vec<String> = seen["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap().to_string())
                .collect();
            names.sort();
            let mut expected: Vec<String> =
                self.targets_before.iter().map(|t| t.name.clone()).collect();
            expected.sort();
            assert_eq!(names, expected, "{who}: the same targets");
            assert_eq!(
                seen["delegations"].as_array().unwrap().len(),
                self.delegations_before.len(),
                "{who}: the same delegations"
            );
            let got = ok(
                env.cmd()
                    .args([
                        "--server",
                        &self.s.notary_url,
                        "get",
                        &self.image,
                        "approvals",
                    ])
                    .output()
                    .unwrap(),
                &format!("{who}: get"),
            );
            assert_eq!(stdout(&got), APPROVAL, "{who}: get");
        }
    }
}

fn inspect(env: &TestEnv, s: &Stack, gun: &str) -> serde_json::Value {
    json(&ok(
        env.cmd()
            .args([
                "--server",
                &s.notary_url,
                "-o",
                "json",
                "trust",
                "inspect",
                gun,
            ])
            .output()
            .unwrap(),
        "trust inspect",
    ))
}

/// `roles[role].keys[].key_id` of a `trust inspect` report.
fn role_key_ids(inspection: &serde_json::Value, role: &str) -> Vec<String> {
    inspection["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == role)
        .unwrap_or_else(|| panic!("no role {role} in {inspection}"))["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key_id"].as_str().unwrap().to_string())
        .collect()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// The key ids that signed a served file.
fn signature_key_ids(go: &GoNotary, gun: &str, role: &str) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_slice(&go.fetch_raw(gun, role)).unwrap();
    doc["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["keyid"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn targets_rotation_keeps_every_target_and_delegation_for_fresh_and_earlier_readers() {
    let fx = Fixture::new("rot-targets");
    let go = fx.go();
    let old = go.root_role_key_ids(&fx.gun, "targets");
    let root_before = fx.served_root_version();
    let targets_before = go.served_version(&fx.gun, "targets");

    let report = fx.rotate("targets", &["--targets-expires", "90d"]);
    assert_eq!(strings(&report["old_key_ids"]), old);
    let new = report["new_key_id"].as_str().unwrap().to_string();
    assert_ne!(vec![new.clone()], old);
    assert_eq!(report["root_version"], root_before + 1);
    assert_eq!(report["targets_version"], targets_before + 1);
    assert_eq!(
        fx.served_root_version(),
        root_before + 1,
        "root exactly + 1"
    );
    assert_eq!(go.served_version(&fx.gun, "targets"), targets_before + 1);
    assert_eq!(
        signature_key_ids(&go, &fx.gun, "targets"),
        vec![new.clone()]
    );
    let served_root = go.fetch_signed(&fx.gun, "root");
    assert!(
        served_root["keys"].get(&old[0]).is_none(),
        "the old targets key leaves root, as with the Go client"
    );
    let expires = go.fetch_signed(&fx.gun, "targets")["expires"]
        .as_str()
        .unwrap()
        .to_string();
    let expires = chrono::DateTime::parse_from_rfc3339(&expires).unwrap();
    let days = (expires.with_timezone(&Utc) - Utc::now()).num_days();
    assert!((88..=90).contains(&days), "--targets-expires 90d: {days}");

    // The owner's bins follow the key: the shard root and every bin are delegated to the new key
    // only and signed by it, so the retired key signs nothing the owner keeps (docs/layout.md).
    let served_targets = go.fetch_signed(&fx.gun, "targets");
    let shard_root = served_targets["delegations"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "targets/_manifesto")
        .expect("the owner signed into bins before the rotation");
    assert_eq!(strings(&shard_root["keyids"]), vec![new.clone()]);
    assert_eq!(
        signature_key_ids(&go, &fx.gun, "targets/_manifesto"),
        vec![new.clone()]
    );
    let bins = go.fetch_signed(&fx.gun, "targets/_manifesto")["delegations"]["roles"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!bins.is_empty());
    for bin in &bins {
        assert_eq!(strings(&bin["keyids"]), vec![new.clone()], "{bin}");
        let name = bin["name"].as_str().unwrap();
        assert_eq!(
            signature_key_ids(&go, &fx.gun, name),
            vec![new.clone()],
            "{name}"
        );
    }

    // The new key is stored for this repository and signs later changes.
    let keys = json(&ok(
        fx.owner
            .cmd()
            .args(["-o", "json", "key", "list"])
            .output()
            .unwrap(),
        "key list",
    ));
    assert!(
        keys["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["key_id"] == new && k["role"] == "targets" && k["gun"] == fx.gun.as_str()),
        "{keys}"
    );
    fx.assert_everyone_follows("targets", &new);
    ok(
        fx.owner
            .signer_cmd()
            .args([
                "--server",
                &fx.s.notary_url,
                "delegate",
                "remove",
                &fx.gun,
                "ci",
            ])
            .output()
            .unwrap(),
        "delegate remove with the new targets key",
    );
    assert_eq!(fx.go().delegation_list(&fx.gun).len(), 1);
}

#[test]
fn snapshot_rotation_moves_to_a_new_server_key_that_everyone_follows() {
    let fx = Fixture::new("rot-snapshot");
    let go = fx.go();
    let old = go.root_role_key_ids(&fx.gun, "snapshot");
    let root_before = fx.served_root_version();

    // Without the root key nothing happens, on the server either.
    let out = fx
        .reader
        .signer_cmd()
        .args([
            "--server",
            &fx.s.notary_url,
            "key",
            "rotate",
            &fx.gun,
            "snapshot",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 8, "no root key: {}", stderr(&out));
    assert!(
        stderr(&out).contains("no private key for root"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
    assert_eq!(fx.served_root_version(), root_before);

    let report = fx.rotate("snapshot", &[]);
    assert_eq!(strings(&report["old_key_ids"]), old);
    let new = report["new_key_id"].as_str().unwrap().to_string();
    assert_ne!(vec![new.clone()], old);
    assert_eq!(report["root_version"], root_before + 1);
    assert!(report.get("targets_version").is_none());
    assert_eq!(fx.served_root_version(), root_before + 1);
    fx.assert_everyone_follows("snapshot", &new);
    assert_eq!(
        signature_key_ids(&go, &fx.gun, "snapshot"),
        vec![new.clone()],
        "the server signs snapshots with the new key"
    );
}

#[test]
fn timestamp_rotation_moves_to_a_new_server_key_that_everyone_follows() {
    let fx = Fixture::new("rot-timestamp");
    let go = fx.go();
    let old = go.root_role_key_ids(&fx.gun, "timestamp");
    let root_before = fx.served_root_version();

    let report = fx.rotate("timestamp", &[]);
    assert_eq!(strings(&report["old_key_ids"]), old);
    let new = report["new_key_id"].as_str().unwrap().to_string();
    assert_ne!(vec![new.clone()], old);
    assert_eq!(fx.served_root_version(), root_before + 1);
    fx.assert_everyone_follows("timestamp", &new);
    assert_eq!(
        signature_key_ids(&go, &fx.gun, "timestamp"),
        vec![new.clone()],
        "the server signs timestamps with the new key"
    );
}

#[test]
fn root_rotation_is_signed_by_old_and_new_root_keys_and_followed_by_earlier_readers() {
    let fx = Fixture::new("rot-root");
    let go = fx.go();
    let old = go.root_role_key_ids(&fx.gun, "root");
    let root_before = fx.served_root_version();

    let report = fx.rotate("root", &["--expires", "3y"]);
    assert_eq!(strings(&report["old_key_ids"]), old);
    let new = report["new_key_id"].as_str().unwrap().to_string();
    assert_ne!(vec![new.clone()], old);
    assert!(report["new_public_key_id"].is_string(), "{report}");
    assert_eq!(report["root_version"], root_before + 1);

    let mut signers = signature_key_ids(&go, &fx.gun, "root");
    signers.sort();
    let mut both = vec![old[0].clone(), new.clone()];
    both.sort();
    assert_eq!(signers, both, "signed by the old and the new root key");
    let served = go.fetch_signed(&fx.gun, "root");
    assert!(
        served["keys"].get(&old[0]).is_some(),
        "the old certificate stays in keys, as with the Go client"
    );
    assert_eq!(served["keys"][&new]["keytype"], "ecdsa-x509");
    let expires = served["expires"].as_str().unwrap();
    assert!(
        expires.starts_with(&(Utc::now().year() + 3).to_string()),
        "--expires 3y: {expires}"
    );
    fx.assert_everyone_follows("root", &new);

    // The new root key signs the next rotation of another role.
    let report = fx.rotate("timestamp", &[]);
    assert_eq!(report["root_version"], root_before + 2);
    assert_eq!(
        signature_key_ids(&go, &fx.gun, "root"),
        vec![new.clone()],
        "a non-root rotation is signed by the current root key only"
    );
}

#[test]
fn root_rotated_twice_in_a_row_is_followed_through_every_version() {
    let fx = Fixture::new("rot-root-twice");
    let root_before = fx.served_root_version();
    let first = fx.rotate("root", &[]);
    let second = fx.rotate("root", &[]);
    assert_eq!(second["root_version"], root_before + 2);
    assert_eq!(
        strings(&second["old_key_ids"]),
        vec![first["new_key_id"].as_str().unwrap().to_string()]
    );
    let new = second["new_key_id"].as_str().unwrap().to_string();
    assert_eq!(fx.served_root_version(), root_before + 2);
    let go = fx.go();
    let middle = go.fetch_signed(&fx.gun, &format!("{}.root", root_before + 1));
    assert_eq!(middle["roles"]["root"]["keyids"][0], first["new_key_id"]);
    // Readers cached version 1: they walk 2.root.json, then 3.root.json.
    fx.assert_everyone_follows("root", &new);
}

#[test]
fn rotating_a_delegation_or_an_unknown_role_is_a_usage_error() {
    let env = TestEnv::new();
    for (role, expected) in [
        ("targets/qa", "is a delegation"),
        ("Targets", "invalid role name"),
    ] {
        let out = env
            .signer_cmd()
            .args([
                "--server",
                "http://127.0.0.1:1",
                "key",
                "rotate",
                "127.0.0.1:1/x/y",
                role,
            ])
            .output()
            .unwrap();
        assert_eq!(code(&out), 2, "{role}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{role}: {}", stderr(&out));
        assert!(stdout(&out).is_empty());
    }
    let out = env
        .signer_cmd()
        .args([
            "key",
            "rotate",
            "127.0.0.1:1/x/y",
            "root",
            "--expires",
            "0s",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let out = env
        .signer_cmd()
        .args([
            "key",
            "rotate",
            "127.0.0.1:1/x/y",
            "root",
            "--expires",
            "20000y",
        ])
        .output()
        .unwrap();
    assert_eq!(
        code(&out),
        2,
        "Go cannot write such a date: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("year 9999"), "{}", stderr(&out));
    let out = env
        .signer_cmd()
        .args([
            "key",
            "rotate",
            "127.0.0.1:1/x/y",
            "root",
            "--targets-expires",
            "1y",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
}

#[test]
fn a_go_made_repository_rotated_by_manifesto_is_still_read_by_its_go_owner() {
    use crate::go_notary::{ROOT_PASSPHRASE, TARGETS_PASSPHRASE, unique_gun};
    let s = stack(StackKind::Plain);
    let go_owner = GoNotary::new(s);
    let gun = unique_gun(s, "rot-go-made");
    go_owner.init_with_targets(&gun, &[("app/v1", b"hello"), ("app/v2", b"world")]);
    // Rotating targets needs a server-held snapshot (manifesto signs no snapshot).
    go_owner.rotate_snapshot_to_server(&gun);
    let before = sorted(go_owner.list(&gun));
    assert_eq!(before.len(), 2);

    // manifesto takes over the Go client's keys and rotates every key it can.
    let env = TestEnv::new();
    ok(
        env.signer_cmd()
            .env("NOTARY_ROOT_PASSPHRASE", ROOT_PASSPHRASE)
            .env("NOTARY_TARGETS_PASSPHRASE", TARGETS_PASSPHRASE)
            .args(["key", "import", "--docker-trust"])
            .arg(go_owner.trust_dir.path())
            .output()
            .unwrap(),
        "key import --docker-trust",
    );
    let root_before = go_owner.served_version(&gun, "root");
    for role in ["targets", "root", "timestamp"] {
        ok(
            env.signer_cmd()
                .args(["--server", &s.notary_url, "key", "rotate", &gun, role])
                .output()
                .unwrap(),
            &format!("key rotate {role}"),
        );
    }
    assert_eq!(go_owner.served_version(&gun, "root"), root_before + 3);
    assert_eq!(
        sorted(go_owner.list(&gun)),
        before,
        "the Go owner's cache follows"
    );
    let fresh = GoNotary::new(s);
    assert_eq!(sorted(fresh.list(&gun)), before, "a fresh Go client");
    assert!(fresh.verify(&gun, "app/v1", b"hello"));
}

#[test]
fn racing_rotations_of_different_roles_both_land_one_root_version_apart() {
    let fx = Fixture::new("rot-race");
    let root_before = fx.served_root_version();
    // Two owners with copies of the same trust dir, so no local lock serialises them: the loser
    // at the server rebuilds its root on the winner's, keeping the winner's new key.
    let copies: Vec<TestEnv> = (0..2)
        .map(|_| {
            let env = TestEnv::new();
            copy_dir(&fx.owner.trust_dir(), &env.trust_dir());
            env
        })
        .collect();
    let barrier = std::sync::Barrier::new(2);
    let reports: Vec<serde_json::Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = copies
            .iter()
            .zip(["snapshot", "timestamp"])
            .map(|(env, role)| {
                let (barrier, gun, server) = (&barrier, &fx.gun, &fx.s.notary_url);
                scope.spawn(move || {
                    let mut cmd = env.signer_cmd();
                    cmd.args(["--server", server, "-o", "json", "key", "rotate", gun, role]);
                    barrier.wait();
                    json(&ok(cmd.output().unwrap(), role))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut versions: Vec<u64> = reports
        .iter()
        .map(|r| r["root_version"].as_u64().unwrap())
        .collect();
    versions.sort();
    assert_eq!(versions, vec![root_before + 1, root_before + 2]);
    let go = fx.go();
    assert_eq!(fx.served_root_version(), root_before + 2);
    for (report, role) in reports.iter().zip(["snapshot", "timestamp"]) {
        assert_eq!(
            go.root_role_key_ids(&fx.gun, role),
            vec![report["new_key_id"].as_str().unwrap().to_string()],
            "the final root keeps both new keys"
        );
    }
    assert_eq!(sorted(fx.go_reader.list(&fx.gun)), fx.targets_before);
    assert_eq!(sorted(go.list(&fx.gun)), fx.targets_before);
}
