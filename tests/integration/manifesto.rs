//! End-to-end `put` / `get` / `list` against the real notary-server and docker-registry: what is
//! put comes back byte-exact, every refusal happens before a byte is written, the registry
//! layout is what DESIGN §5 promises, a fresh Go notary client reads what we signed, and racing
//! writers lose nothing.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::Value;

use crate::go_notary::{GoNotary, sha256_hex};
use crate::harness::{TestEnv, code, flip_first_byte, stderr, stdout};
use crate::hostile::{Reply, intercepting_proxy, tampering_proxy};
use crate::scene::{self, Owner, content_file, trust_copies};

const ARTIFACT_TYPE: &str = "application/vnd.manifesto.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// One repository with a pushed image and an owner who ran `manifesto init`.
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
    fn server(&self) -> &str {
        &self.s.notary_url
    }

    /// `manifesto --server NOTARY ARGS…` as `env`, with the signing passphrases set.
    fn run(&self, env: &TestEnv, args: &[&str]) -> Output {
        env.signer_cmd()
            .args(["--server", self.server()])
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, env: &TestEnv, args: &[&str]) -> Output {
        let out = self.run(env, args);
        assert_eq!(code(&out), 0, "manifesto {args:?}: {}", stderr(&out));
        out
    }

    /// Write `content` to a file in `env`'s home and `put` it; returns the JSON report.
    fn put_as(
        &self,
        env: &TestEnv,
        image: &str,
        ty: &str,
        content: &[u8],
        extra: &[&str],
    ) -> Value {
        let file = content_file(env, content);
        let mut args = vec!["-o", "json", "put", image, ty, file.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = self.ok(env, &args);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("put -o json is not JSON ({e}): {}", stdout(&out)))
    }

    fn put(&self, ty: &str, content: &[u8]) -> Value {
        self.put_as(&self.owner, &self.image, ty, content, &[])
    }

    /// The bytes `get IMAGE TYPE` prints (asserting exit 0).
    fn get(&self, image: &str, ty: &str) -> Vec<u8> {
        self.ok(&self.owner, &["get", image, ty]).stdout
    }

    fn list_json(&self, env: &TestEnv, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["-o", "json", "list"];
        all.extend_from_slice(args);
        let out = self.ok(env, &all);
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["items"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("list -o json has no items array: {}", stdout(&out)))
    }

    /// A registry document by tag or digest, as served (curl; panics on an HTTP error).
    fn registry_get(&self, reference: &str, accept: &str) -> Vec<u8> {
        let url = format!(
            "{}/v2/{}/manifests/{reference}",
            self.s.registry_url.trim_end_matches('/'),
            self.repo
        );
        let out = Command::new("curl")
            .args(["-fsS", "--noproxy", "*", "--max-time", "30", "-H"])
            .arg(format!("Accept: {accept}"))
            .arg(&url)
            .output()
            .expect("run curl");
        assert!(
            out.status.success(),
            "GET {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// The `_manifesto` index as served, read through its shard indexes (whose structure
    /// [`crate::index::flattened_index`] checks).
    fn index(&self) -> Value {
        let index = crate::index::flattened_index(&self.s.registry_url, &self.repo);
        assert!(!index.is_null(), "the _manifesto tag exists");
        index
    }

    /// The sha256 (hex) that target `name` signs, as a fresh Go client lists it.
    fn signed_sha256(&self, go: &GoNotary, name: &str) -> String {
        go.list(&self.gun)
            .into_iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} is not listed by the Go client"))
            .sha256_hex
    }
}

fn digest_of(content: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(content))
}

/// Unique JSON content (the registry shares blobs across repositories, so tests never share one).
fn json_content(scene: &Scene, what: &str) -> Vec<u8> {
    format!("{{\"repo\":\"{}\",\"what\":\"{what}\"}}", scene.repo).into_bytes()
}

/// About `len` pseudo-random bytes seeded by `seed`, with a NUL every 4 KiB.
fn binary_content(seed: &str, len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in seed.bytes() {
        x = (x ^ b as u64).wrapping_mul(0x100_0000_01B3);
    }
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    for i in (0..len).step_by(4096) {
        out[i] = 0;
    }
    out
}

