//! Key and delegation lifecycle against the real notary-server: replacing a delegate's key,
//! revoking one key, rotating, each checked through the real binary and by a fresh Go notary
//! client. The README walkthroughs "Replacing a key" and "Revoking a key" run here literally.

use std::path::PathBuf;
use std::process::Output;

use crate::harness::{TestEnv, code, stderr, stdout};
use crate::scene::{self, Owner, content_file, snapshot_dir};

/// A repository initialised by manifesto (image `v1` pushed), with helpers for the lifecycle.
struct Scene(scene::Scene);

impl std::ops::Deref for Scene {
    type Target = scene::Scene;
    fn deref(&self) -> &scene::Scene {
        &self.0
    }
}

fn scene(label: &str) -> Scene {
    Scene(scene::Scene::new(label, Owner::Manifesto, false))
}

impl Scene {
    /// `manifesto --server NOTARY ARGS…` as `env`, with the signing passphrases set.
    fn run(&self, env: &TestEnv, args: &[&str]) -> Output {
        env.signer_cmd()
            .args(["--server", &self.notary_url])
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, env: &TestEnv, args: &[&str]) -> Output {
        let out = self.run(env, args);
        assert_eq!(code(&out), 0, "manifesto {args:?}: {}", stderr(&out));
        out
    }

    /// The owner delegates `approvals` to `targets/qa` with the key in `pem` (or adds the key).
    fn delegate_qa(&self, pem: &std::path::Path) -> Output {
        let pem = pem.to_str().unwrap();
        let args = [
            "delegate",
            "add",
            &self.gun,
            "qa",
            "--key",
            pem,
            "--type",
            "approvals",
        ];
        self.ok(&self.owner, &args)
    }

