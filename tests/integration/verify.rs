//! `verify`, the gate, against the real notary-server and docker-registry: one test per status,
//! each checking the exit code and the JSON verdict (docs/verdict.md).

use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;

use serde_json::Value;

use crate::go_notary::GoNotary;
use crate::harness::{TestEnv, code, stderr, stdout, unique_repo};
use crate::hostile::{Reply, tampering_proxy};
use crate::scene::{self, Owner};

/// One repository with a pushed image (`v1`) and an owner who ran `manifesto init`.
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
    fn run_on(&self, env: &TestEnv, server: &str, args: &[&str]) -> Output {
        self.run_on_at(env, None, server, args)
    }

    /// [`Scene::run_on`] with the client's clock moved by `clock` (libfaketime offset).
    fn run_on_at(&self, env: &TestEnv, clock: Option<&str>, server: &str, args: &[&str]) -> Output {
        let mut cmd = env.signer_cmd();
        if let Some(offset) = clock {
            crate::clock::at_clock(&mut cmd, offset);
        }
        cmd.args(["--server", server]).args(args).output().unwrap()
    }

    fn ok(&self, env: &TestEnv, args: &[&str]) -> Output {
        let out = self.run_on(env, &self.s.notary_url, args);
        assert_eq!(code(&out), 0, "manifesto {args:?}: {}", stderr(&out));
        out
    }

    /// `put` `content` as `env` (extra flags such as `--role qa`).
    fn put_as(&self, env: &TestEnv, image: &str, ty: &str, content: &[u8], extra: &[&str]) {
        let file = env.home.path().join(format!("{ty}.json"));
        std::fs::write(&file, content).unwrap();
        let mut args = vec!["put", image, ty, file.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.ok(env, &args);
    }

    fn put(&self, ty: &str, content: &[u8]) {
        self.put_as(&self.owner, &self.image, ty, content, &[]);
    }

    /// `verify -o json IMAGES --require SPECS` through `server`: (exit code, verdict).
    fn verify_on(
        &self,
        env: &TestEnv,
        server: &str,
        images: &[&str],
        specs: &[&str],
    ) -> (i32, Value) {
        self.verify_on_at(env, None, server, images, specs)
    }

    /// `verify` of the scene's image with the client's clock moved by `clock`.
    fn verify_at(&self, clock: &str, specs: &[&str]) -> (i32, Value) {
        self.verify_on_at(
            &self.owner,
            Some(clock),
            &self.s.notary_url,
            &[&self.image],
            specs,
        )
    }

    fn verify_on_at(
        &self,
        env: &TestEnv,
        clock: Option<&str>,
        server: &str,
        images: &[&str],
        specs: &[&str],
    ) -> (i32, Value) {
        let mut args = vec!["-o", "json", "verify"];
        args.extend_from_slice(images);
        for spec in specs {
            args.extend(["--require", spec]);
        }
        let out = self.run_on_at(env, clock, server, &args);
        let verdict: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "verify -o json prints a verdict ({e}); stdout: {} stderr: {}",
                stdout(&out),
                stderr(&out)
            )
        });
        assert_eq!(
            verdict["exit_code"].as_i64(),
            Some(code(&out) as i64),
            "the verdict carries the exit code"
        );
        assert_eq!(verdict["ok"], code(&out) == 0);
        (code(&out), verdict)
    }

    fn verify(&self, specs: &[&str]) -> (i32, Value) {
        self.verify_on(&self.owner, &self.s.notary_url, &[&self.image], specs)
    }

    /// A delegate `targets/<name>` with its own key in its own home, allowed to sign approvals.
    fn delegate(&self, name: &str) -> TestEnv {
        let env = TestEnv::new();
        let public: PathBuf = env.home.path().join(format!("{name}.pem"));
        let out = env
            .signer_cmd()
            .args(["key", "generate", "--role", &format!("targets/{name}")])
            .arg("--public-out")
            .arg(&public)
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "key generate: {}", stderr(&out));
        self.ok(
            &self.owner,
            &[
                "delegate",
                "add",
                &self.gun,
                name,
                "--key",
                public.to_str().unwrap(),
                "--type",
                "approvals",
            ],
        );
        env
    }
}