/// Entries of a listing (the JSON of `list`) as (type, role) pairs.
fn types_and_roles(rows: &[Value]) -> Vec<(String, String)> {
    rows.iter()
        .map(|r| {
            (
                r["type"].as_str().unwrap().to_string(),
                r["role"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

// 1 ------------------------------------------------------------------------------------------

#[test]
fn put_then_get_returns_the_exact_bytes_and_a_second_put_replaces_the_value() {
    let sc = scene("mf-roundtrip");
    let first = json_content(&sc, "approved");
    let report = sc.put("approvals", &first);
    assert_eq!(report["image_digest"], sc.digest);
    assert_eq!(report["blob_digest"], digest_of(&first));
    assert_eq!(report["size"], first.len() as u64);
    assert_eq!(report["role"], "targets");
    assert_eq!(report["type"], "approvals");
    assert_eq!(report["target"], format!("approvals/{}", sc.digest));
    let manifest = report["manifest_digest"].as_str().unwrap();
    assert!(
        manifest.starts_with("sha256:") && manifest.len() == 71,
        "{report}"
    );
    assert_eq!(report["index_updated"], true);

    assert_eq!(
        sc.get(&sc.image, "approvals"),
        first,
        "get prints the exact bytes"
    );
    let out_dir = tempfile::tempdir().unwrap();
    let out_file = out_dir.path().join("approvals.json");
    sc.ok(
        &sc.owner,
        &[
            "get",
            &sc.image,
            "approvals",
            "-O",
            out_file.to_str().unwrap(),
        ],
    );
    assert_eq!(
        std::fs::read(&out_file).unwrap(),
        first,
        "-O writes the same bytes"
    );

    let second = json_content(&sc, "approved-again");
    let report2 = sc.put("approvals", &second);
    assert_eq!(report2["blob_digest"], digest_of(&second));
    assert_ne!(report2["manifest_digest"], report["manifest_digest"]);
    assert_eq!(
        sc.get(&sc.image, "approvals"),
        second,
        "the new value replaces the old"
    );
    let rows = sc.list_json(&sc.owner, &[&sc.image]);
    assert_eq!(
        types_and_roles(&rows),
        vec![("approvals".to_string(), "targets".to_string())],
        "one entry for the type and role: {rows:?}"
    );
    assert_eq!(rows[0]["blob_digest"], digest_of(&second));
    assert_eq!(rows[0]["image_digest"], sc.digest);
}

// 2 ------------------------------------------------------------------------------------------

#[test]
fn stdin_input_binary_blobs_media_types_and_annotations_round_trip() {
    let sc = scene("mf-stdin");
    // `put IMAGE TYPE -`
    let sbom = json_content(&sc, "sbom");
    let out = sc
        .owner
        .signer_cmd()
        .args([
            "--server",
            sc.server(),
            "-o",
            "json",
            "put",
            &sc.image,
            "sbom",
            "-",
        ])
        .write_stdin(sbom.clone())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["blob_digest"], digest_of(&sbom));
    assert_eq!(report["media_type"], "application/json");
    assert_eq!(sc.get(&sc.image, "sbom"), sbom);

    // FILE absent: stdin too; ~9 MiB of binary with NULs: big enough that put hashes sha512
    // on its own thread during the upload and get checks it on its own thread as it streams
    // (a wrong sha512 either side would be exit 3 here).
    let blob = binary_content(&sc.repo, 9 * 1024 * 1024 + 17);
    assert!(blob.contains(&0));
    let out = sc
        .owner
        .signer_cmd()
        .args([
            "--server",
            sc.server(),
            "-o",
            "json",
            "put",
            &sc.image,
            "scan",
        ])
        .write_stdin(blob.clone())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["size"], blob.len() as u64);
    assert_eq!(report["media_type"], "application/octet-stream");
    let got = sc.get(&sc.image, "scan");
    assert!(
        got == blob,
        "the binary blob round-trips byte-exact ({} bytes back)",
        got.len()
    );
    let out_dir = tempfile::tempdir().unwrap();
    let out_file = out_dir.path().join("scan.bin");
    sc.ok(
        &sc.owner,
        &["get", &sc.image, "scan", "-O", out_file.to_str().unwrap()],
    );
    assert!(
        std::fs::read(&out_file).unwrap() == blob,
        "-O writes it byte-exact"
    );

    // --media-type and --annotation are signed.
    let vex = json_content(&sc, "vex");
    sc.put_as(
        &sc.owner,
        &sc.image,
        "vex",
        &vex,
        &[
            "--media-type",
            "application/vnd.openvex+json",
            "--annotation",
            "scanner=trivy",
            "--annotation",
            "ticket=QA-1=2",
        ],
    );
    let rows = sc.list_json(&sc.owner, &[&sc.image]);
    let media: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["type"].as_str().unwrap().to_string(),
                r["media_type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        media,
        vec![
            ("sbom".to_string(), "application/json".to_string()),
            ("scan".to_string(), "application/octet-stream".to_string()),
            (
                "vex".to_string(),
                "application/vnd.openvex+json".to_string()
            ),
        ]
    );
    let go = GoNotary::new(sc.s);
    let bin = manifesto::manifesto::shard::bin_for(
        &manifesto::tuf::names::RoleName::targets(),
        &manifesto::registry::Digest::parse(&sc.digest).unwrap(),
    );
    let targets = go.fetch_signed(&sc.gun, bin.as_str());
    let custom = &targets["targets"][format!("vex/{}", sc.digest)]["custom"];
    assert_eq!(
        custom["mediaType"], "application/vnd.openvex+json",
        "{custom}"
    );
    assert_eq!(custom["annotations"]["scanner"], "trivy", "{custom}");
    assert_eq!(custom["annotations"]["ticket"], "QA-1=2", "{custom}");
    assert!(
        custom["createdAt"].as_str().unwrap().ends_with('Z'),
        "{custom}"
    );
    let plain = &targets["targets"][format!("sbom/{}", sc.digest)]["custom"];
    assert!(
        plain.get("annotations").is_none(),
        "no annotations unless given: {plain}"
    );
}

// 3 ------------------------------------------------------------------------------------------

#[test]
fn the_image_by_tag_and_by_digest_gives_the_same_answer() {
    let sc = scene("mf-bydigest");
    let content = json_content(&sc, "approved");
    sc.put("approvals", &content);
    let by_digest = sc.s.image(&sc.repo, &sc.digest);
    assert!(by_digest.contains('@'));
    assert_eq!(sc.get(&by_digest, "approvals"), content);
    assert_eq!(sc.get(&sc.image, "approvals"), content);
    let by_tag = sc.list_json(&sc.owner, &[&sc.image]);
    let by_dig = sc.list_json(&sc.owner, &[&by_digest]);
    assert_eq!(by_tag, by_dig);

    // And a put by digest lands on the same target as a put by tag.
    let other = json_content(&sc, "scan");
    let report = sc.put_as(&sc.owner, &by_digest, "scan", &other, &[]);
    assert_eq!(report["image_digest"], sc.digest);
    assert_eq!(sc.get(&sc.image, "scan"), other);
}

// 4 ------------------------------------------------------------------------------------------

#[test]
fn a_delegate_puts_only_its_types_and_is_refused_before_any_upload() {
    let sc = scene("mf-delegate");
    let qa = TestEnv::new();
    let public = qa.home.path().join("qa.pem");
    let out = qa
        .signer_cmd()
        .args(["key", "generate", "--role", "targets/qa", "--public-out"])
        .arg(&public)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "key generate: {}", stderr(&out));
    sc.ok(
        &sc.owner,
        &[
            "delegate",
            "add",
            &sc.gun,
            "qa",
            "--key",
            public.to_str().unwrap(),
            "--type",
            "approvals",
        ],
    );

    let approval = json_content(&sc, "qa-approved");
    let report = sc.put_as(&qa, &sc.image, "approvals", &approval, &["--role", "qa"]);
    assert_eq!(report["role"], "targets/qa");

    // A type outside the delegation's paths: refused (3) before anything is uploaded.
    let blobs = sc.s.dir.join("registry-data/docker/registry/v2/blobs");
    let before = count_files(&blobs);
    let scan = json_content(&sc, "qa-scan");
    let file = content_file(&qa, &scan);
    let out = sc.run(
        &qa,
        &[
            "put",
            "--role",
            "qa",
            &sc.image,
            "scan",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("scan"), "{}", stderr(&out));
    assert!(
        !sc.s.blob_data_path(&digest_of(&scan)).exists(),
        "the refused blob never reached the registry"
    );
    let after = count_files(&blobs);
    // Other tests push to the same registry in parallel, so the count is informative only; the
    // assertion above is the precise one.
    if after != before {
        eprintln!("note: registry blob files {before} -> {after} (parallel tests)");
    }

    let got = sc.ok(
        &sc.owner,
        &["get", "--signed-by", "qa", &sc.image, "approvals"],
    );
    assert_eq!(got.stdout, approval);
    let got = sc.ok(&qa, &["get", &sc.image, "approvals"]);
    assert_eq!(got.stdout, approval, "the delegate reads its own approval");
    let out = sc.run(
        &sc.owner,
        &["get", "--signed-by", "targets", &sc.image, "approvals"],
    );
    assert_eq!(code(&out), 3, "only qa signed: {}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let rows = sc.list_json(&sc.owner, &[&sc.image]);
    assert_eq!(
        types_and_roles(&rows),
        vec![("approvals".to_string(), "targets/qa".to_string())]
    );
}

fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if e.path().is_dir() {
                todo.push(e.path());
            } else {
                n += 1;
            }
        }
    }
    n
}

// 5 ------------------------------------------------------------------------------------------

/// `get` both ways (stdout, and `-O` into an empty directory) must fail with `expected`, print
/// nothing and create no file. Returns stderr.
fn refused_get(sc: &Scene, server: &str, extra: &[&str], ty: &str, expected: i32) -> String {
    refused_get_at(sc, None, server, extra, ty, expected)
}

/// [`refused_get`] with the client's clock moved by `clock` (libfaketime offset).
fn refused_get_at(
    sc: &Scene,
    clock: Option<&str>,
    server: &str,
    extra: &[&str],
    ty: &str,
    expected: i32,
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out");
    let mut errs = String::new();
    for with_file in [false, true] {
        let mut cmd = sc.owner.signer_cmd();
        if let Some(offset) = clock {
            crate::clock::at_clock(&mut cmd, offset);
        }
        cmd.args(["--server", server, "get"])
            .args(extra)
            .args([&sc.image, ty]);
        if with_file {
            cmd.arg("-O").arg(&file);
        }
        let out = cmd.output().unwrap();
        assert_eq!(
            code(&out),
            expected,
            "get {extra:?} (-O: {with_file}): {}",
            stderr(&out)
        );
        assert!(
            out.stdout.is_empty(),
            "nothing on stdout: {:?}",
            stdout(&out)
        );
        errs.push_str(&stderr(&out));
    }
    assert!(!file.exists(), "-O created no file");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "no temporary file left behind: {left:?}");
    errs
}

