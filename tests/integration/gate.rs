//! The gate at fleet scale (issue 15) against the real notary-server and docker-registry:
//! `verify REPO --all-tags`, `list --all --type`, signed tags (Docker Content Trust tag targets
//! signed with the Go `notary` client) and `get` under a policy.

use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::harness::{Stack, TestEnv, code, stderr, stdout};
use crate::scene::{self, Owner, Scene, snapshot_dir};

/// `manifesto --server <the scene's> ARGS` as `env`.
fn run(sc: &Scene, env: &TestEnv, args: &[&str]) -> Output {
    env.signer_cmd()
        .args(["--server", &sc.notary_url])
        .args(args)
        .output()
        .unwrap()
}

fn ok(sc: &Scene, env: &TestEnv, args: &[&str]) -> Output {
    let out = run(sc, env, args);
    assert_eq!(code(&out), 0, "manifesto {args:?}: {}", stderr(&out));
    out
}

fn put(sc: &Scene, image: &str, ty: &str, content: &[u8]) {
    let file = scene::content_file(&sc.owner, content);
    ok(sc, &sc.owner, &["put", image, ty, file.to_str().unwrap()]);
}

/// `-o json ARGS`: (exit code, the JSON on stdout).
fn json_of(sc: &Scene, env: &TestEnv, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["-o", "json"];
    all.extend_from_slice(args);
    let out = run(sc, env, &all);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?} prints JSON ({e}): {} / {}",
            stdout(&out),
            stderr(&out)
        )
    });
    (code(&out), v)
}

/// `curl` against the plain registry: the body, or a panic naming the failure.
fn curl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-fsS", "--noproxy", "*", "--max-time", "30"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn manifest(s: &Stack, repo: &str, tag: &str) -> Vec<u8> {
    let url = format!("{}/v2/{repo}/manifests/{tag}", s.registry_url);
    curl(&["-H", &format!("Accept: {OCI_MANIFEST}"), &url])
}

/// Point `tag` at the manifest `to` names, as anyone with registry write access can.
fn move_tag(s: &Stack, repo: &str, tag: &str, to: &str) {
    let bytes = manifest(s, repo, to);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &bytes).unwrap();
    let url = format!("{}/v2/{repo}/manifests/{tag}", s.registry_url);
    curl(&[
        "-X",
        "PUT",
        "-H",
        &format!("Content-Type: {OCI_MANIFEST}"),
        "--data-binary",
        &format!("@{}", file.path().display()),
        &url,
    ]);
}

