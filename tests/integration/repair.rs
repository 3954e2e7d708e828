//! `delete` and `repair` against the real servers.

use crate::harness::{StackKind, TestEnv, code, ok, stack, stderr, stdout, unique_repo};

/// A repository with one image and two pieces of metadata; returns (env, image, gun).
fn setup(label: &str) -> (TestEnv, String, String) {
    let s = stack(StackKind::Plain);
    let repo = unique_repo(label);
    s.push_image(&repo, "v1");
    let gun = format!("{}/{repo}", s.registry);
    let image = format!("{gun}:v1");
    let env = TestEnv::new();
    env.init_repo(&s.notary_url, &gun);
    for (ty, body) in [
        ("approvals", "{\"status\":\"approved\"}"),
        ("scan", "{\"critical\":0}"),
    ] {
        ok(
            env.signer_cmd()
                .args(["--server", &s.notary_url, "put", &image, ty, "-"])
                .write_stdin(body)
                .output()
                .unwrap(),
            "put",
        );
    }
    (env, image, gun)
}

/// The `_manifesto` index read through its shard indexes.
fn index_json(s: &crate::harness::Stack, repo_path: &str) -> serde_json::Value {
    crate::index::flattened_index(&s.registry_url, repo_path)
}

#[test]
fn delete_removes_one_type_signed_and_keeps_the_other() {
    let s = stack(StackKind::Plain);
    let (env, image, _) = setup("delete");
    ok(
        env.signer_cmd()
            .args(["--server", &s.notary_url, "delete", &image, "scan"])
            .output()
            .unwrap(),
        "delete",
    );
    let out = env
        .cmd()
        .args(["--server", &s.notary_url, "get", &image, "scan"])
        .output()
        .unwrap();
    assert_eq!(
        code(&out),
        9,
        "deleted metadata is not found: {}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
    let out = ok(
        env.cmd()
            .args(["--server", &s.notary_url, "get", &image, "approvals"])
            .output()
            .unwrap(),
        "get",
    );
    assert_eq!(stdout(&out), "{\"status\":\"approved\"}");
    let again = env
        .signer_cmd()
        .args(["--server", &s.notary_url, "delete", &image, "scan"])
        .output()
        .unwrap();
    assert_eq!(code(&again), 9, "deleting twice: {}", stderr(&again));
}

#[test]
fn repair_rebuilds_a_clobbered_index_and_a_lost_manifest() {
    let s = stack(StackKind::Plain);
    let (env, image, gun) = setup("repair");
    let repo_path = gun.split_once('/').unwrap().1.to_string();
    let good = index_json(s, &repo_path);
    assert_eq!(
        good["manifests"].as_array().map(Vec::len),
        Some(1),
        "one image, one role: {good}"
    );
    let manifest_digest = good["manifests"][0]["digest"].as_str().unwrap().to_string();

    // Clobber the index with an empty one, and delete the manifesto manifest itself.
    let empty = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
    let put = std::process::Command::new("curl")
        .args([
            "-fsS",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.oci.image.index.v1+json",
            "--data-binary",
            empty,
        ])
        .arg(format!(
            "{}/v2/{repo_path}/manifests/_manifesto",
            s.registry_url
        ))
        .output()
        .unwrap();
    assert!(put.status.success());
    let del = std::process::Command::new("curl")
        .args(["-fsS", "-X", "DELETE"])
        .arg(format!(
            "{}/v2/{repo_path}/manifests/{manifest_digest}",
            s.registry_url
        ))
        .output()
        .unwrap();
    assert!(
        del.status.success(),
        "{}",
        String::from_utf8_lossy(&del.stderr)
    );

    let out = ok(
        env.cmd()
            .args(["--server", &s.notary_url, "-o", "json", "repair", &gun])
            .output()
            .unwrap(),
        "repair",
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["manifests_restored"],
        serde_json::json!([manifest_digest])
    );
    assert_eq!(report["index_entries"], 1);
    assert_eq!(report["index_was_current"], false);
    assert_eq!(
        index_json(s, &repo_path),
        good,
        "the index is back, byte for byte in content"
    );

    // A second repair finds nothing to do; reads still verify.
    let out = ok(
        env.cmd()
            .args(["--server", &s.notary_url, "-o", "json", "repair", &gun])
            .output()
            .unwrap(),
        "repair",
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["manifests_restored"], serde_json::json!([]));
    assert_eq!(report["index_was_current"], true);
    ok(
        env.cmd()
            .args(["--server", &s.notary_url, "get", &image, "scan"])
            .output()
            .unwrap(),
        "get",
    );
}