    /// A new signer with a `targets/qa` key; returns its environment and public key file.
    fn signer(&self, name: &str) -> (TestEnv, PathBuf) {
        let env = TestEnv::new();
        let public = env.home.path().join(format!("{name}.pem"));
        let out = env
            .signer_cmd()
            .args(["key", "generate", "--role", "targets/qa", "--public-out"])
            .arg(&public)
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "key generate: {}", stderr(&out));
        (env, public)
    }

    fn put_as(&self, env: &TestEnv, ty: &str, content: &[u8], extra: &[&str]) -> Output {
        let file = content_file(env, content);
        let mut args = vec!["put", &self.image, ty, file.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.run(env, &args)
    }

    /// `trust inspect -o json` as `env`: the exit code, the report, stderr.
    fn inspect(&self, env: &TestEnv) -> (i32, serde_json::Value, String) {
        let out = self.run(env, &["-o", "json", "trust", "inspect", &self.gun]);
        let report = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (code(&out), report, stderr(&out))
    }

    /// `(name, sha256, length, role)` of every target the report lists, sorted.
    fn our_targets(report: &serde_json::Value) -> Vec<(String, String, u64, String)> {
        let mut v: Vec<_> = report["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("no targets in {report:#}"))
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

    /// The same, as a fresh Go client's `notary list` shows it.
    fn go_targets(&self) -> Vec<(String, String, u64, String)> {
        let mut v: Vec<_> = self
            .go
            .list(&self.gun)
            .into_iter()
            .map(|t| (t.name, t.sha256_hex, t.size, t.role))
            .collect();
        v.sort();
        v
    }

    /// `trust inspect` as `env` succeeds and lists what the Go client lists.
    fn agrees_with_go(&self, env: &TestEnv) -> (serde_json::Value, String) {
        let (rc, report, err) = self.inspect(env);
        assert_eq!(rc, 0, "trust inspect: {err}");
        assert_eq!(
            Self::our_targets(&report),
            self.go_targets(),
            "manifesto and notary list see the same targets"
        );
        (report, err)
    }
}

const QA_OLD: &[u8] = b"{\"status\":\"approved\",\"by\":\"old qa key\"}";
const QA_NEW: &[u8] = b"{\"status\":\"approved\",\"by\":\"new qa key\"}";
const SCAN: &[u8] = b"{\"findings\":[]}";

/// The issue's literal scenario: `delegate remove REPO qa`, then `delegate add REPO qa --key
/// NEW.pem`, while the old `targets/qa` file (signed by the retired key) stays on the server.
/// Every command keeps working; the stale role is named on stderr; the new key signs; a reader
/// that trusted the old file accepts the new one (no rollback); the Go client agrees throughout.
#[test]
fn replacing_a_delegate_key_by_remove_and_add_does_not_wedge_the_repository() {
    let sc = scene("lc-replace");
    let (old, old_pem) = sc.signer("old");
    let (new, new_pem) = sc.signer("new");
    let owner = &sc.owner;
    let old_pem = old_pem.to_str().unwrap();
    let new_pem = new_pem.to_str().unwrap();
    let out = sc.put_as(owner, "scan", SCAN, &[]);
    assert_eq!(code(&out), 0, "owner put: {}", stderr(&out));
    sc.ok(
        owner,
        &[
            "delegate",
            "add",
            &sc.gun,
            "qa",
            "--key",
            old_pem,
            "--type",
            "approvals",
        ],
    );
    let out = sc.put_as(&old, "approvals", QA_OLD, &["--role", "qa"]);
    assert_eq!(code(&out), 0, "old key put: {}", stderr(&out));
    // A reader trusts the old qa file (its version floor is now the old file's version).
    let reader = TestEnv::new();
    let got = sc.ok(&reader, &["get", &sc.image, "approvals"]);
    assert_eq!(got.stdout, QA_OLD);

    sc.ok(owner, &["delegate", "remove", &sc.gun, "qa"]);
    sc.ok(
        owner,
        &[
            "delegate",
            "add",
            &sc.gun,
            "qa",
            "--key",
            new_pem,
            "--type",
            "approvals",
        ],
    );

    // trust inspect works, names the stale role once, and agrees with the Go client.
    let (report, err) = sc.agrees_with_go(owner);
    assert_eq!(
        err.matches("targets/qa: its targets are treated as absent")
            .count(),
        1,
        "one warning naming the role: {err}"
    );
    assert!(err.contains("no longer lists"), "says why: {err}");
    assert!(err.contains("put --role qa"), "says what to do next: {err}");
    let names = target_names(&report);
    assert!(names.iter().any(|n| n.starts_with("scan/")), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("approvals/")),
        "{names:?}"
    );
    let stale = &report["delegations"][0]["stale"];
    assert!(
        stale["next_step"]
            .as_str()
            .unwrap()
            .contains("put --role qa"),
        "{report:#}"
    );
    // The text report says it too, and so does repair, which works on the other roles.
    let text = sc.ok(owner, &["trust", "inspect", &sc.gun]);
    assert!(
        stdout(&text).contains("stale, its targets are absent"),
        "{}",
        stdout(&text)
    );
    let repaired = sc.ok(owner, &["repair", &sc.gun]);
    assert!(
        stdout(&repaired).contains("targets/qa is stale")
            && stdout(&repaired).contains("put --role qa"),
        "{}",
        stdout(&repaired)
    );
    // list and get of the owner's own metadata work.
    let listed = sc.ok(owner, &["list", &sc.image]);
    assert!(stdout(&listed).contains("scan"), "{}", stdout(&listed));
    let got = sc.ok(owner, &["get", &sc.image, "scan"]);
    assert_eq!(got.stdout, SCAN);
    // The old key's approvals are absent for readers, with the reason on stderr.
    let gone = sc.run(&reader, &["get", &sc.image, "approvals"]);
    assert_eq!(code(&gone), 9, "{}", stderr(&gone));
    assert!(stdout(&gone).is_empty());
    assert!(stderr(&gone).contains("targets/qa"), "{}", stderr(&gone));
    // verify says which requirement depended on the stale role; the owner's scan still passes.
    let v = sc.run(
        &reader,
        &[
            "-o",
            "json",
            "verify",
            &sc.image,
            "--require",
            "approvals,role=qa",
            "--require",
            "scan",
        ],
    );
    assert_ne!(code(&v), 0, "{}", stderr(&v));
    let verdict: serde_json::Value = serde_json::from_slice(&v.stdout).unwrap();
    let reqs = &verdict["images"][0]["requirements"];
    assert_eq!(reqs[0]["status"], "missing", "{verdict:#}");
    let reason = reqs[0]["reason"].as_str().unwrap();
    assert!(reason.contains("targets/qa was skipped"), "{reason}");
    assert_eq!(reqs[1]["status"], "ok", "{verdict:#}");
    // The retired key can no longer sign for qa.
    let refused = sc.put_as(&old, "approvals", QA_OLD, &["--role", "qa"]);
    assert_ne!(code(&refused), 0, "{}", stderr(&refused));
    // The new key signs; every reader, including the one that trusted the old file, reads it.
    let out = sc.put_as(&new, "approvals", QA_NEW, &["--role", "qa"]);
    assert_eq!(code(&out), 0, "new key put: {}", stderr(&out));
    assert_eq!(
        stderr(&out).matches("treated as absent").count(),
        1,
        "the put that re-signs the role warns once: {}",
        stderr(&out)
    );
    let got = sc.ok(&reader, &["get", &sc.image, "approvals"]);
    assert_eq!(got.stdout, QA_NEW);
    assert!(
        !stderr(&got).contains("treated as absent"),
        "{}",
        stderr(&got)
    );
    let repaired = sc.ok(owner, &["repair", &sc.gun]);
    assert!(
        !stdout(&repaired).contains("stale"),
        "{}",
        stdout(&repaired)
    );
    let (report, err) = sc.agrees_with_go(&TestEnv::new());
    assert!(!err.contains("treated as absent"), "{err}");
    let names = target_names(&report);
    assert!(
        names.iter().any(|n| n.starts_with("approvals/")),
        "{names:?}"
    );
}

/// Target names of a `trust inspect -o json` report.
fn target_names(report: &serde_json::Value) -> Vec<String> {
    report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

const BY_A: &[u8] = b"{\"status\":\"approved\",\"by\":\"key a\"}";
const BY_B: &[u8] = b"{\"status\":\"approved\",\"by\":\"key b\"}";

/// `delegate remove REPO qa --key KEYID` revokes one of two keys: the other keeps signing, the
/// revoked key's file is absent for readers until the remaining key re-signs, the revoked key
/// can no longer put, and removing the last key is refused (exit 2, nothing published).
#[test]
fn revoking_one_key_of_a_delegation_keeps_the_other_signing() {
    let sc = scene("lc-revoke");
    let (a, a_pem) = sc.signer("a");
    let (b, b_pem) = sc.signer("b");
    let a_id = crate::go_notary::key_id_of_public_pem(&std::fs::read_to_string(&a_pem).unwrap());
    let b_id = crate::go_notary::key_id_of_public_pem(&std::fs::read_to_string(&b_pem).unwrap());
    let owner = &sc.owner;
    let add = |pem: &PathBuf| {
        sc.ok(
            owner,
            &[
                "delegate",
                "add",
                &sc.gun,
                "qa",
                "--key",
                pem.to_str().unwrap(),
                "--type",
                "approvals",
            ],
        )
    };
    let first = add(&a_pem);
    assert!(
        stdout(&first).contains("added delegation targets/qa"),
        "{}",
        stdout(&first)
    );
    let second = add(&b_pem);
    assert!(
        stdout(&second).contains("key added") && stdout(&second).contains(&b_id),
        "delegate add onto an existing delegation says it adds a key: {}",
        stdout(&second)
    );
    let out = sc.put_as(&a, "approvals", BY_A, &["--role", "qa"]);
    assert_eq!(code(&out), 0, "put by a: {}", stderr(&out));
    let reader = TestEnv::new();
    assert_eq!(
        sc.ok(&reader, &["get", &sc.image, "approvals"]).stdout,
        BY_A
    );

    // Revoke a by the short id `delegate list` shows.
    let listed = sc.ok(owner, &["delegate", "list", &sc.gun]);
    assert!(stdout(&listed).contains(&a_id[..12]), "{}", stdout(&listed));
    let out = sc.ok(
        owner,
        &["delegate", "remove", &sc.gun, "qa", "--key", &a_id[..12]],
    );
    assert!(stdout(&out).contains("key removed"), "{}", stdout(&out));
    assert!(stdout(&out).contains(&a_id), "{}", stdout(&out));
    let delegations = sc.go.delegation_list(&sc.gun);
    assert_eq!(delegations.len(), 1, "{delegations:?}");
    assert_eq!(
        delegations[0].key_ids,
        std::slice::from_ref(&b_id),
        "the Go client sees only b"
    );

    // What only a signed is absent, with the reason; the Go client agrees.
    let gone = sc.run(&reader, &["get", &sc.image, "approvals"]);
    assert_eq!(code(&gone), 9, "{}", stderr(&gone));
    assert!(stdout(&gone).is_empty());
    assert!(stderr(&gone).contains("targets/qa"), "{}", stderr(&gone));
    sc.agrees_with_go(&TestEnv::new());
    let refused = sc.put_as(&a, "approvals", BY_A, &["--role", "qa"]);
    assert_ne!(
        code(&refused),
        0,
        "the revoked key cannot put: {}",
        stderr(&refused)
    );
    let out = sc.put_as(&b, "approvals", BY_B, &["--role", "qa"]);
    assert_eq!(code(&out), 0, "put by b: {}", stderr(&out));
    assert_eq!(
        sc.ok(&reader, &["get", &sc.image, "approvals"]).stdout,
        BY_B
    );
    sc.agrees_with_go(&TestEnv::new());

    // b is the last key of a threshold-1 delegation: refused, nothing published.
    let version = sc.go.served_version(&sc.gun, "targets");
    let out = sc.run(
        owner,
        &["delegate", "remove", &sc.gun, "qa", "--key", &b_id],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("below its threshold") && stderr(&out).contains("delegate rotate"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sc.go.served_version(&sc.gun, "targets"), version);
    // An id the delegation does not list is named as such.
    let out = sc.run(
        owner,
        &["delegate", "remove", &sc.gun, "qa", "--key", "0123456789ab"],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("lists no key"), "{}", stderr(&out));
}

/// `delegate rotate REPO qa --key NEW.pem` replaces the only key in one signed update; a Go
/// delegate holding the new key signs under the rotated delegation and manifesto reads it.
#[test]
fn rotating_a_delegate_key_in_one_step_lets_a_go_delegate_sign_under_it() {
    let sc = scene("lc-rotate");
    let (old, old_pem) = sc.signer("old");
    let owner = &sc.owner;
    sc.ok(
        owner,
        &[
            "delegate",
            "add",
            &sc.gun,
            "qa",
            "--key",
            old_pem.to_str().unwrap(),
            "--type",
            "approvals",
        ],
    );
    let out = sc.put_as(&old, "approvals", QA_OLD, &["--role", "qa"]);
    assert_eq!(code(&out), 0, "old key put: {}", stderr(&out));
    let version = sc.go.served_version(&sc.gun, "targets");
    let go_key = sc.go.generate_delegate_key("targets/qa");
    let out = sc.ok(
        owner,
        &[
            "delegate",
            "rotate",
            &sc.gun,
            "qa",
            "--key",
            go_key.cert_or_pub_pem.to_str().unwrap(),
        ],
    );
    assert!(stdout(&out).contains("key rotated"), "{}", stdout(&out));
    assert_eq!(
        sc.go.served_version(&sc.gun, "targets"),
        version + 1,
        "one signed update"
    );
    let delegations = sc.go.delegation_list(&sc.gun);
    assert_eq!(
        delegations[0].key_ids,
        std::slice::from_ref(&go_key.key_id),
        "{delegations:?}"
    );
    assert_eq!(
        delegations[0].paths,
        ["_manifesto/", "approvals/"],
        "paths kept"
    );
    // The first re-sign after the change comes from manifesto (here with the Go delegate's key
    // imported): it numbers the new file above the stale one, which notary-server requires; the
    // Go client would restart the role at version 1 and be rejected while the stale file stands.
    let holder = TestEnv::new();
    let out = holder
        .signer_cmd()
        .env(
            "NOTARY_DELEGATION_PASSPHRASE",
            crate::go_notary::DELEGATION_PASSPHRASE,
        )
        .args(["key", "import"])
        .arg(&go_key.private_pem)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "key import: {}", stderr(&out));
    let out = sc.put_as(&holder, "approvals", QA_NEW, &["--role", "qa"]);
    assert_eq!(code(&out), 0, "put with the new key: {}", stderr(&out));
    // From then on the Go delegate signs under the rotated delegation; manifesto reads it.
    let signed = sc.go.delegate_publish(
        &sc.gun,
        &go_key,
        "targets/qa",
        "approvals/by-go",
        b"{\"go\":true}",
    );
    let (report, err) = sc.agrees_with_go(&TestEnv::new());
    assert!(!err.contains("treated as absent"), "{err}");
    let ours = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "approvals/by-go")
        .unwrap_or_else(|| panic!("the Go delegate's target is listed: {report:#}"));
    assert_eq!(ours["role"], "targets/qa");
    assert_eq!(ours["sha256"], signed.sha256_hex);
    // The old key's approvals were dropped with its file (the documented rule); the new key's
    // approvals are what readers get.
    assert_eq!(
        sc.ok(&TestEnv::new(), &["get", &sc.image, "approvals"])
            .stdout,
        QA_NEW
    );
    // The old key is out.
    let refused = sc.put_as(&old, "approvals", QA_OLD, &["--role", "qa"]);
    assert_ne!(code(&refused), 0, "{}", stderr(&refused));
}

/// Rotations keep every expiry the owner chose unless `--expires` / `--targets-expires` is
/// given for that role: a root rotated with `--expires 5y` still expires then after the
/// targets and timestamp keys are rotated, and targets keep their expiry through a rotation.
#[test]
fn rotations_keep_every_expiry_the_owner_chose_unless_a_flag_sets_it() {
    let sc = scene("lc-expiry");
    let owner = &sc.owner;
    let out = sc.put_as(owner, "scan", SCAN, &[]);
    assert_eq!(code(&out), 0, "put: {}", stderr(&out));
    let expires = |role: &str| {
        sc.go.fetch_signed(&sc.gun, role)["expires"]
            .as_str()
            .unwrap()
            .to_string()
    };
    sc.ok(
        owner,
        &["key", "rotate", &sc.gun, "root", "--expires", "5y"],
    );
    let root_expires = expires("root");
    let year: i32 = root_expires[..4].parse().unwrap();
    assert_eq!(
        year,
        chrono::Datelike::year(&chrono::Utc::now()) + 5,
        "{root_expires}"
    );
    let targets_expires = expires("targets");

    sc.ok(owner, &["key", "rotate", &sc.gun, "targets"]);
    assert_eq!(expires("root"), root_expires, "root keeps its 5 years");
    assert_eq!(expires("targets"), targets_expires, "targets keep theirs");
    sc.ok(owner, &["key", "rotate", &sc.gun, "timestamp"]);
    assert_eq!(expires("root"), root_expires, "root keeps its 5 years");

    // A flag changes that role only.
    sc.ok(
        owner,
        &[
            "key",
            "rotate",
            &sc.gun,
            "targets",
            "--targets-expires",
            "90d",
        ],
    );
    assert_eq!(expires("root"), root_expires);
    assert_ne!(expires("targets"), targets_expires);
    // Everyone still reads the repository.
    sc.agrees_with_go(&TestEnv::new());
    assert_eq!(
        sc.ok(&TestEnv::new(), &["get", &sc.image, "scan"]).stdout,
        SCAN
    );
}

/// A failed `init` leaves the key store as it was: with the server unreachable (no key made
/// is stored, not even a first root key), and with a repository that already exists (the
/// existing root key is reused and kept, no orphaned targets key).
#[test]
fn a_failed_init_leaves_no_key_behind() {
    let fresh = TestEnv::new();
    let out = fresh
        .signer_cmd()
        .args([
            "--server",
            "http://127.0.0.1:1",
            "init",
            "127.0.0.1:1/team/app",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 6, "unreachable: {}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(
        snapshot_dir(&fresh.trust_dir().join("private")).is_empty()
            && snapshot_dir(&fresh.trust_dir().join("public")).is_empty(),
        "no key stored: {:?}",
        snapshot_dir(&fresh.trust_dir()).keys().collect::<Vec<_>>()
    );

    let sc = scene("lc-init");
    let keys_before = (
        snapshot_dir(&sc.owner.trust_dir().join("private")),
        snapshot_dir(&sc.owner.trust_dir().join("public")),
    );
    assert_eq!(
        keys_before.0.len(),
        2,
        "root and targets key after the first init"
    );
    for server in ["http://127.0.0.1:1", sc.notary_url.as_str()] {
        let out = sc
            .owner
            .signer_cmd()
            .args(["--server", server, "init", &sc.gun])
            .output()
            .unwrap();
        assert_ne!(code(&out), 0, "{server}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{}", stdout(&out));
        let keys_after = (
            snapshot_dir(&sc.owner.trust_dir().join("private")),
            snapshot_dir(&sc.owner.trust_dir().join("public")),
        );
        assert!(
            keys_after == keys_before,
            "{server}: the key store is unchanged"
        );
    }
}

/// The `manifesto …` commands of the first ```sh block under `heading` in README.md, each with
/// the actor named by the `# As the ACTOR:` (or `# Anyone:`) comment above it.
fn readme_walkthrough(heading: &str) -> Vec<(String, Vec<String>)> {
    let readme = std::fs::read_to_string(crate::harness::project_root().join("README.md")).unwrap();
    let section = readme
        .split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README.md has no {heading:?}"))
        .1;
    let block = section
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .unwrap_or_else(|| panic!("no sh block under {heading:?}"))
        .0;
    let mut actor = String::from("anyone");
    let mut steps = Vec::new();
    for line in block.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let who = comment.split(':').next().unwrap();
            actor = who.strip_prefix("As the ").unwrap_or(who).to_lowercase();
        } else if let Some(command) = line.strip_prefix("manifesto ") {
            steps.push((
                actor.clone(),
                command.split_whitespace().map(str::to_string).collect(),
            ));
        } else {
            assert!(
                line.trim().is_empty(),
                "unexpected line {line:?} in {heading:?}"
            );
        }
    }
    assert!(!steps.is_empty(), "{heading:?} has commands");
    steps
}

/// Runs a README walkthrough: each command as its actor (its own keys and trust cache), all in
/// one working directory `desk` (where `approval.json` is, and where files handed from one actor
/// to another land), the example repository replaced by the scene's and `subst` applied.
fn run_walkthrough(
    sc: &Scene,
    heading: &str,
    actors: &[(&str, &TestEnv)],
    desk: &std::path::Path,
    subst: &[(&str, &str)],
) -> Vec<Output> {
    let mut outs = Vec::new();
    for (actor, args) in readme_walkthrough(heading) {
        let env = actors
            .iter()
            .find(|(name, _)| *name == actor)
            .unwrap_or_else(|| panic!("{heading}: no actor {actor:?}"))
            .1;
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                let mut a = a.replace("registry.example.com/team/app", &sc.gun);
                for (from, to) in subst {
                    a = a.replace(from, to);
                }
                a
            })
            .collect();
        let out = env
            .signer_cmd()
            .current_dir(desk)
            .env("MANIFESTO_SERVER", &sc.notary_url)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(
            code(&out),
            0,
            "{heading}: {actor}: manifesto {args:?}: {}",
            stderr(&out)
        );
        outs.push(out);
    }
    outs
}