#[test]
fn a_blob_swapped_in_the_registry_is_untrusted_exit_3() {
    let sc = scene("mf-swap");
    let content = json_content(&sc, "approved");
    let report = sc.put("approvals", &content);
    flip_first_byte(&sc.s.blob_data_path(report["blob_digest"].as_str().unwrap()));
    refused_get(&sc, sc.server(), &[], "approvals", 3);
}

#[test]
fn missing_metadata_is_not_found_exit_9_naming_image_digest_and_type() {
    let sc = scene("mf-missing");
    // Nothing stored at all, then something of another type.
    let err = refused_get(&sc, sc.server(), &[], "approvals", 9);
    sc.put("scan", &json_content(&sc, "scan"));
    let err2 = refused_get(&sc, sc.server(), &[], "approvals", 9);
    for e in [err, err2] {
        assert!(e.contains(&sc.repo), "names the image: {e}");
        assert!(e.contains(&sc.digest), "names the digest: {e}");
        assert!(e.contains("approvals"), "names the type: {e}");
    }
}

#[test]
fn metadata_older_than_max_age_is_stale_exit_4() {
    let sc = scene("mf-maxage");
    let content = json_content(&sc, "approved");
    sc.put("approvals", &content);
    assert_eq!(
        sc.ok(
            &sc.owner,
            &["get", "--max-age", "1h", &sc.image, "approvals"]
        )
        .stdout,
        content
    );
    // Two hours on (faked clock), the one-hour max-age is exceeded.
    let err = refused_get_at(
        &sc,
        Some("+7200"),
        sc.server(),
        &["--max-age", "1h"],
        "approvals",
        4,
    );
    assert!(err.contains("max-age"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_timestamp_on_get_is_rollback_exit_5() {
    let sc = tokio::task::spawn_blocking(|| {
        let sc = scene("mf-rollback");
        sc.put("approvals", &json_content(&sc, "approved"));
        sc
    })
    .await
    .unwrap();
    let go = GoNotary::new(sc.s);
    let old = Arc::new(go.fetch_raw(&sc.gun, "timestamp"));
    let sc = tokio::task::spawn_blocking(move || {
        sc.put("scan", &json_content(&sc, "scan"));
        sc
    })
    .await
    .unwrap();
    let proxy = tampering_proxy(sc.server(), move |path, status, body| {
        if path.ends_with("/_trust/tuf/timestamp.json") {
            Reply::Full(200, vec![], old.to_vec())
        } else {
            Reply::Full(status, vec![], body)
        }
    })
    .await;
    let url = proxy.url.clone();
    tokio::task::spawn_blocking(move || {
        let err = refused_get(&sc, &url, &[], "approvals", 5);
        assert!(err.contains("older than"), "{err}");
        // The honest server is still trusted afterwards.
        assert_eq!(
            sc.get(&sc.image, "approvals"),
            json_content(&sc, "approved")
        );
    })
    .await
    .unwrap();
}

// 6 ------------------------------------------------------------------------------------------

#[test]
fn go_notary_lists_our_targets_and_the_registry_holds_the_promised_layout() {
    let sc = scene("mf-layout");
    let content = json_content(&sc, "approved");
    let report = sc.put("approvals", &content);
    let blob = report["blob_digest"].as_str().unwrap().to_string();

    let go = GoNotary::new(sc.s);
    let listed = go.list(&sc.gun);
    let mut names: Vec<(String, String)> = listed
        .iter()
        .map(|t| (t.name.clone(), t.file.clone()))
        .collect();
    names.sort();
    let meta_name = format!("approvals/{}", sc.digest);
    let manifesto_name = format!("_manifesto/{}", sc.digest);
    // Both live in the owner's bin for the image's digest label (docs/layout.md), which Go
    // resolves through targets → targets/_manifesto → the bin.
    let bin = manifesto::manifesto::shard::bin_for(
        &manifesto::tuf::names::RoleName::targets(),
        &manifesto::registry::Digest::parse(&sc.digest).unwrap(),
    )
    .to_string();
    assert!(bin.starts_with("targets/_manifesto/"), "{bin}");
    assert_eq!(
        names,
        vec![
            (manifesto_name.clone(), bin.clone()),
            (meta_name.clone(), bin)
        ]
    );
    let meta = listed.iter().find(|t| t.name == meta_name).unwrap();
    assert_eq!(format!("sha256:{}", meta.sha256_hex), blob);
    assert_eq!(meta.size, content.len() as u64);
    assert!(
        go.verify(&sc.gun, &meta_name, &content),
        "Go verifies the blob"
    );

    // The manifesto manifest the `_manifesto/D` target signs.
    let manifest_hex = sc.signed_sha256(&go, &manifesto_name);
    assert_eq!(format!("sha256:{manifest_hex}"), report["manifest_digest"]);
    let raw = sc.registry_get(&format!("sha256:{manifest_hex}"), OCI_MANIFEST);
    assert_eq!(sha256_hex(&raw), manifest_hex);
    let manifest: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(manifest["mediaType"], OCI_MANIFEST);
    assert_eq!(manifest["artifactType"], ARTIFACT_TYPE);
    assert_eq!(manifest["subject"]["digest"], sc.digest);
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest}");
    assert_eq!(layers[0]["digest"], blob);
    assert_eq!(layers[0]["size"], content.len() as u64);
    assert_eq!(layers[0]["mediaType"], "application/json");
    assert_eq!(
        layers[0]["annotations"]["org.opencontainers.image.title"],
        "approvals"
    );
    // Its config lists the manifesto.
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.manifesto.config.v1+json"
    );
    let config: Value =
        serde_json::from_slice(&std::fs::read(sc.s.blob_data_path(config_digest)).unwrap())
            .unwrap();
    assert_eq!(config["image_digest"], sc.digest);
    assert_eq!(config["role"], "targets");
    assert_eq!(config["manifesto"][0]["type"], "approvals");
    assert_eq!(config["manifesto"][0]["digest"], blob);

    // The `_manifesto` tag: an OCI index listing it, annotated with image digest and role.
    let index = sc.index();
    assert_eq!(index["mediaType"], OCI_INDEX);
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1, "{index}");
    let entry = &manifests[0];
    assert_eq!(entry["digest"], format!("sha256:{manifest_hex}"));
    assert_eq!(entry["size"], raw.len() as u64);
    assert_eq!(entry["artifactType"], ARTIFACT_TYPE);
    assert_eq!(
        entry["annotations"]["vnd.manifesto.image.digest"],
        sc.digest
    );
    assert_eq!(entry["annotations"]["vnd.manifesto.role"], "targets");
}