fn approval(sc: &Scene) -> Vec<u8> {
    format!(r#"{{"approved":true,"image":"{}"}}"#, sc.digest).into_bytes()
}

/// The statuses of the first image's requirements.
fn statuses(verdict: &Value) -> Vec<String> {
    statuses_of(&verdict["images"][0])
}

fn statuses_of(image: &Value) -> Vec<String> {
    image["requirements"]
        .as_array()
        .unwrap_or_else(|| panic!("requirements is an array: {image}"))
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_fresh_approval_and_scan_pass_with_exit_0_and_the_verdict_names_roles_and_times() {
    let sc = scene("vf-ok");
    sc.put("approvals", &approval(&sc));
    sc.put("scan", br#"{"findings":[]}"#);
    let (rc, v) = sc.verify(&["approvals", "scan,role=targets,max-age=1h"]);
    assert_eq!(rc, 0, "{v:#}");
    assert_eq!(v["ok"], true);
    let image = &v["images"][0];
    assert_eq!(image["image"], sc.image);
    assert_eq!(image["image_digest"], sc.digest);
    assert_eq!(image["exit_code"], 0);
    assert_eq!(statuses(&v), ["ok", "ok"]);
    for r in image["requirements"].as_array().unwrap() {
        assert_eq!(r["exit_code"], 0);
        assert_eq!(r["roles"], serde_json::json!(["targets"]));
        assert!(r["created_at"].as_str().unwrap().ends_with('Z'), "{r}");
        assert!(r["blob_digest"].as_str().unwrap().starts_with("sha256:"));
        assert_eq!(r["signers"][0]["role"], "targets");
    }
    assert_eq!(
        image["requirements"][1]["requirement"],
        "scan,role=targets,max-age=1h"
    );
    assert_eq!(image["requirements"][1]["type"], "scan");

    // The text table: one row per requirement and a PASS line.
    let out = sc.ok(
        &sc.owner,
        &[
            "verify",
            &sc.image,
            "--require",
            "approvals",
            "--require",
            "scan",
        ],
    );
    let text = stdout(&out);
    assert!(
        text.contains("REQUIREMENT") && text.contains("STATUS"),
        "{text}"
    );
    assert!(text.contains("PASS"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains(" ok ")).count(),
        2,
        "{text}"
    );
}

#[test]
fn metadata_nobody_signed_is_missing_exit_10() {
    let sc = scene("vf-missing");
    sc.put("scan", br#"{"findings":[]}"#);
    let (rc, v) = sc.verify(&["approvals", "scan"]);
    assert_eq!(rc, 10, "{v:#}");
    assert_eq!(statuses(&v), ["missing", "ok"]);
    assert_eq!(v["images"][0]["requirements"][0]["exit_code"], 10);
    let out = sc.run_on(
        &sc.owner,
        &sc.s.notary_url,
        &["verify", &sc.image, "--require", "approvals"],
    );
    assert_eq!(code(&out), 10);
    assert!(stdout(&out).contains("FAIL (exit 10)"), "{}", stdout(&out));
    assert!(stderr(&out).contains("do not meet"), "{}", stderr(&out));
}

#[test]
fn an_approval_signed_only_by_the_owner_is_unauthorized_signer_for_role_qa_exit_10() {
    let sc = scene("vf-unauth");
    let _qa = sc.delegate("qa");
    sc.put("approvals", &approval(&sc));
    let (rc, v) = sc.verify(&["approvals,role=qa"]);
    assert_eq!(rc, 10, "{v:#}");
    assert_eq!(statuses(&v), ["unauthorized-signer"]);
    let r = &v["images"][0]["requirements"][0];
    assert_eq!(r["signers"][0]["role"], "targets");
    assert!(r["reason"].as_str().unwrap().contains("targets/qa"), "{r}");
    // The owner is accepted when role= names it among the alternatives.
    let (rc, v) = sc.verify(&["approvals,role=qa|targets"]);
    assert_eq!(rc, 0, "{v:#}");
}

#[test]
fn two_qa_delegates_satisfy_min_signers_2_and_one_role_does_not_even_twice() {
    let sc = scene("vf-signers");
    let qa1 = sc.delegate("qa1");
    let qa2 = sc.delegate("qa2");
    let bytes = approval(&sc);

    sc.put_as(&qa1, &sc.image, "approvals", &bytes, &["--role", "qa1"]);
    let (rc, v) = sc.verify(&["approvals,min-signers=2", "approvals,min-signers=1"]);
    assert_eq!(rc, 10, "{v:#}");
    assert_eq!(statuses(&v), ["insufficient-signers", "ok"]);

    // The same role signing again (and the owner signing the same bytes) does not make two.
    sc.put_as(&qa1, &sc.image, "approvals", &bytes, &["--role", "qa1"]);
    sc.put("approvals", &bytes);
    let (rc, v) = sc.verify(&["approvals,min-signers=2"]);
    assert_eq!(rc, 10, "{v:#}");
    assert_eq!(statuses(&v), ["insufficient-signers"]);
    let r = &v["images"][0]["requirements"][0];
    assert_eq!(r["roles"], serde_json::json!(["targets/qa1"]), "{r}");
    assert_eq!(
        r["signers"].as_array().unwrap().len(),
        2,
        "targets and qa1: {r}"
    );

    sc.put_as(&qa2, &sc.image, "approvals", &bytes, &["--role", "qa2"]);
    let (rc, v) = sc.verify(&[
        "approvals,min-signers=2",
        "approvals,role=qa1|qa2,min-signers=2,max-age=1h",
    ]);
    assert_eq!(rc, 0, "{v:#}");
    for r in v["images"][0]["requirements"].as_array().unwrap() {
        assert_eq!(r["status"], "ok");
        assert_eq!(
            r["roles"],
            serde_json::json!(["targets/qa1", "targets/qa2"]),
            "{r}"
        );
    }
    // Three are not there.
    let (rc, v) = sc.verify(&["approvals,min-signers=3"]);
    assert_eq!(rc, 10, "{v:#}");
}

#[test]
fn a_scan_older_than_max_age_is_stale_exit_4_and_an_unmet_requirement_outranks_it() {
    let sc = scene("vf-stale");
    sc.put("scan", br#"{"findings":[]}"#);
    // Two hours on (faked clock), the scan is older than a one-hour max-age.
    let (rc, v) = sc.verify(&["scan,max-age=1h"]);
    assert_eq!(rc, 0, "fresh within the hour: {v:#}");
    let (rc, v) = sc.verify_at("+7200", &["scan,max-age=1h"]);
    assert_eq!(rc, 4, "{v:#}");
    assert_eq!(statuses(&v), ["stale"]);
    let r = &v["images"][0]["requirements"][0];
    assert!(r["reason"].as_str().unwrap().contains("max-age"), "{r}");
    assert!(r["created_at"].is_string(), "{r}");
    // Stale (4) and missing (10) on one image: the unmet requirement is the more severe.
    let (rc, v) = sc.verify_at("+7200", &["scan,max-age=1h", "approvals"]);
    assert_eq!(rc, 10, "{v:#}");
    assert_eq!(statuses(&v), ["stale", "missing"]);
    assert_eq!(v["images"][0]["exit_code"], 10);
}

#[test]
fn several_images_in_one_run_each_get_a_verdict_and_one_failing_fails_the_run() {
    let sc = scene("vf-many");
    let digest2 = sc.s.push_image(&sc.repo, "v2");
    let image2 = sc.s.image(&sc.repo, "v2");
    let image3 = sc.s.image(&sc.repo, &sc.digest);
    sc.put("approvals", &approval(&sc));
    // An image in a repository without trust data: missing, not-found's exit 9.
    let other = unique_repo("vf-many-other");
    sc.s.push_image(&other, "v1");
    let image4 = sc.s.image(&other, "v1");
    let (rc, v) = sc.verify_on(
        &sc.owner,
        &sc.s.notary_url,
        &[&sc.image, &image2, &image3, &image4],
        &["approvals"],
    );
    assert_eq!(rc, 10, "{v:#}");
    let images = v["images"].as_array().unwrap();
    assert_eq!(images.len(), 4, "one verdict per image, in order");
    assert_eq!(images[0]["image"], sc.image);
    assert_eq!(statuses_of(&images[0]), ["ok"]);
    assert_eq!(images[1]["image"], image2);
    assert_eq!(images[1]["image_digest"], digest2);
    assert_eq!(statuses_of(&images[1]), ["missing"]);
    assert_eq!(images[1]["exit_code"], 10);
    assert_eq!(
        images[2]["image_digest"], sc.digest,
        "by digest, the same image"
    );
    assert_eq!(statuses_of(&images[2]), ["ok"]);
    assert_eq!(statuses_of(&images[3]), ["missing"]);
    assert_eq!(images[3]["exit_code"], 9, "{:#}", images[3]);
    let (rc, _) = sc.verify_on(
        &sc.owner,
        &sc.s.notary_url,
        &[&sc.image, &image3],
        &["approvals"],
    );
    assert_eq!(rc, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_timestamp_is_rollback_exit_5_for_every_requirement() {
    let (sc, old) = tokio::task::spawn_blocking(|| {
        let sc = scene("vf-rollback");
        sc.put("approvals", &approval(&sc));
        let old = GoNotary::new(sc.s).fetch_raw(&sc.gun, "timestamp");
        sc.put("scan", br#"{"findings":[]}"#);
        let (rc, v) = sc.verify(&["approvals", "scan"]);
        assert_eq!(rc, 0, "the honest server passes: {v:#}");
        (sc, Arc::new(old))
    })
    .await
    .unwrap();
    let proxy = tampering_proxy(&sc.s.notary_url, move |path, status, body| {
        if path.ends_with("/_trust/tuf/timestamp.json") {
            Reply::Full(200, vec![], old.to_vec())
        } else {
            Reply::Full(status, vec![], body)
        }
    })
    .await;
    let url = proxy.url.clone();
    tokio::task::spawn_blocking(move || {
        let (rc, v) = sc.verify_on(&sc.owner, &url, &[&sc.image], &["approvals", "scan"]);
        assert_eq!(rc, 5, "{v:#}");
        assert_eq!(statuses(&v), ["rollback", "rollback"]);
        assert_eq!(v["images"][0]["image_digest"], sc.digest);
        let reason = v["images"][0]["requirements"][0]["reason"]
            .as_str()
            .unwrap();
        assert!(reason.contains("older than"), "{reason}");
        let (rc, _) = sc.verify(&["approvals", "scan"]);
        assert_eq!(rc, 0, "the honest server is still trusted afterwards");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_is_unavailable_exit_6_never_a_pass() {
    let sc = tokio::task::spawn_blocking(|| {
        let sc = scene("vf-down");
        sc.put("approvals", &approval(&sc));
        sc
    })
    .await
    .unwrap();
    let proxy = tampering_proxy(&sc.s.notary_url, |_, _, _| {
        Reply::Full(503, vec![], b"down".to_vec())
    })
    .await;
    let url = proxy.url.clone();
    tokio::task::spawn_blocking(move || {
        // The owner's cache trusts the repository; a fresh client trusts nothing yet.
        for env in [&sc.owner, &TestEnv::new()] {
            for server in [url.as_str(), "http://127.0.0.1:1"] {
                let (rc, v) = sc.verify_on(env, server, &[&sc.image], &["approvals"]);
                assert_eq!(rc, 6, "{server}: {v:#}");
                assert_eq!(statuses(&v), ["unavailable"], "{server}");
                assert_eq!(v["ok"], false);
                assert_eq!(v["images"][0]["ok"], false);
            }
        }
    })
    .await
    .unwrap();
}

#[test]
fn bad_specs_and_policy_files_exit_2_before_any_network_access() {
    let env = TestEnv::new();
    for (args, needle) in [
        (
            vec![
                "verify",
                "127.0.0.1:1/x/y:v1",
                "--require",
                "approvals,min-signers=0",
            ],
            "min-signers",
        ),
        (
            vec![
                "verify",
                "127.0.0.1:1/x/y:v1",
                "--require",
                "approvals,owner=qa",
            ],
            "unknown key",
        ),
        (
            vec!["verify", "127.0.0.1:1/x/y:v1", "--require", "Approvals"],
            "invalid metadata type",
        ),
        (vec!["verify", "127.0.0.1:1/x/y:v1"], "--require"),
        (
            vec!["verify", "127.0.0.1:1/x/y:v1", "--policy", "missing.yaml"],
            "cannot read it",
        ),
    ] {
        let out = env.cmd().args(&args).output().unwrap();
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}

/// Content rules in the style of fixtures/policy/gate.yaml, without role or age limits.
const RULES: &str = r#"package manifesto

deny contains msg if {
  some finding in input.metadata.scan.findings
  finding.severity == "CRITICAL"
  msg := sprintf("scan has a CRITICAL finding: %s", [finding.id])
}

deny contains msg if {
  input.metadata.approvals.status != "approved"
  msg := "not approved"
}
"#;

/// A YAML policy requiring approvals and scan for every image, with [`RULES`] and `extra`
/// appended (e.g. a `repositories:` section).
fn yaml_policy(env: &TestEnv, extra: &str) -> String {
    let indented: String = RULES.lines().map(|l| format!("  {l}\n")).collect();
    let text = format!(
        "requirements:\n  - type: approvals\n  - type: scan\n    max_age: 1h\n{extra}rules: |\n{indented}"
    );
    let path = env.home.path().join("policy.yaml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn json_policy(env: &TestEnv) -> String {
    let text = serde_json::json!({
        "requirements": [{"type": "approvals"}, {"type": "scan", "max_age": "1h"}],
        "rules": RULES,
    });
    let path = env.home.path().join("policy.json");
    std::fs::write(&path, text.to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

impl Scene {
    /// `verify -o json IMAGE --policy FILE [extra]`: (exit code, verdict).
    fn verify_policy(&self, policy: &str, extra: &[&str]) -> (i32, Value) {
        let mut args = vec!["-o", "json", "verify", &self.image, "--policy", policy];
        args.extend_from_slice(extra);
        let out = self.run_on(&self.owner, &self.s.notary_url, &args);
        let verdict: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("a verdict ({e}): {} {}", stdout(&out), stderr(&out)));
        assert_eq!(verdict["exit_code"].as_i64(), Some(code(&out) as i64));
        (code(&out), verdict)
    }
}

fn reasons(verdict: &Value) -> Vec<String> {
    verdict["images"][0]["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_rego_rule_denying_a_critical_finding_is_exit_10_with_the_rules_message() {
    let sc = scene("vf-rego-deny");
    sc.put("approvals", br#"{"status":"approved"}"#);
    sc.put(
        "scan",
        br#"{"findings":[{"id":"CVE-2026-0001","severity":"CRITICAL"},{"id":"CVE-2","severity":"LOW"}]}"#,
    );
    for policy in [yaml_policy(&sc.owner, ""), json_policy(&sc.owner)] {
        let (rc, v) = sc.verify_policy(&policy, &[]);
        assert_eq!(rc, 10, "{policy}: {v:#}");
        assert_eq!(statuses(&v), ["ok", "ok", "policy-denied"], "{v:#}");
        let denied = &v["images"][0]["requirements"][2];
        assert_eq!(denied["requirement"], "policy");
        assert_eq!(denied["exit_code"], 10);
        assert_eq!(
            denied["reason"],
            "scan has a CRITICAL finding: CVE-2026-0001"
        );
    }
    // The text output names the rule's message too.
    let policy = yaml_policy(&sc.owner, "");
    let out = sc.run_on(
        &sc.owner,
        &sc.s.notary_url,
        &["verify", &sc.image, "--policy", &policy],
    );
    assert_eq!(code(&out), 10, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("policy-denied: scan has a CRITICAL finding: CVE-2026-0001"),
        "{text}"
    );
    assert!(text.contains("FAIL (exit 10)"), "{text}");
}

#[test]
fn a_clean_scan_and_an_approved_approval_pass_and_policy_combines_with_require() {
    let sc = scene("vf-rego-ok");
    sc.put("approvals", br#"{"status":"approved"}"#);
    sc.put("scan", br#"{"findings":[{"id":"CVE-2","severity":"LOW"}]}"#);
    for policy in [yaml_policy(&sc.owner, ""), json_policy(&sc.owner)] {
        let (rc, v) = sc.verify_policy(&policy, &[]);
        assert_eq!(rc, 0, "{policy}: {v:#}");
        assert_eq!(statuses(&v), ["ok", "ok", "ok"], "{v:#}");
        assert!(reasons(&v)[2].contains("2 metadata type(s) read"), "{v:#}");
    }
    // --require adds to the policy: an unmet one fails the run.
    let policy = yaml_policy(&sc.owner, "");
    let (rc, v) = sc.verify_policy(&policy, &["--require", "sbom"]);
    assert_eq!(rc, 10, "{v:#}");
    assert_eq!(statuses(&v), ["missing", "ok", "ok", "ok"], "{v:#}");
    // An approval that is not approved: the second rule denies it.
    sc.put("approvals", br#"{"status":"rejected"}"#);
    let (rc, v) = sc.verify_policy(&policy, &[]);
    assert_eq!(rc, 10, "{v:#}");
    assert_eq!(reasons(&v)[2], "not approved");
}

#[test]
fn non_json_content_reaches_the_rules_as_a_string() {
    let sc = scene("vf-rego-text");
    sc.put("approvals", b"approved by alice\n");
    sc.put("scan", br#"{"findings":[]}"#);
    let path = sc.owner.home.path().join("text.yaml");
    std::fs::write(
        &path,
        "requirements:\n  - type: approvals\n  - type: scan\nrules: |\n  package manifesto\n  deny contains msg if {\n    not startswith(input.metadata.approvals, \"approved\")\n    msg := \"not approved\"\n  }\n",
    )
    .unwrap();
    let (rc, v) = sc.verify_policy(path.to_str().unwrap(), &[]);
    assert_eq!(rc, 0, "{v:#}");
    sc.put("approvals", b"rejected\n");
    let (rc, v) = sc.verify_policy(path.to_str().unwrap(), &[]);
    assert_eq!(rc, 10, "{v:#}");
    assert_eq!(reasons(&v)[2], "not approved");
}

#[test]
fn a_repository_pattern_adds_requirements_only_to_matching_repositories() {
    let sc = scene("vf-rego-repo");
    sc.put("approvals", br#"{"status":"approved"}"#);
    sc.put("scan", br#"{"findings":[]}"#);
    let extra = format!(
        "repositories:\n  \"{}/test/vf-rego-repo-*\":\n    - type: sbom\n  \"{}/other/*\":\n    - type: seccomp\n",
        sc.s.registry, sc.s.registry
    );
    let policy = yaml_policy(&sc.owner, &extra);
    let (rc, v) = sc.verify_policy(&policy, &[]);
    assert_eq!(rc, 10, "{v:#}");
    assert_eq!(statuses(&v), ["ok", "ok", "missing", "ok"], "{v:#}");
    assert_eq!(v["images"][0]["requirements"][2]["type"], "sbom");
    sc.put("sbom", br#"{"packages":[]}"#);
    let (rc, v) = sc.verify_policy(&policy, &[]);
    assert_eq!(rc, 0, "{v:#}");
    assert_eq!(statuses(&v), ["ok", "ok", "ok", "ok"], "{v:#}");
}

#[test]
fn a_policy_with_a_rego_syntax_error_is_exit_2_before_any_network_access() {
    let env = TestEnv::new();
    for (name, text, needle) in [
        (
            "syntax.yaml",
            "requirements:\n  - type: scan\nrules: |\n  package manifesto\n  deny contains msg if {\n    msg := \n",
            "do not parse",
        ),
        (
            "package.json",
            r#"{"rules": "package other\ndeny contains \"x\" if { true }\n"}"#,
            "package manifesto",
        ),
        (
            "fields.yaml",
            "requirement:\n  - type: scan\n",
            "unknown field",
        ),
    ] {
        let path = env.home.path().join(name);
        std::fs::write(&path, text).unwrap();
        // 127.0.0.1:1 refuses connections: an exit 2 proves nothing was contacted first.
        let args = [
            "--server",
            "http://127.0.0.1:1",
            "verify",
            "127.0.0.1:1/x/y:v1",
            "--policy",
            path.to_str().unwrap(),
        ];
        let out = env.cmd().args(args).output().unwrap();
        assert_eq!(code(&out), 2, "{name}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{name}: {}", stdout(&out));
        assert!(stderr(&out).contains(needle), "{name}: {}", stderr(&out));
    }
}

#[test]
fn an_expired_targets_role_is_expired_exit_4_for_every_requirement() {
    let sc = scene("vf-expired");
    sc.put("approvals", br#"{"status":"approved"}"#);
    let out = sc
        .owner
        .signer_cmd()
        .args([
            "--server",
            &sc.s.notary_url,
            "key",
            "rotate",
            &sc.gun,
            "targets",
            "--targets-expires",
            "1h",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "rotate: {}", stderr(&out));
    let (rc, v) = sc.verify(&["approvals"]);
    assert_eq!(rc, 0, "unexpired within the hour: {v:#}");
    // Two hours on (faked clock), the targets role has expired.
    let (rc, v) = sc.verify_at("+7200", &["approvals", "scan"]);
    assert_eq!(rc, 4, "{v:#}");
    assert_eq!(statuses(&v), ["expired", "expired"], "{v:#}");
}

#[test]
fn a_blob_tampered_before_the_rules_read_it_is_untrusted_exit_3() {
    let sc = scene("vf-tampered-blob");
    sc.put("approvals", br#"{"status":"approved"}"#);
    let scan = format!("{{\"findings\":[],\"repo\":\"{}\"}}", sc.repo);
    sc.put("scan", scan.as_bytes());
    let blob = format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(&ring::digest::SHA256, scan.as_bytes()))
    );
    crate::harness::flip_first_byte(&sc.s.blob_data_path(&blob));
    let (rc, v) = sc.verify_policy(&yaml_policy(&sc.owner, ""), &[]);
    assert_eq!(rc, 3, "the rules never see unverified bytes: {v:#}");
    assert!(statuses(&v).contains(&"untrusted".to_string()), "{v:#}");
    assert_eq!(v["ok"], false);
}

/// A rule over every signer: each counted signature's content must approve.
const EVERY_SIGNER: &str = "requirements:\n  - type: approvals\nrules: |\n  package manifesto\n  deny contains msg if {\n    some s in input.signed.approvals\n    s.content.status != \"approved\"\n    msg := sprintf(\"%s did not approve (signed %s)\", [s.role, s.created_at])\n  }\n  deny contains msg if {\n    input.metadata.approvals.status != \"approved\"\n    msg := \"the first signer did not approve\"\n  }\n";

#[test]
fn disagreeing_signers_reach_the_policy_as_input_signed_and_the_dissenting_role_is_denied() {
    let sc = scene("vf-disagree");
    let qa1 = sc.delegate("qa1");
    let qa2 = sc.delegate("qa2");
    sc.put_as(
        &qa1,
        &sc.image,
        "approvals",
        br#"{"status":"approved"}"#,
        &["--role", "qa1"],
    );
    let path = sc.owner.home.path().join("every.yaml");
    std::fs::write(&path, EVERY_SIGNER).unwrap();
    let policy = path.to_str().unwrap();
    let (rc, v) = sc.verify_policy(policy, &[]);
    assert_eq!(rc, 0, "one signer, who approved: {v:#}");

    sc.put_as(
        &qa2,
        &sc.image,
        "approvals",
        br#"{"status":"rejected"}"#,
        &["--role", "qa2"],
    );
    let (rc, v) = sc.verify_policy(policy, &[]);
    assert_eq!(rc, 10, "{v:#}");
    assert_eq!(statuses(&v), ["ok", "policy-denied"], "{v:#}");
    let reason = &reasons(&v)[1];
    assert!(
        reason.starts_with("targets/qa2 did not approve (signed 20"),
        "{reason}"
    );
    // input.metadata follows the precedence: the first role in delegation order (qa1) approved.
    assert!(
        !reasons(&v).iter().any(|r| r.contains("first signer")),
        "{v:#}"
    );

    // role= narrows what input.signed holds: only qa1 counts, so nothing is denied.
    let only_qa1 = EVERY_SIGNER.replace("- type: approvals", "- type: approvals\n    role: qa1");
    std::fs::write(&path, only_qa1).unwrap();
    let (rc, v) = sc.verify_policy(policy, &[]);
    assert_eq!(rc, 0, "{v:#}");
}

#[test]
fn get_follows_the_first_signer_when_roles_disagree_and_names_the_dissenting_role_on_stderr() {
    let sc = scene("get-disagree");
    let qa1 = sc.delegate("qa1");
    let qa2 = sc.delegate("qa2");
    sc.put_as(
        &qa1,
        &sc.image,
        "approvals",
        br#"{"status":"approved"}"#,
        &["--role", "qa1"],
    );
    let out = sc.ok(&sc.owner, &["get", &sc.image, "approvals"]);
    assert!(
        !stderr(&out).contains("warning"),
        "they agree: {}",
        stderr(&out)
    );

    sc.put_as(
        &qa2,
        &sc.image,
        "approvals",
        br#"{"status":"rejected"}"#,
        &["--role", "qa2"],
    );
    let out = sc.ok(&sc.owner, &["get", &sc.image, "approvals"]);
    assert_eq!(out.stdout, br#"{"status":"approved"}"#, "qa1 comes first");
    let err = stderr(&out);
    assert!(
        err.contains("warning: targets/qa2 signs other approvals content")
            && err.contains("following targets/qa1")
            && err.contains("--signed-by"),
        "{err}"
    );
    let out = sc.ok(&sc.owner, &["-o", "json", "get", &sc.image, "approvals"]);
    let report = crate::schema::assert_conforms("get", &out.stdout);
    assert_eq!(report["role"], "targets/qa1");
    assert_eq!(
        report["dissenting_roles"],
        serde_json::json!(["targets/qa2"])
    );

    let out = sc.ok(
        &sc.owner,
        &["get", "--signed-by", "qa2", &sc.image, "approvals"],
    );
    assert_eq!(out.stdout, br#"{"status":"rejected"}"#);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}