#[test]
fn the_readme_walkthrough_replacing_a_key_works_as_written() {
    let sc = scene("lc-readme-replace");
    let (old, old_pem) = sc.signer("old");
    sc.delegate_qa(&old_pem);
    let out = sc.put_as(&old, "approvals", QA_OLD, &["--role", "qa"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let new = TestEnv::new();
    let desk = tempfile::tempdir().unwrap();
    std::fs::write(desk.path().join("approval.json"), QA_NEW).unwrap();
    let anyone = TestEnv::new();
    let outs = run_walkthrough(
        &sc,
        "#### Replacing a key",
        &[
            ("new signer", &new),
            ("owner", &sc.owner),
            ("anyone", &anyone),
        ],
        desk.path(),
        &[],
    );
    let inspected = outs.last().unwrap();
    assert!(
        !stderr(inspected).contains("treated as absent"),
        "{}",
        stderr(inspected)
    );
    assert!(
        stdout(inspected).contains("targets/qa"),
        "{}",
        stdout(inspected)
    );
    assert_eq!(
        sc.ok(&TestEnv::new(), &["get", &sc.image, "approvals"])
            .stdout,
        QA_NEW
    );
    let refused = sc.put_as(&old, "approvals", QA_OLD, &["--role", "qa"]);
    assert_ne!(
        code(&refused),
        0,
        "the old key is out: {}",
        stderr(&refused)
    );
    sc.agrees_with_go(&TestEnv::new());
}

#[test]
fn the_readme_walkthrough_revoking_a_key_works_as_written() {
    let sc = scene("lc-readme-revoke");
    let (a, a_pem) = sc.signer("a");
    let (b, b_pem) = sc.signer("b");
    let a_id = crate::go_notary::key_id_of_public_pem(&std::fs::read_to_string(&a_pem).unwrap());
    let b_id = crate::go_notary::key_id_of_public_pem(&std::fs::read_to_string(&b_pem).unwrap());
    for pem in [&a_pem, &b_pem] {
        sc.delegate_qa(pem);
    }
    let out = sc.put_as(&a, "approvals", BY_A, &["--role", "qa"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let desk = tempfile::tempdir().unwrap();
    std::fs::write(desk.path().join("approval.json"), BY_B).unwrap();
    let outs = run_walkthrough(
        &sc,
        "#### Revoking a key",
        &[("owner", &sc.owner), ("remaining signer", &b)],
        desk.path(),
        &[("1a2b3c4d5e6f", &a_id[..12])],
    );
    assert!(
        stdout(&outs[0]).contains(&a_id[..12]),
        "delegate list shows the id: {}",
        stdout(&outs[0])
    );
    let delegations = sc.go.delegation_list(&sc.gun);
    assert_eq!(delegations[0].key_ids, [b_id], "{delegations:?}");
    assert_eq!(
        sc.ok(&TestEnv::new(), &["get", &sc.image, "approvals"])
            .stdout,
        BY_B
    );
    sc.agrees_with_go(&TestEnv::new());
}

/// An RSA key made with OpenSSL (PKCS#1, as `notary key import` also takes it) is imported, its
/// public half delegated, and it signs a put (RSA-PSS): manifesto readers and the Go client both
/// verify it.
#[test]
fn an_imported_rsa_key_signs_a_delegation_the_go_client_verifies() {
    let sc = scene("lc-rsa");
    let signer = TestEnv::new();
    let private = signer.home.path().join("rsa.pem");
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&private)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl genpkey");
    let pkcs1 = signer.home.path().join("rsa-pkcs1.pem");
    let out = std::process::Command::new("openssl")
        .args(["rsa", "-traditional", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&pkcs1)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl rsa -traditional");
    assert!(
        std::fs::read_to_string(&pkcs1)
            .unwrap()
            .starts_with("-----BEGIN RSA PRIVATE KEY")
    );
    let imported = sc.ok(
        &signer,
        &[
            "-o",
            "json",
            "key",
            "import",
            pkcs1.to_str().unwrap(),
            "--role",
            "targets/qa",
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&imported.stdout).unwrap();
    assert_eq!(report["imported"][0]["algorithm"], "rsa", "{report:#}");
    let key_id = report["imported"][0]["key_id"]
        .as_str()
        .unwrap()
        .to_string();
    let public = signer.home.path().join("rsa.pub.pem");
    sc.ok(
        &signer,
        &[
            "key",
            "export-public",
            &key_id,
            "-O",
            public.to_str().unwrap(),
        ],
    );
    sc.delegate_qa(&public);
    let out = sc.put_as(&signer, "approvals", QA_NEW, &["--role", "qa"]);
    assert_eq!(code(&out), 0, "put with the RSA key: {}", stderr(&out));
    let signed = sc.go.fetch_raw(&sc.gun, "targets/qa");
    let doc: serde_json::Value = serde_json::from_slice(&signed).unwrap();
    assert_eq!(doc["signatures"][0]["method"], "rsapss", "{doc:#}");
    assert_eq!(doc["signatures"][0]["keyid"], key_id.as_str());
    assert_eq!(
        sc.ok(&TestEnv::new(), &["get", &sc.image, "approvals"])
            .stdout,
        QA_NEW
    );
    let (_, err) = sc.agrees_with_go(&TestEnv::new());
    assert!(!err.contains("treated as absent"), "{err}");
    assert!(
        sc.go_targets().iter().any(|t| t.3 == "targets/qa"),
        "the Go client verifies the RSA-PSS signature: {:?}",
        sc.go_targets()
    );
}

/// `key rotate REPO root --root-keys 3 --root-threshold 2` makes a root listing three root
/// certificates, two of which must sign; later rotations are signed by two of them (all in this
/// trust dir), readers with older trust data and the Go client follow every step.
#[test]
fn a_root_with_three_keys_and_threshold_2_is_created_rotated_and_followed() {
    let sc = scene("lc-root-threshold");
    let owner = &sc.owner;
    let out = sc.put_as(owner, "scan", SCAN, &[]);
    assert_eq!(code(&out), 0, "put: {}", stderr(&out));
    let warm = TestEnv::new();
    sc.ok(&warm, &["get", &sc.image, "scan"]);
    let go_warm = crate::go_notary::GoNotary::new(sc.s);
    go_warm.list(&sc.gun);

    // Refused before anything changes.
    for bad in [
        &[
            "key",
            "rotate",
            &sc.gun,
            "root",
            "--root-keys",
            "2",
            "--root-threshold",
            "3",
        ][..],
        &["key", "rotate", &sc.gun, "root", "--root-keys", "0"][..],
        &["key", "rotate", &sc.gun, "targets", "--root-keys", "2"][..],
    ] {
        let out = sc.run(owner, bad);
        assert_eq!(code(&out), 2, "{bad:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty());
    }
    let version = sc.go.served_version(&sc.gun, "root");

    let out = sc.ok(
        owner,
        &[
            "-o",
            "json",
            "key",
            "rotate",
            &sc.gun,
            "root",
            "--root-keys",
            "3",
            "--root-threshold",
            "2",
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["threshold"], 2, "{report:#}");
    assert_eq!(
        report["new_key_ids"].as_array().unwrap().len(),
        3,
        "{report:#}"
    );
    let root = sc.go.fetch_signed(&sc.gun, "root");
    assert_eq!(root["roles"]["root"]["threshold"], 2, "{root:#}");
    assert_eq!(root["roles"]["root"]["keyids"], report["new_key_ids"]);
    assert_eq!(sc.go.served_version(&sc.gun, "root"), version + 1);
    let raw: serde_json::Value = serde_json::from_slice(&sc.go.fetch_raw(&sc.gun, "root")).unwrap();
    assert_eq!(
        raw["signatures"].as_array().unwrap().len(),
        4,
        "signed by the old root key and all three new ones: {raw:#}"
    );

    // A rotation under the new root is signed by two of its keys.
    sc.ok(owner, &["key", "rotate", &sc.gun, "targets"]);
    let raw: serde_json::Value = serde_json::from_slice(&sc.go.fetch_raw(&sc.gun, "root")).unwrap();
    let signers: Vec<&str> = raw["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["keyid"].as_str().unwrap())
        .collect();
    let listed = report["new_key_ids"].as_array().unwrap();
    assert_eq!(
        signers
            .iter()
            .filter(|id| listed.iter().any(|l| l == **id))
            .count(),
        2,
        "a threshold of the root keys signs: {raw:#}"
    );
    // Back to one root key: signed by two old keys and the new one.
    sc.ok(owner, &["key", "rotate", &sc.gun, "root"]);
    assert_eq!(
        sc.go.fetch_signed(&sc.gun, "root")["roles"]["root"]["threshold"],
        1
    );

    // Everyone follows: the warm reader, the warm Go client, fresh ones.
    assert_eq!(sc.ok(&warm, &["get", &sc.image, "scan"]).stdout, SCAN);
    assert!(
        go_warm
            .list(&sc.gun)
            .iter()
            .any(|t| t.name.starts_with("scan/"))
    );
    sc.agrees_with_go(&TestEnv::new());
}

/// `init --root-keys 2 --root-threshold 2` creates a repository whose root lists two root
/// certificates, both required; it is read by a fresh Go client, rotations are signed by both,
/// and without one of them a rotation is refused (exit 8) with nothing published.
#[test]
fn init_with_two_root_keys_and_threshold_2_is_read_by_the_go_client_and_needs_both_to_rotate() {
    let s = crate::harness::stack(crate::harness::StackKind::Plain);
    let repo = crate::harness::unique_repo("lc-init-root2");
    s.push_image(&repo, "v1");
    let gun = format!("{}/{repo}", s.registry);
    let owner = TestEnv::new();
    let out = owner
        .signer_cmd()
        .args([
            "--server",
            &s.notary_url,
            "init",
            &gun,
            "--root-keys",
            "2",
            "--root-threshold",
            "2",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "init: {}", stderr(&out));
    let go = crate::go_notary::GoNotary::new(s);
    let root = go.fetch_signed(&gun, "root");
    assert_eq!(root["roles"]["root"]["threshold"], 2, "{root:#}");
    assert_eq!(root["roles"]["root"]["keyids"].as_array().unwrap().len(), 2);
    let raw: serde_json::Value = serde_json::from_slice(&go.fetch_raw(&gun, "root")).unwrap();
    assert_eq!(raw["signatures"].as_array().unwrap().len(), 2, "{raw:#}");
    assert!(
        go.list(&gun).is_empty(),
        "the Go client trusts the new repository"
    );
    let out = owner
        .signer_cmd()
        .args([
            "--server",
            &s.notary_url,
            "key",
            "rotate",
            &gun,
            "timestamp",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "rotate: {}", stderr(&out));
    let raw: serde_json::Value = serde_json::from_slice(&go.fetch_raw(&gun, "root")).unwrap();
    assert_eq!(raw["signatures"].as_array().unwrap().len(), 2, "{raw:#}");
    assert!(
        go.list(&gun).is_empty(),
        "the Go client follows the rotation"
    );
    let fresh = TestEnv::new();
    let out = fresh
        .cmd()
        .args(["--server", &s.notary_url, "trust", "inspect", &gun])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // With one of the two root keys gone from the store, a rotation is refused (exit 8, naming
    // what is missing) and nothing is published.
    let root_key_files: Vec<_> = std::fs::read_dir(owner.trust_dir().join("private"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::read_to_string(p).unwrap().contains("role: root"))
        .collect();
    assert_eq!(root_key_files.len(), 2, "{root_key_files:?}");
    std::fs::remove_file(&root_key_files[0]).unwrap();
    let version = go.served_version(&gun, "root");
    let out = owner
        .signer_cmd()
        .args(["--server", &s.notary_url, "key", "rotate", &gun, "snapshot"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(stderr(&out).contains("threshold 2"), "{}", stderr(&out));
    assert_eq!(
        go.served_version(&gun, "root"),
        version,
        "nothing published"
    );
    // A threshold above the number of keys is refused before anything is made.
    let other = TestEnv::new();
    let out = other
        .signer_cmd()
        .args([
            "--server",
            &s.notary_url,
            "init",
            &format!("{gun}-x"),
            "--root-keys",
            "1",
            "--root-threshold",
            "2",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(snapshot_dir(&other.trust_dir().join("private")).is_empty());
}

/// Root keys in different trust dirs: a root of two keys, threshold 2, with one key moved to
/// another trust dir. `key rotate REPO root --offline FILE` writes the new root signed by what
/// is held here; publishing it early is refused (exit 3, nothing published); `key sign-root
/// FILE` in the other trust dir adds the second signature; `key publish-root REPO FILE`
/// publishes it and every reader follows.
#[test]
fn an_offline_root_rotation_is_signed_in_two_trust_dirs_then_published() {
    let sc = scene("lc-root-offline");
    let owner = &sc.owner;
    let out = sc.put_as(owner, "scan", SCAN, &[]);
    assert_eq!(code(&out), 0, "put: {}", stderr(&out));
    let root_files = |env: &TestEnv| -> Vec<PathBuf> {
        let dir = env.trust_dir().join("private");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .map(|e| e.unwrap().path())
            .filter(|p| std::fs::read_to_string(p).unwrap().contains("role: root"))
            .collect()
    };
    let first = root_files(owner);
    sc.ok(
        owner,
        &[
            "key",
            "rotate",
            &sc.gun,
            "root",
            "--root-keys",
            "2",
            "--root-threshold",
            "2",
        ],
    );
    let warm = crate::go_notary::GoNotary::new(sc.s);
    warm.list(&sc.gun);
    let reader = TestEnv::new();
    sc.ok(&reader, &["get", &sc.image, "scan"]);

    // Move one of the two new root keys to another trust dir.
    let moved = root_files(owner)
        .into_iter()
        .find(|p| !first.contains(p))
        .unwrap();
    let other = TestEnv::new();
    let other_private = other.trust_dir().join("private");
    std::fs::create_dir_all(&other_private).unwrap();
    for dir in [other.trust_dir(), other_private.clone()] {
        let private = std::os::unix::fs::PermissionsExt::from_mode(0o700);
        std::fs::set_permissions(&dir, private).unwrap();
    }
    std::fs::copy(&moved, other_private.join(moved.file_name().unwrap())).unwrap();
    std::fs::remove_file(&moved).unwrap();
    let out = sc.run(owner, &["key", "rotate", &sc.gun, "timestamp"]);
    assert_eq!(
        code(&out),
        8,
        "one root key here is not enough: {}",
        stderr(&out)
    );

    let desk = tempfile::tempdir().unwrap();
    let file = desk.path().join("new-root.json");
    let file = file.to_str().unwrap();
    let out = sc.ok(
        owner,
        &["key", "rotate", &sc.gun, "root", "--offline", file],
    );
    assert!(stdout(&out).contains("key sign-root"), "{}", stdout(&out));
    let version = sc.go.served_version(&sc.gun, "root");
    let early = sc.run(owner, &["key", "publish-root", &sc.gun, file]);
    assert_eq!(code(&early), 3, "{}", stderr(&early));
    assert!(stdout(&early).is_empty());
    assert!(stderr(&early).contains("sign-root"), "{}", stderr(&early));
    assert_eq!(
        sc.go.served_version(&sc.gun, "root"),
        version,
        "nothing published"
    );

    let signed = sc.ok(&other, &["-o", "json", "key", "sign-root", file]);
    let report: serde_json::Value = serde_json::from_slice(&signed.stdout).unwrap();
    assert_eq!(report["added"].as_array().unwrap().len(), 1, "{report:#}");
    // Signing again adds nothing and says so.
    let again = sc.run(&other, &["key", "sign-root", file]);
    assert_eq!(code(&again), 8, "{}", stderr(&again));

    sc.ok(owner, &["key", "publish-root", &sc.gun, file]);
    assert_eq!(sc.go.served_version(&sc.gun, "root"), version + 1);
    assert_eq!(
        sc.go.fetch_signed(&sc.gun, "root")["roles"]["root"]["threshold"],
        1
    );
    // The new root key is here: rotations work again; everyone follows.
    sc.ok(owner, &["key", "rotate", &sc.gun, "timestamp"]);
    assert_eq!(sc.ok(&reader, &["get", &sc.image, "scan"]).stdout, SCAN);
    assert!(
        warm.list(&sc.gun)
            .iter()
            .any(|t| t.name.starts_with("scan/"))
    );
    sc.agrees_with_go(&TestEnv::new());
}

#[test]
fn adding_a_key_to_a_threshold_2_delegation_keeps_threshold_2() {
    let sc = scene("lc-keep-threshold");
    let (_a, a_pem) = sc.signer("a");
    let (_b, b_pem) = sc.signer("b");
    let (_c, c_pem) = sc.signer("c");
    let owner = &sc.owner;
    let add = |pems: &[&PathBuf], extra: &[&str]| {
        let mut args = vec!["delegate", "add", &sc.gun, "qa", "--type", "approvals"];
        for pem in pems {
            args.push("--key");
            args.push(pem.to_str().unwrap());
        }
        args.extend_from_slice(extra);
        sc.ok(owner, &args)
    };
    let threshold = || {
        let out = sc.ok(owner, &["-o", "json", "delegate", "list", &sc.gun]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let qa = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["role"] == "targets/qa")
            .cloned()
            .expect("targets/qa is listed");
        (
            qa["threshold"].as_u64().unwrap(),
            qa["key_ids"].as_array().map_or(0, Vec::len),
        )
    };
    add(&[&a_pem, &b_pem], &["--threshold", "2"]);
    assert_eq!(threshold(), (2, 2));
    // A third key without --threshold: the delegation keeps its threshold of 2.
    add(&[&c_pem], &[]);
    assert_eq!(
        threshold(),
        (2, 3),
        "adding a key must not lower the threshold"
    );
    // An explicit threshold the keys cannot meet is refused, and nothing changes.
    let out = sc
        .owner
        .signer_cmd()
        .args(["--server", &sc.notary_url, "delegate", "add", &sc.gun, "qa"])
        .args([
            "--type",
            "approvals",
            "--key",
            c_pem.to_str().unwrap(),
            "--threshold",
            "4",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert_eq!(threshold(), (2, 3));
}