// 7 ------------------------------------------------------------------------------------------

/// Run `put` for each (image, type, content) concurrently, each writer with its own copy of the
/// owner's trust dir (so no local lock serialises them), released together by a barrier.
fn racing_puts(sc: &Scene, jobs: &[(String, String, Vec<u8>)]) {
    let writers = trust_copies(&sc.owner, jobs.len());
    let barrier = std::sync::Barrier::new(jobs.len());
    let mut attempts = Vec::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = writers
            .iter()
            .zip(jobs)
            .map(|(w, (image, ty, content))| {
                let file = content_file(w, content);
                let (barrier, server) = (&barrier, sc.server());
                scope.spawn(move || {
                    let mut cmd = w.signer_cmd();
                    cmd.args(["--server", server, "-o", "json", "put", image, ty])
                        .arg(&file);
                    barrier.wait();
                    cmd.output().unwrap()
                })
            })
            .collect();
        for (h, (image, ty, _)) in handles.into_iter().zip(jobs) {
            let out = h.join().unwrap();
            assert_eq!(code(&out), 0, "put {image} {ty} failed: {}", stderr(&out));
            let report: Value = serde_json::from_slice(&out.stdout).unwrap();
            attempts.push(report["attempts"].as_u64().unwrap_or(0));
            if report["index_updated"] != true {
                eprintln!("note: put {image} {ty} did not update the index: {report}");
            }
        }
    });
    // Informative: how hard they raced (publish attempts per writer).
    eprintln!("racing puts: publish attempts {attempts:?}");
}

