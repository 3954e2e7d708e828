//! Repositories from before sharding, or made by the Go client with manifesto-shaped targets in
//! `targets` itself: read as they are, moved into bins by the owner's first write in one signed
//! update, nothing lost, another client's tag left where it was, readers with the older trust
//! cache following (docs/layout.md, "Older layout").

use std::process::Command;

use crate::go_notary::{GoNotary, ROOT_PASSPHRASE, TARGETS_PASSPHRASE};
use crate::harness::{StackKind, TestEnv, code, ok, stack, stderr, unique_repo};

/// Push `bytes` as a blob of `repo` (POST for an upload session, then one PUT); returns its
/// digest.
fn push_blob(registry_url: &str, repo: &str, bytes: &[u8]) -> String {
    let digest = format!("sha256:{}", crate::go_notary::sha256_hex(bytes));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob");
    std::fs::write(&file, bytes).unwrap();
    let started = Command::new("curl")
        .args(["-fsS", "--noproxy", "*", "-X", "POST", "-o", "/dev/null"])
        .args(["-w", "%header{location}"])
        .arg(format!("{registry_url}/v2/{repo}/blobs/uploads/"))
        .output()
        .unwrap();
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let location = String::from_utf8(started.stdout).unwrap();
    let location = if location.starts_with('/') {
        format!("{registry_url}{location}")
    } else {
        location
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    let out = Command::new("curl")
        .args(["-fsS", "--noproxy", "*", "-X", "PUT"])
        .args(["-H", "Content-Type: application/octet-stream"])
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(format!("{location}{sep}digest={digest}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    digest
}

#[test]
fn an_unsharded_repository_is_read_then_moved_into_bins_by_the_first_put_with_nothing_lost() {
    let s = stack(StackKind::Plain);
    let repo = unique_repo("migrate");
    let gun = format!("{}/{repo}", s.registry);
    let digest = s.push_image(&repo, "v1");
    let image = format!("{gun}@{digest}");
    let old = b"{\"status\":\"approved before sharding\"}";
    push_blob(&s.registry_url, &repo, old);
    let approvals = format!("approvals/{digest}");

    // The older layout: the owner's metadata target in `targets` itself, beside a tag.
    let go = GoNotary::new(s);
    go.init_with_targets(&gun, &[("v1", b"a tag's target"), (&approvals, old)]);
    go.rotate_snapshot_to_server(&gun);
    let owner = TestEnv::new();
    ok(
        owner
            .signer_cmd()
            .env("NOTARY_ROOT_PASSPHRASE", ROOT_PASSPHRASE)
            .env("NOTARY_TARGETS_PASSPHRASE", TARGETS_PASSPHRASE)
            .args(["key", "import", "--docker-trust"])
            .arg(go.trust_dir.path())
            .output()
            .unwrap(),
        "key import --docker-trust",
    );
    let run = |env: &TestEnv, args: &[&str]| {
        env.signer_cmd()
            .args(["--server", &s.notary_url])
            .args(args)
            .output()
            .unwrap()
    };

    // Read as it is.
    let reader = TestEnv::new();
    let got = ok(run(&reader, &["get", &image, "approvals"]), "get before");
    assert_eq!(got.stdout, old);

    // The owner's first write moves its metadata into bins, in one signed update.
    let scan = b"{\"critical\":0}";
    let dir = tempfile::tempdir().unwrap();
    let scan_file = dir.path().join("scan.json");
    std::fs::write(&scan_file, scan).unwrap();
    let out = run(
        &owner,
        &["put", &image, "scan", scan_file.to_str().unwrap()],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let targets = go.fetch_signed(&gun, "targets");
    let own: Vec<&String> = targets["targets"].as_object().unwrap().keys().collect();
    assert_eq!(own, vec!["v1"], "only the tag stays in targets: {targets}");
    let fresh = GoNotary::new(s);
    let listed = fresh.list(&gun);
    for name in [
        &approvals,
        &format!("scan/{digest}"),
        &format!("_manifesto/{digest}"),
    ] {
        let row = listed
            .iter()
            .find(|t| &t.name == name)
            .unwrap_or_else(|| panic!("{name} not listed by Go: {listed:?}"));
        assert_eq!(row.role, "targets");
        assert!(row.file.starts_with("targets/_manifesto/"), "{row:?}");
    }
    let tag = listed.iter().find(|t| t.name == "v1").unwrap();
    assert_eq!(tag.file, "targets", "the tag is not ours to move");
    assert!(
        fresh.verify(&gun, &approvals, old),
        "Go verifies the moved entry"
    );
    assert!(fresh.verify(&gun, "v1", b"a tag's target"));

    // The reader with the older trust cache follows; nothing was lost.
    let got = ok(run(&reader, &["get", &image, "approvals"]), "get after");
    assert_eq!(got.stdout, old);
    let got = ok(run(&reader, &["get", &image, "scan"]), "get the new type");
    assert_eq!(got.stdout, scan);
    // The Go owner's own cache follows too.
    assert!(go.verify(&gun, &approvals, old));
}
