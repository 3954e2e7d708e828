//! `manifesto copy`: promotion of signed metadata between two repositories of the real stack.
//! The source is verified first; a source that fails verification copies nothing.

use std::process::Command;

use crate::go_notary::GoNotary;
use crate::harness::{
    Stack, StackKind, TestEnv, code, flip_first_byte, ok, project_root, stack, stderr, stdout,
    unique_repo,
};
use crate::scene::{content_file, snapshot_dir};

/// Push the image `push_image(source_repo, tag)` pushed, byte for byte, into `repo` (the same
/// content gives the same digest): what `skopeo copy` or `crane copy` would do.
pub fn push_same_image(s: &Stack, source_repo: &str, tag: &str, repo: &str) -> String {
    let out = Command::new(project_root().join("scripts/push-sample-image"))
        .arg(&s.registry_url)
        .arg(repo)
        .arg(tag)
        .arg("--content")
        .arg(format!("{source_repo}:{tag}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A source repository whose owner put `content` as approvals of image `v1`, and an empty
/// (initialised) destination repository of the same owner, with or without the image.
pub struct Promotion {
    pub s: &'static Stack,
    pub owner: TestEnv,
    pub src_repo: String,
    pub src_gun: String,
    pub dst_gun: String,
    pub digest: String,
    pub content: Vec<u8>,
}

impl Promotion {
    pub fn new(label: &str, image_at_destination: bool) -> Promotion {
        Promotion::of(label, image_at_destination, |s, repo| {
            s.push_image(repo, "v1")
        })
    }

    /// Like [`Promotion::new`], with the source image `push` pushes into the source repository.
    pub fn of(
        label: &str,
        image_at_destination: bool,
        push: impl Fn(&Stack, &str) -> String,
    ) -> Promotion {
        let s = stack(StackKind::Plain);
        let src_repo = unique_repo(&format!("{label}-src"));
        let dst_repo = unique_repo(&format!("{label}-dst"));
        let digest = push(s, &src_repo);
        if image_at_destination {
            assert_eq!(push_same_image(s, &src_repo, "v1", &dst_repo), digest);
        }
        let src_gun = format!("{}/{src_repo}", s.registry);
        let dst_gun = format!("{}/{dst_repo}", s.registry);
        let owner = TestEnv::new();
        owner.init_repo(&s.notary_url, &src_gun);
        owner.init_repo_without_image(&s.notary_url, &dst_gun);
        // Unique content: registries share blobs across repositories, and tests tamper with them.
        let content = format!("{{\"approved\":\"{src_repo}\"}}").into_bytes();
        let file = content_file(&owner, &content);
        ok(
            owner
                .signer_cmd()
                .args(["--server", &s.notary_url, "put"])
                .arg(format!("{src_gun}@{digest}"))
                .arg("approvals")
                .arg(&file)
                .args(["--annotation", "ticket=REL-7"])
                .output()
                .unwrap(),
            "put in the source",
        );
        Promotion {
            s,
            owner,
            src_repo,
            src_gun,
            dst_gun,
            digest,
            content,
        }
    }

    pub fn src(&self) -> String {
        format!("{}@{}", self.src_gun, self.digest)
    }

    pub fn dst(&self) -> String {
        format!("{}@{}", self.dst_gun, self.digest)
    }

    pub fn copy(&self, extra: &[&str]) -> std::process::Output {
        self.owner
            .signer_cmd()
            .args([
                "--server",
                &self.s.notary_url,
                "copy",
                &self.src(),
                &self.dst(),
            ])
            .args(extra)
            .output()
            .unwrap()
    }

    pub fn get_json(&self, env: &TestEnv, image: &str) -> serde_json::Value {
        let out = ok(
            env.cmd()
                .args(["--server", &self.s.notary_url, "-o", "json", "get", image])
                .arg("approvals")
                .output()
                .unwrap(),
            "get -o json",
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

#[test]
fn copy_signs_the_verified_metadata_at_the_destination_with_provenance_a_go_client_lists() {
    let p = Promotion::new("copy", true);
    let out = ok(p.copy(&[]), "copy");
    assert!(
        stdout(&out).contains("copied approvals"),
        "{}",
        stdout(&out)
    );

    let reader = TestEnv::new();
    let source = p.get_json(&reader, &p.src());
    let copied = p.get_json(&reader, &p.dst());
    let notes = &copied["annotations"];
    assert_eq!(notes["vnd.manifesto.copied-from.gun"], p.src_gun.as_str());
    assert_eq!(notes["vnd.manifesto.copied-from.role"], "targets");
    assert_eq!(
        notes["vnd.manifesto.copied-from.created-at"],
        source["created_at"]
    );
    // The source's own annotations travel with it.
    assert_eq!(notes["ticket"], "REL-7");
    assert_eq!(copied["blob_digest"], source["blob_digest"]);
    assert_eq!(copied["media_type"], source["media_type"]);
    let got = ok(
        reader
            .cmd()
            .args(["--server", &p.s.notary_url, "get", &p.dst(), "approvals"])
            .output()
            .unwrap(),
        "get the copy",
    );
    assert_eq!(got.stdout, p.content);

    // The Go client reads the destination: both targets, signed by the destination's targets.
    let go = GoNotary::new(p.s);
    let listed = go.list(&p.dst_gun);
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert!(
        names.contains(&format!("approvals/{}", p.digest).as_str()),
        "{names:?}"
    );
    assert!(
        names.contains(&format!("_manifesto/{}", p.digest).as_str()),
        "{names:?}"
    );
    assert!(go.verify(&p.dst_gun, &format!("approvals/{}", p.digest), &p.content));
}

#[test]
fn copy_from_a_source_whose_blob_was_tampered_with_copies_nothing_exit_3() {
    let p = Promotion::new("copy-tampered", true);
    let go = GoNotary::new(p.s);
    let listed_before = go.list(&p.dst_gun);
    let targets_before = go.fetch_raw(&p.dst_gun, "targets");
    let cache = p.owner.trust_dir().join("tuf").join(&p.dst_gun);
    let cache_before = snapshot_dir(&cache);
    let blob = format!("sha256:{}", crate::go_notary::sha256_hex(&p.content));
    flip_first_byte(&p.s.blob_data_path(&blob));

    let out = p.copy(&[]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    // Nothing was published at the destination, and its trust state is byte-identical.
    assert_eq!(go.fetch_raw(&p.dst_gun, "targets"), targets_before);
    assert_eq!(go.list(&p.dst_gun), listed_before);
    assert_eq!(snapshot_dir(&cache), cache_before);
}

#[test]
fn copy_to_a_repository_without_the_image_is_not_found_exit_9_and_publishes_nothing() {
    let p = Promotion::new("copy-noimage", false);
    let go = GoNotary::new(p.s);
    let targets_before = go.fetch_raw(&p.dst_gun, "targets");
    let out = p.copy(&[]);
    assert_eq!(code(&out), 9, "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains("copy the image there first"),
        "{}",
        stderr(&out)
    );
    assert_eq!(go.fetch_raw(&p.dst_gun, "targets"), targets_before);
}

#[test]
fn copy_by_tag_or_of_an_unsigned_type_is_refused() {
    let p = Promotion::new("copy-usage", true);
    let out = p
        .owner
        .signer_cmd()
        .args(["--server", &p.s.notary_url, "copy"])
        .arg(format!("{}/{}:v1", p.s.registry, p.src_repo))
        .arg(p.dst())
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("names no digest"), "{}", stderr(&out));
    let out = p.copy(&["--type", "scan"]);
    assert_eq!(code(&out), 9, "{}", stderr(&out));
}

/// `curl` against the plain registry; the body, or a panic naming the failure.
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
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn manifest(s: &Stack, repo: &str, reference: &str, accept: &str) -> Vec<u8> {
    let url = format!("{}/v2/{repo}/manifests/{reference}", s.registry_url);
    curl(&["-H", &format!("Accept: {accept}"), &url])
}

/// Whether `repo` itself (not just the registry) holds blob `digest`.
fn has_blob(s: &Stack, repo: &str, digest: &str) -> bool {
    let url = format!("{}/v2/{repo}/blobs/{digest}", s.registry_url);
    Command::new("curl")
        .args(["-fsS", "-I", "--noproxy", "*", "--max-time", "30", &url])
        .output()
        .unwrap()
        .status
        .success()
}

/// The config and layer digests of a manifest.
fn blobs_of(manifest: &[u8]) -> Vec<String> {
    let m: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    let mut out = vec![m["config"]["digest"].as_str().unwrap().to_string()];
    for l in m["layers"].as_array().unwrap() {
        out.push(l["digest"].as_str().unwrap().to_string());
    }
    out
}

/// A two-platform OCI index tagged `v1` in `repo` (two sample images as its children).
fn push_index(s: &Stack, repo: &str) -> String {
    let mut children = Vec::new();
    for arch in ["amd64", "arm64"] {
        let digest = s.push_image(repo, arch);
        let size = manifest(s, repo, &digest, OCI_MANIFEST).len();
        children.push(serde_json::json!({
            "mediaType": OCI_MANIFEST, "digest": digest, "size": size,
            "platform": {"architecture": arch, "os": "linux"},
        }));
    }
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children,
    }))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("index.json");
    std::fs::write(&file, &index).unwrap();
    let url = format!("{}/v2/{repo}/manifests/v1", s.registry_url);
    curl(&[
        "-X",
        "PUT",
        "-H",
        &format!("Content-Type: {OCI_INDEX}"),
        "--data-binary",
        &format!("@{}", file.display()),
        &url,
    ]);
    format!("sha256:{}", crate::go_notary::sha256_hex(&index))
}

fn dst_repo(p: &Promotion) -> String {
    p.dst_gun
        .strip_prefix(&format!("{}/", p.s.registry))
        .unwrap()
        .to_string()
}

#[test]
fn copy_with_image_copies_a_single_platform_image_and_signs_its_metadata_there() {
    let p = Promotion::new("copy-image", false);
    let dst = dst_repo(&p);
    let source_manifest = manifest(p.s, &p.src_repo, &p.digest, OCI_MANIFEST);
    let out = ok(p.copy(&["--with-image"]), "copy --with-image");
    assert!(
        stdout(&out).contains("copied the image: 1 manifest(s)"),
        "{}",
        stdout(&out)
    );
    // Byte-identical under the same digest, with its config and layer in the destination.
    assert_eq!(
        manifest(p.s, &dst, &p.digest, OCI_MANIFEST),
        source_manifest
    );
    for blob in blobs_of(&source_manifest) {
        assert!(has_blob(p.s, &dst, &blob), "{blob} in {dst}");
    }
    let reader = TestEnv::new();
    let got = ok(
        reader
            .cmd()
            .args(["--server", &p.s.notary_url, "get", &p.dst(), "approvals"])
            .output()
            .unwrap(),
        "get the copy",
    );
    assert_eq!(got.stdout, p.content);
    // Run again: everything is there already, nothing breaks.
    ok(p.copy(&["--with-image"]), "copy --with-image again");
}

#[test]
fn copy_with_image_copies_every_platform_of_a_multi_platform_index() {
    let p = Promotion::of("copy-index", false, push_index);
    let dst = dst_repo(&p);
    let index = manifest(p.s, &p.src_repo, &p.digest, OCI_INDEX);
    let out = ok(p.copy(&["--with-image"]), "copy --with-image of an index");
    assert!(
        stdout(&out).contains("copied the image: 3 manifest(s)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(manifest(p.s, &dst, &p.digest, OCI_INDEX), index);
    let parsed: serde_json::Value = serde_json::from_slice(&index).unwrap();
    for child in parsed["manifests"].as_array().unwrap() {
        let digest = child["digest"].as_str().unwrap();
        let bytes = manifest(p.s, &dst, digest, OCI_MANIFEST);
        for blob in blobs_of(&bytes) {
            assert!(has_blob(p.s, &dst, &blob), "{blob} of {digest} in {dst}");
        }
    }
    let reader = TestEnv::new();
    let copied = p.get_json(&reader, &p.dst());
    assert_eq!(
        copied["annotations"]["vnd.manifesto.copied-from.gun"],
        p.src_gun.as_str()
    );
}

#[test]
fn copy_with_image_of_a_tampered_layer_is_refused_exit_3_and_publishes_nothing() {
    let p = Promotion::new("copy-image-tampered", false);
    let dst = dst_repo(&p);
    let go = GoNotary::new(p.s);
    let targets_before = go.fetch_raw(&p.dst_gun, "targets");
    let source_manifest = manifest(p.s, &p.src_repo, &p.digest, OCI_MANIFEST);
    let layer = blobs_of(&source_manifest).pop().unwrap();
    flip_first_byte(&p.s.blob_data_path(&layer));
    let out = p.copy(&["--with-image"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    assert!(
        !has_blob(p.s, &dst, &layer),
        "the tampered layer was not copied"
    );
    let url = format!("{}/v2/{dst}/manifests/{}", p.s.registry_url, p.digest);
    let head = Command::new("curl")
        .args(["-fsS", "-I", "--noproxy", "*", "--max-time", "30", &url])
        .output()
        .unwrap();
    assert!(!head.status.success(), "no manifest at the destination");
    assert_eq!(go.fetch_raw(&p.dst_gun, "targets"), targets_before);
}