#[test]
fn verify_all_tags_checks_every_tag_and_fails_for_the_tags_lacking_the_requirement() {
    let sc = Scene::new("gate-all-tags", Owner::Manifesto, false);
    let v2 = sc.s.push_image(&sc.repo, "v2");
    sc.s.push_image(&sc.repo, "v3");
    put(&sc, &sc.image, "approvals", br#"{"status":"approved"}"#);
    put(
        &sc,
        &sc.s.image(&sc.repo, "v3"),
        "approvals",
        br#"{"status":"approved"}"#,
    );
    // The put wrote the _manifesto index tag: it is not an image and is not verified.
    let (rc, v) = json_of(
        &sc,
        &sc.owner,
        &["verify", &sc.gun, "--all-tags", "--require", "approvals"],
    );
    assert_eq!(rc, 10, "v2 lacks an approval: {v:#}");
    let images: Vec<(String, String, bool)> = v["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["image"].as_str().unwrap().to_string(),
                i["requirements"][0]["status"].as_str().unwrap().to_string(),
                i["tag"]["signed"].as_bool().unwrap(),
            )
        })
        .collect();
    let g = &sc.gun;
    assert_eq!(
        images,
        [
            (format!("{g}:v1"), "ok".into(), false),
            (format!("{g}:v2"), "missing".into(), false),
            (format!("{g}:v3"), "ok".into(), false),
        ],
        "{v:#}"
    );
    assert_eq!(v["images"][1]["image_digest"], v2.as_str());
    assert_eq!(v["images"][1]["exit_code"], 10);
    crate::schema::assert_conforms("verify", &serde_json::to_vec(&v).unwrap());

    // Every tag approved: exit 0.
    put(
        &sc,
        &sc.s.image(&sc.repo, "v2"),
        "approvals",
        br#"{"status":"approved"}"#,
    );
    let (rc, v) = json_of(
        &sc,
        &sc.owner,
        &["verify", &sc.gun, "--all-tags", "--require", "approvals"],
    );
    assert_eq!(rc, 0, "{v:#}");
    assert_eq!(v["images"].as_array().unwrap().len(), 3);

    // A repository nobody pushed to has no tags: not found, never a pass.
    let empty = format!(
        "{}/{}",
        sc.s.registry,
        crate::harness::unique_repo("gate-no-tags")
    );
    let out = run(
        &sc,
        &sc.owner,
        &["verify", &empty, "--all-tags", "--require", "approvals"],
    );
    assert_eq!(code(&out), 9, "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

#[test]
fn list_all_type_lists_only_the_images_with_that_type_as_json_items() {
    let sc = Scene::new("gate-list-type", Owner::Manifesto, false);
    let v2 = sc.s.push_image(&sc.repo, "v2");
    sc.s.push_image(&sc.repo, "v3");
    put(&sc, &sc.image, "approvals", br#"{"status":"approved"}"#);
    put(&sc, &sc.image, "safe-to-prune", b"true");
    put(&sc, &sc.s.image(&sc.repo, "v2"), "safe-to-prune", b"true");
    put(
        &sc,
        &sc.s.image(&sc.repo, "v3"),
        "approvals",
        br#"{"status":"approved"}"#,
    );
    let (rc, v) = json_of(
        &sc,
        &sc.owner,
        &["list", &sc.gun, "--all", "--type", "safe-to-prune"],
    );
    assert_eq!(rc, 0, "{v:#}");
    let mut digests: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            assert_eq!(i["type"], "safe-to-prune", "{i}");
            assert_eq!(i["role"], "targets", "{i}");
            i["image_digest"].as_str().unwrap()
        })
        .collect();
    digests.sort_unstable();
    let mut want = vec![sc.digest.as_str(), v2.as_str()];
    want.sort_unstable();
    assert_eq!(digests, want, "{v:#}");
    crate::schema::assert_conforms("list", &serde_json::to_vec(&v).unwrap());

    let (rc, v) = json_of(
        &sc,
        &sc.owner,
        &["list", &sc.gun, "--all", "--type", "sbom"],
    );
    assert_eq!(rc, 0);
    assert_eq!(v["items"], json!([]));
    let out = run(
        &sc,
        &sc.owner,
        &["list", &sc.gun, "--all", "--type", "Bad Type"],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
}

#[test]
fn a_tag_moved_in_the_registry_under_a_dct_signed_tag_is_refused_exit_3_naming_both_digests() {
    // The Go notary client owns the repository and signs tag v1 as Docker Content Trust does:
    // a target named by the tag whose sha256 is the manifest's digest.
    let sc = Scene::new("gate-signed-tag", Owner::Go(&[]), false);
    let v1 = sc.s.push_image(&sc.repo, "v1");
    let v2 = sc.s.push_image(&sc.repo, "v2");
    sc.go
        .add_target(&sc.gun, "v1", &manifest(sc.s, &sc.repo, "v1"));
    // An approval the owner signs for each image (a target in its targets role).
    for d in [&v1, &v2] {
        sc.go.add_target(
            &sc.gun,
            &format!("approvals/{d}"),
            br#"{"status":"approved"}"#,
        );
    }
    let reader = TestEnv::new();
    let image = sc.s.image(&sc.repo, "v1");
    let (rc, v) = json_of(&sc, &reader, &["verify", &image, "--require", "approvals"]);
    assert_eq!(rc, 0, "{v:#}");
    assert_eq!(v["images"][0]["image_digest"], v1.as_str());
    assert_eq!(
        v["images"][0]["tag"],
        json!({"name": "v1", "signed": true, "signed_by": "targets"})
    );

    // Someone with registry write access only moves v1 to the older, also approved, image.
    move_tag(sc.s, &sc.repo, "v1", "v2");
    let cache = reader.trust_dir().join("tuf");
    let before = snapshot_dir(&cache);
    let (rc, v) = json_of(&sc, &reader, &["verify", &image, "--require", "approvals"]);
    assert_eq!(rc, 3, "{v:#}");
    let r = &v["images"][0]["requirements"][0];
    assert_eq!(r["status"], "untrusted", "{r}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("answers {v2} for tag v1"))
            && reason.contains(&format!("targets signs the tag for {v1}")),
        "{reason}"
    );
    assert_eq!(v["images"][0]["image_digest"], Value::Null);
    assert_eq!(snapshot_dir(&cache), before, "nothing new was trusted");
    // As text: the same refusal, exit 3.
    let out = run(&sc, &reader, &["verify", &image, "--require", "approvals"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("tag v1: signed by targets"),
        "{}",
        stdout(&out)
    );
    // get by the tag is refused the same way, nothing on stdout, nothing newly trusted.
    let out = run(&sc, &reader, &["get", &image, "approvals"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains(&format!("answers {v2} for tag v1")),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot_dir(&cache), before);
}

#[test]
fn an_unsigned_tag_is_reported_as_resolved_unsigned_and_reaches_the_policy_as_input_tag() {
    let sc = Scene::new("gate-unsigned-tag", Owner::Manifesto, false);
    put(
        &sc,
        &sc.image,
        "approvals",
        br#"{"status":"approved","tag":"v1"}"#,
    );
    let (rc, v) = json_of(
        &sc,
        &sc.owner,
        &["verify", &sc.image, "--require", "approvals"],
    );
    assert_eq!(rc, 0, "{v:#}");
    assert_eq!(
        v["images"][0]["tag"],
        json!({"name": "v1", "signed": false, "signed_by": null})
    );
    let (rc, v) = json_of(
        &sc,
        &sc.owner,
        &["verify", &sc.pinned, "--require", "approvals"],
    );
    assert_eq!(rc, 0, "{v:#}");
    assert_eq!(v["images"][0]["tag"], Value::Null, "by digest: no tag");
    let out = ok(
        &sc,
        &sc.owner,
        &["verify", &sc.image, "--require", "approvals"],
    );
    assert!(
        stdout(&out).contains("tag v1: resolved unsigned"),
        "{}",
        stdout(&out)
    );

    // A rule comparing the tag with what the approval names.
    let policy = sc.owner.home.path().join("tag.yaml");
    std::fs::write(
        &policy,
        "requirements:\n  - type: approvals\nrules: |\n  package manifesto\n  deny contains msg if {\n    input.metadata.approvals.tag != input.tag\n    msg := sprintf(\"approved for %v, not for tag %v\", [input.metadata.approvals.tag, input.tag])\n  }\n",
    )
    .unwrap();
    let policy = policy.to_str().unwrap();
    let (rc, v) = json_of(&sc, &sc.owner, &["verify", &sc.image, "--policy", policy]);
    assert_eq!(rc, 0, "{v:#}");
    // The same image under another tag: the approval names v1.
    let other = sc.s.image(&sc.repo, "latest");
    move_tag(sc.s, &sc.repo, "latest", "v1");
    let (rc, v) = json_of(&sc, &sc.owner, &["verify", &other, "--policy", policy]);
    assert_eq!(rc, 10, "{v:#}");
    assert_eq!(
        v["images"][0]["requirements"][1]["reason"],
        "approved for v1, not for tag latest"
    );
}

#[test]
fn get_under_a_configured_policy_refuses_a_stale_scan_exit_4_and_writes_nothing() {
    let sc = Scene::new("gate-get-policy", Owner::Manifesto, false);
    put(&sc, &sc.image, "scan", br#"{"findings":[]}"#);
    put(&sc, &sc.image, "approvals", br#"{"status":"approved"}"#);
    let policy = sc.owner.home.path().join("fleet.yaml");
    std::fs::write(
        &policy,
        "requirements:\n  - type: scan\n    max_age: 24h\n  - type: approvals\n    role: qa\n",
    )
    .unwrap();
    let reader = TestEnv::new();
    std::fs::create_dir_all(reader.trust_dir()).unwrap();
    std::fs::write(
        reader.trust_dir().join("config.json"),
        json!({ "policy": policy }).to_string(),
    )
    .unwrap();
    // Fresh: the configured policy passes.
    let out = ok(&sc, &reader, &["get", &sc.image, "scan"]);
    assert_eq!(out.stdout, br#"{"findings":[]}"#);

    // The policy's role rule too: approvals signed by the owner, not by qa (exit 10); and
    // --policy on the command line names the file for one call.
    let out = run(&sc, &reader, &["get", &sc.image, "approvals"]);
    assert_eq!(code(&out), 10, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unauthorized-signer"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
    let other = TestEnv::new();
    let policy = policy.to_str().unwrap();
    let out = run(
        &sc,
        &other,
        &["get", &sc.image, "approvals", "--policy", policy],
    );
    assert_eq!(code(&out), 10, "{}", stderr(&out));
    assert!(stdout(&out).is_empty());

    // Two days later the scan is stale: refused with exit 4, nothing on stdout or in -O.
    let target = reader.home.path().join("scan.json");
    let mut cmd = reader.signer_cmd();
    crate::clock::at_clock(&mut cmd, "+2d");
    let out = cmd
        .args(["--server", &sc.notary_url, "get", &sc.image, "scan", "-O"])
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(!target.exists(), "nothing written");
    let err = stderr(&out);
    assert!(
        err.contains("policy requirement scan,max-age=24h is not met (stale)"),
        "{err}"
    );
    // Without the configuration (another trust dir), the same read passes: the policy did it.
    let mut cmd = other.signer_cmd();
    crate::clock::at_clock(&mut cmd, "+2d");
    let out = cmd
        .args(["--server", &sc.notary_url, "get", &sc.image, "scan"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// The tag list is read page by page with `n` and `last` while the registry sends a
/// `Link: …; rel="next"` header; the link's own URL (here another host) is never requested.
#[tokio::test]
async fn the_tag_list_is_read_page_by_page_with_n_and_last_and_a_link_elsewhere_is_not_followed() {
    use manifesto::Failure;
    use manifesto::http::HttpSettings;
    use manifesto::registry::credentials::Credentials;
    use manifesto::registry::{RegistryClient, RegistryError};

    use crate::hostile::{Reply, serve, serve_at};
    let elsewhere = serve_at("127.0.0.2", |_, _, _| Reply::Full(500, vec![], vec![])).await;
    let next = format!(
        "<{}/v2/team/app/tags/list?n=2&last=b>; rel=\"next\"",
        elsewhere.url
    );
    let registry = serve(move |_, req, _| {
        let page = |tags: &[&str], link: Option<&str>| {
            let body = json!({"name": "team/app", "tags": tags})
                .to_string()
                .into_bytes();
            let headers = link
                .map(|l| vec![("Link".to_string(), l.to_string())])
                .unwrap_or_default();
            Reply::Full(200, headers, body)
        };
        match req.path.as_str() {
            "/v2/team/app/tags/list?n=1000" => page(&["a", "b"], Some(&next)),
            "/v2/team/app/tags/list?n=1000&last=b" => page(&["c"], None),
            "/v2/team/bad/tags/list?n=1000" => page(&["ok", "../etc"], None),
            _ => Reply::Full(404, vec![], vec![]),
        }
    })
    .await;
    let host = registry.url.trim_start_matches("http://").to_owned();
    let client = RegistryClient::with_credentials(
        &HttpSettings::default(),
        &host,
        true,
        Credentials::Anonymous,
    )
    .unwrap();
    let tags = client.tags("team/app").await.unwrap();
    assert_eq!(tags, ["a", "b", "c"]);
    let paths: Vec<String> = registry
        .seen()
        .into_iter()
        .map(|(r, _)| r.path)
        .filter(|p| p.contains("tags/list"))
        .collect();
    assert_eq!(
        paths,
        [
            "/v2/team/app/tags/list?n=1000",
            "/v2/team/app/tags/list?n=1000&last=b"
        ]
    );
    assert_eq!(elsewhere.seen().len(), 0, "the Link's host is never asked");

    let err = client.tags("team/bad").await.unwrap_err();
    assert!(matches!(err, RegistryError::BadTag { .. }), "{err}");
    assert_eq!(err.failure(), Failure::Untrusted);
    assert!(err.to_string().contains("\"../etc\""), "{err}");
}