#[test]
fn ten_concurrent_puts_of_different_types_for_one_image_all_land() {
    let sc = scene("mf-race-types");
    let jobs: Vec<(String, String, Vec<u8>)> = (0..10)
        .map(|i| {
            let ty = format!("type{i}");
            (sc.image.clone(), ty.clone(), json_content(&sc, &ty))
        })
        .collect();
    racing_puts(&sc, &jobs);

    let rows = sc.list_json(&sc.owner, &[&sc.image]);
    let mut expected: Vec<(String, String)> = jobs
        .iter()
        .map(|(_, ty, _)| (ty.clone(), "targets".to_string()))
        .collect();
    expected.sort();
    assert_eq!(
        types_and_roles(&rows),
        expected,
        "every writer's type is signed"
    );
    for (_, ty, content) in &jobs {
        assert_eq!(&sc.get(&sc.image, ty), content, "{ty} is get-able");
    }

    // The signed manifesto manifest lists all ten, and the index references exactly it.
    let go = GoNotary::new(sc.s);
    let manifest_hex = sc.signed_sha256(&go, &format!("_manifesto/{}", sc.digest));
    let manifest: Value =
        serde_json::from_slice(&sc.registry_get(&format!("sha256:{manifest_hex}"), OCI_MANIFEST))
            .unwrap();
    let layers: BTreeSet<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    let blobs: BTreeSet<String> = jobs.iter().map(|(_, _, c)| digest_of(c)).collect();
    assert_eq!(
        layers, blobs,
        "the final manifesto manifest references every blob"
    );
    let index = sc.index();
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(
        manifests.len(),
        1,
        "one manifesto manifest for one image and role: {index}"
    );
    assert_eq!(
        manifests[0]["digest"],
        format!("sha256:{manifest_hex}"),
        "the index references the final manifesto manifest: {index}"
    );
}

#[test]
fn ten_concurrent_puts_for_ten_images_are_all_listed_and_indexed() {
    let sc = scene("mf-race-images");
    let mut digests = BTreeSet::new();
    let jobs: Vec<(String, String, Vec<u8>)> = (0..10)
        .map(|i| {
            let tag = format!("t{i}");
            digests.insert(sc.s.push_image(&sc.repo, &tag));
            (
                sc.s.image(&sc.repo, &tag),
                "approvals".to_string(),
                json_content(&sc, &tag),
            )
        })
        .collect();
    assert_eq!(digests.len(), 10, "ten distinct images");
    racing_puts(&sc, &jobs);

    let repo = format!("{}/{}", sc.s.registry, sc.repo);
    let rows = sc.list_json(&sc.owner, &[&repo, "--all"]);
    let listed: BTreeSet<String> = rows
        .iter()
        .map(|r| r["image_digest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(rows.len(), 10, "{rows:?}");
    assert_eq!(listed, digests, "every image's approval is listed");
    for (image, ty, content) in &jobs {
        assert_eq!(&sc.get(image, ty), content, "{image} is get-able");
    }

    let index = sc.index();
    let manifests = index["manifests"].as_array().unwrap();
    let indexed: BTreeSet<String> = manifests
        .iter()
        .map(|m| {
            m["annotations"]["vnd.manifesto.image.digest"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(manifests.len(), 10, "{index}");
    assert_eq!(indexed, digests, "the index has one entry per image");
    let top = crate::index::top_index(&sc.s.registry_url, &sc.repo).unwrap();
    let shard_labels: BTreeSet<&str> = top["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["annotations"]["vnd.manifesto.shard"].as_str().unwrap())
        .collect();
    let image_labels: BTreeSet<&str> = digests.iter().map(|d| &d["sha256:".len()..][..2]).collect();
    assert_eq!(
        shard_labels, image_labels,
        "one shard per label in use: {top}"
    );
    // Each entry is the manifest its image's `_manifesto/D` target signs.
    let go = GoNotary::new(sc.s);
    let signed = go.list(&sc.gun);
    for m in manifests {
        let image = m["annotations"]["vnd.manifesto.image.digest"]
            .as_str()
            .unwrap();
        let name = format!("_manifesto/{image}");
        let t = signed.iter().find(|t| t.name == name).unwrap();
        assert_eq!(m["digest"], format!("sha256:{}", t.sha256_hex));
    }
}

// 8 ------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_cut_off_between_blob_push_and_publish_succeeds_when_run_again() {
    let sc = tokio::task::spawn_blocking(|| scene("mf-rerun"))
        .await
        .unwrap();
    // The Notary server answers reads but fails every write.
    let proxy = intercepting_proxy(sc.server(), |method, _path| {
        (method == "POST").then(|| Reply::Full(503, vec![], b"maintenance".to_vec()))
    })
    .await;
    let url = proxy.url.clone();
    let hits = proxy.hits.clone();
    tokio::task::spawn_blocking(move || {
        let content = json_content(&sc, "approved");
        let file = content_file(&sc.owner, &content);
        let put = |server: &str| {
            sc.owner
                .signer_cmd()
                .args(["--server", server, "put", &sc.image, "approvals"])
                .arg(&file)
                .output()
                .unwrap()
        };
        let out = put(&url);
        assert_eq!(
            code(&out),
            6,
            "the publish is unavailable: {}",
            stderr(&out)
        );
        assert!(hits.load(std::sync::atomic::Ordering::SeqCst) > 0);
        assert!(
            sc.s.blob_data_path(&digest_of(&content)).exists(),
            "the blob was pushed before the publish failed"
        );
        let out = sc.run(&sc.owner, &["get", &sc.image, "approvals"]);
        assert_eq!(code(&out), 9, "nothing is signed yet: {}", stderr(&out));
        assert!(GoNotary::new(sc.s).list(&sc.gun).is_empty());

        let out = put(sc.server());
        assert_eq!(code(&out), 0, "the re-run succeeds: {}", stderr(&out));
        assert_eq!(sc.get(&sc.image, "approvals"), content);
        let rows = sc.list_json(&sc.owner, &[&sc.image]);
        assert_eq!(
            types_and_roles(&rows),
            vec![("approvals".to_string(), "targets".to_string())]
        );
    })
    .await
    .unwrap();
}
