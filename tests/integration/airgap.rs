//! Verifying in an air gap: `bundle create` online, then `bundle verify`, `get --bundle` and
//! `verify --bundle` in a network namespace with no interface at all (`unshare --net`: not even
//! loopback, so neither server nor anything else can be reached), anchored in the reader's
//! trust dir.

use std::path::{Path, PathBuf};

use crate::clock::at_clock;
use crate::copy::Promotion;
use crate::go_notary::sha256_hex;
use crate::harness::{TestEnv, code, ok, stderr, stdout};
use crate::scene::snapshot_dir;

/// The `manifesto` binary for `env`, run with no network at all.
pub(crate) fn offline(env: &TestEnv) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new("unshare");
    cmd.arg("--net")
        .arg("--")
        .arg(assert_cmd::cargo::cargo_bin("manifesto"));
    for var in [
        "MANIFESTO_SERVER",
        "DOCKER_CONTENT_TRUST_SERVER",
        "REGISTRY_USERNAME",
        "REGISTRY_PASSWORD",
        "MANIFESTO_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", env.home.path())
        .env("MANIFESTO_TRUST_DIR", env.trust_dir())
        .env("DOCKER_CONFIG", env.docker_config_dir());
    cmd
}

/// A source repository with approvals, a bundle of them written by the owner, and a reader
/// whose trust dir trusts the repository (one online `trust inspect`).
pub(crate) struct AirGap {
    pub(crate) p: Promotion,
    pub(crate) reader: TestEnv,
    pub(crate) bundle: PathBuf,
}

impl AirGap {
    pub(crate) fn new(label: &str) -> AirGap {
        AirGap::with(label, &[], |_| {})
    }

    /// Like [`AirGap::new`]; `then` runs as the owner before the bundle of `types` (none: every
    /// type) is created.
    fn with(label: &str, types: &[&str], then: impl Fn(&Promotion)) -> AirGap {
        let p = Promotion::new(label, false);
        let reader = TestEnv::new();
        ok(
            reader
                .cmd()
                .args(["--server", &p.s.notary_url, "trust", "inspect", &p.src_gun])
                .output()
                .unwrap(),
            "the reader trusts the repository",
        );
        // The owner signs more afterwards: the bundle is newer than what the reader trusts, so
        // its snapshot and targets are read from the bundle, not from the reader's cache.
        let scan = crate::scene::content_file(&p.owner, b"{\"critical\":0}");
        ok(
            p.owner
                .signer_cmd()
                .args(["--server", &p.s.notary_url, "put", &p.src(), "scan"])
                .arg(&scan)
                .output()
                .unwrap(),
            "put scan",
        );
        then(&p);
        let bundle = p.owner.home.path().join("approvals.bundle");
        let mut create = p.owner.cmd();
        create
            .args([
                "--server",
                &p.s.notary_url,
                "bundle",
                "create",
                &p.src(),
                "-O",
            ])
            .arg(&bundle);
        for ty in types {
            create.args(["--type", ty]);
        }
        let out = ok(create.output().unwrap(), "bundle create");
        assert!(
            stdout(&out).contains("verifiable offline until"),
            "{}",
            stdout(&out)
        );
        AirGap { p, reader, bundle }
    }

    fn get(&self, env: &TestEnv, bundle: &Path) -> std::process::Output {
        offline(env)
            .args(["get", &self.p.src(), "approvals", "--bundle"])
            .arg(bundle)
            .output()
            .unwrap()
    }

    fn cache(&self, env: &TestEnv) -> PathBuf {
        env.trust_dir().join("tuf").join(&self.p.src_gun)
    }
}

/// Flip one byte of the data of the bundle entry whose name satisfies `pick`, at the first
/// occurrence of `needle` in it (keeping it the same length), and return the tampered copy.
fn tamper(bundle: &Path, pick: impl Fn(&str) -> bool, needle: &[u8]) -> PathBuf {
    let mut archive = tar::Archive::new(std::fs::File::open(bundle).unwrap());
    let (offset, size) = archive
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| pick(e.path().unwrap().to_str().unwrap()))
        .map(|e| (e.raw_file_position(), e.size()))
        .expect("the bundle holds the entry");
    let mut bytes = std::fs::read(bundle).unwrap();
    let start = usize::try_from(offset).unwrap();
    let data = &mut bytes[start..start + usize::try_from(size).unwrap()];
    let at = data
        .windows(needle.len())
        .position(|w| w == needle)
        .map_or(0, |i| i + needle.len());
    data[at] ^= 0x01;
    let out = bundle.with_extension("tampered");
    std::fs::write(&out, bytes).unwrap();
    out
}

#[test]
fn a_bundle_verifies_and_serves_get_with_no_network_at_all() {
    let a = AirGap::new("airgap");
    let cache_before = snapshot_dir(&a.cache(&a.reader));
    let out = ok(
        offline(&a.reader)
            .args(["bundle", "verify"])
            .arg(&a.bundle)
            .output()
            .unwrap(),
        "bundle verify offline",
    );
    let text = stdout(&out);
    assert!(text.contains(&a.p.src_gun), "{text}");
    assert!(text.contains("approvals signed by targets"), "{text}");
    assert!(text.contains("verifiable offline until"), "{text}");

    let got = ok(a.get(&a.reader, &a.bundle), "get --bundle offline");
    assert_eq!(got.stdout, a.p.content);
    // Like any update, the offline reads advanced the reader's trust cache to the bundle's state.
    assert_ne!(snapshot_dir(&a.cache(&a.reader)), cache_before);
    let scan = ok(
        offline(&a.reader)
            .args(["get", &a.p.src(), "scan", "--bundle"])
            .arg(&a.bundle)
            .output()
            .unwrap(),
        "get scan --bundle offline",
    );
    assert_eq!(scan.stdout, b"{\"critical\":0}");

    let json = ok(
        offline(&a.reader)
            .args(["-o", "json", "bundle", "verify"])
            .arg(&a.bundle)
            .output()
            .unwrap(),
        "bundle verify -o json",
    );
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let until =
        chrono::DateTime::parse_from_rfc3339(report["valid_until"].as_str().unwrap()).unwrap();
    // The timestamp (14 days) is the shortest-lived file the verdict relies on.
    let now = chrono::Utc::now();
    assert!(until > now + chrono::Duration::days(13), "{until}");
    assert!(until < now + chrono::Duration::days(15), "{until}");
    assert_eq!(
        report["repositories"][0]["images"][0]["metadata"][0]["type"],
        "approvals"
    );
}

#[test]
fn a_trust_dir_without_the_repository_root_refuses_the_bundle_exit_3() {
    let a = AirGap::new("airgap-noroot");
    let stranger = TestEnv::new();
    for out in [
        a.get(&stranger, &a.bundle),
        offline(&stranger)
            .args(["bundle", "verify"])
            .arg(&a.bundle)
            .output()
            .unwrap(),
    ] {
        assert_eq!(code(&out), 3, "{}", stderr(&out));
        assert!(out.stdout.is_empty(), "{}", stdout(&out));
        assert!(
            stderr(&out).contains("never trusted on first use"),
            "{}",
            stderr(&out)
        );
    }
    assert!(!a.cache(&stranger).join("metadata/root.json").exists());
}

#[test]
fn a_tampered_blob_in_the_bundle_is_refused_exit_3_with_nothing_on_stdout_or_in_the_cache() {
    let a = AirGap::new("airgap-blob");
    let blob = format!("blobs/sha256/{}", sha256_hex(&a.p.content));
    let tampered = tamper(&a.bundle, |n| n == blob, b"approved");
    let before = snapshot_dir(&a.cache(&a.reader));
    let out = a.get(&a.reader, &tampered);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    let out = offline(&a.reader)
        .args(["bundle", "verify"])
        .arg(&tampered)
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    assert_eq!(snapshot_dir(&a.cache(&a.reader)), before);
}

#[test]
fn a_tampered_trust_file_in_the_bundle_is_refused_exit_3_with_nothing_on_stdout_or_in_the_cache() {
    let a = AirGap::new("airgap-trust");
    let before = snapshot_dir(&a.cache(&a.reader));
    for (file, needle) in [
        ("/timestamp.json", &b"\"expires\":\""[..]),
        ("/snapshot.", &b"\"expires\":\""[..]),
        // The owner's bin, which holds the image's targets (docs/layout.md). (`targets.json`
        // itself does not change with a put any more, so the reader's cached copy answers and the
        // bundle's is never used.)
        ("/targets/_manifesto/", &b"\"length\":"[..]),
    ] {
        let tampered = tamper(&a.bundle, |n| n.contains(file), needle);
        let out = a.get(&a.reader, &tampered);
        assert_eq!(code(&out), 3, "{file}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{}", stdout(&out));
        assert_eq!(snapshot_dir(&a.cache(&a.reader)), before, "{file}");
    }
}

#[test]
fn an_offline_read_past_the_bundle_horizon_is_stale_exit_4() {
    let a = AirGap::new("airgap-horizon");
    let before = snapshot_dir(&a.cache(&a.reader));
    let mut cmd = offline(&a.reader);
    at_clock(&mut cmd, "+20d");
    let out = cmd
        .args(["get", &a.p.src(), "approvals", "--bundle"])
        .arg(&a.bundle)
        .output()
        .unwrap();
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    assert!(stderr(&out).contains("expired"), "{}", stderr(&out));
    assert_eq!(snapshot_dir(&a.cache(&a.reader)), before);
}

#[test]
fn a_tag_offline_is_a_usage_error_exit_2_with_a_hint() {
    let a = AirGap::new("airgap-tag");
    let tag = format!("{}/{}:v1", a.p.s.registry, a.p.src_repo);
    let out = offline(&a.reader)
        .args(["get", &tag, "approvals", "--bundle"])
        .arg(&a.bundle)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains("tags need the registry"),
        "{}",
        stderr(&out)
    );
    // A bundle is created by digest too.
    let out =
        a.p.owner
            .cmd()
            .args([
                "--server",
                &a.p.s.notary_url,
                "bundle",
                "create",
                &tag,
                "-O",
            ])
            .arg(a.p.owner.home.path().join("by-tag.bundle"))
            .output()
            .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(!a.p.owner.home.path().join("by-tag.bundle").exists());
}

#[test]
fn verify_with_a_bundle_passes_with_no_network_and_states_until_when() {
    let a = AirGap::new("airgap-verify");
    let verify = |extra: &[&str]| {
        offline(&a.reader)
            .args(extra)
            .args(["verify", &a.p.src(), "--require", "approvals,role=targets"])
            .args(["--require", "scan", "--bundle"])
            .arg(&a.bundle)
            .output()
            .unwrap()
    };
    let out = ok(verify(&[]), "verify --bundle offline");
    assert!(stdout(&out).contains("PASS"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("verifiable offline until"),
        "{}",
        stdout(&out)
    );
    let json = ok(verify(&["-o", "json"]), "verify --bundle -o json");
    let verdict: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(verdict["ok"], true);
    let until =
        chrono::DateTime::parse_from_rfc3339(verdict["valid_until"].as_str().unwrap()).unwrap();
    assert!(
        until > chrono::Utc::now() + chrono::Duration::days(13),
        "{until}"
    );

    // Online, the verdict states its horizon the same way.
    let online = ok(
        a.reader
            .cmd()
            .args([
                "--server",
                &a.p.s.notary_url,
                "-o",
                "json",
                "verify",
                &a.p.src(),
            ])
            .args(["--require", "approvals"])
            .output()
            .unwrap(),
        "verify online -o json",
    );
    let online: serde_json::Value = serde_json::from_slice(&online.stdout).unwrap();
    assert!(online["valid_until"].is_string(), "{online}");

    // A requirement the bundle cannot meet is the same verdict as online: policy denied.
    let out = offline(&a.reader)
        .args(["verify", &a.p.src(), "--require", "sbom", "--bundle"])
        .arg(&a.bundle)
        .output()
        .unwrap();
    assert_eq!(code(&out), 10, "{}", stderr(&out));

    // Past the horizon: stale, exit 4, the cache as it was.
    let before = snapshot_dir(&a.cache(&a.reader));
    let mut cmd = offline(&a.reader);
    at_clock(&mut cmd, "+20d");
    let out = cmd
        .args(["verify", &a.p.src(), "--require", "approvals", "--bundle"])
        .arg(&a.bundle)
        .output()
        .unwrap();
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(stdout(&out).contains("expired"), "{}", stdout(&out));
    assert_eq!(snapshot_dir(&a.cache(&a.reader)), before);

    // A tag offline: usage, with the hint.
    let tag = format!("{}/{}:v1", a.p.s.registry, a.p.src_repo);
    let out = offline(&a.reader)
        .args(["verify", &tag, "--require", "approvals", "--bundle"])
        .arg(&a.bundle)
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains("tags need the registry"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_reader_with_an_older_root_follows_the_root_chain_in_the_bundle() {
    let a = AirGap::with("airgap-rotated", &[], |p| {
        ok(
            p.owner
                .signer_cmd()
                .args([
                    "--server",
                    &p.s.notary_url,
                    "key",
                    "rotate",
                    &p.src_gun,
                    "root",
                ])
                .output()
                .unwrap(),
            "rotate the root key",
        );
    });
    let cached_root = a.cache(&a.reader).join("metadata/root.json");
    let version = |path: &Path| {
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        doc["signed"]["version"].as_u64().unwrap()
    };
    let before = version(&cached_root);
    let got = ok(
        a.get(&a.reader, &a.bundle),
        "get --bundle across a root rotation",
    );
    assert_eq!(got.stdout, a.p.content);
    assert_eq!(
        version(&cached_root),
        before + 1,
        "the reader now trusts the new root"
    );
}

#[test]
fn a_bundle_older_than_the_trust_dir_is_a_rollback_exit_5_and_the_cache_is_kept() {
    let a = AirGap::new("airgap-old");
    // Online, the reader moves past the bundle: the owner signs again and the reader reads it.
    let more = crate::scene::content_file(&a.p.owner, b"{\"critical\":1}");
    ok(
        a.p.owner
            .signer_cmd()
            .args(["--server", &a.p.s.notary_url, "put", &a.p.src(), "scan"])
            .arg(&more)
            .output()
            .unwrap(),
        "put a newer scan",
    );
    ok(
        a.reader
            .cmd()
            .args(["--server", &a.p.s.notary_url, "get", &a.p.src(), "scan"])
            .output()
            .unwrap(),
        "the reader reads the newer state online",
    );
    let before = snapshot_dir(&a.cache(&a.reader));
    let out = a.get(&a.reader, &a.bundle);
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    assert_eq!(snapshot_dir(&a.cache(&a.reader)), before);
}

#[test]
fn a_bundle_of_one_type_holds_that_type_only() {
    let a = AirGap::with("airgap-type", &["approvals"], |_| {});
    let out = ok(
        offline(&a.reader)
            .args(["-o", "json", "bundle", "verify"])
            .arg(&a.bundle)
            .output()
            .unwrap(),
        "bundle verify",
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let metadata = report["repositories"][0]["images"][0]["metadata"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(metadata.len(), 1, "{metadata:?}");
    assert_eq!(metadata[0]["type"], "approvals");
    ok(a.get(&a.reader, &a.bundle), "get approvals --bundle");
    let out = offline(&a.reader)
        .args(["get", &a.p.src(), "scan", "--bundle"])
        .arg(&a.bundle)
        .output()
        .unwrap();
    assert_eq!(code(&out), 9, "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn one_bundle_of_two_repositories_verifies_both_offline() {
    let (a, b) = (
        Promotion::new("airgap-two-a", false),
        Promotion::new("airgap-two-b", false),
    );
    let reader = TestEnv::new();
    for p in [&a, &b] {
        ok(
            reader
                .cmd()
                .args(["--server", &p.s.notary_url, "trust", "inspect", &p.src_gun])
                .output()
                .unwrap(),
            "the reader trusts the repository",
        );
    }
    let bundle = a.owner.home.path().join("two.bundle");
    ok(
        a.owner
            .cmd()
            .args([
                "--server",
                &a.s.notary_url,
                "bundle",
                "create",
                &a.src(),
                &b.src(),
            ])
            .arg("-O")
            .arg(&bundle)
            .output()
            .unwrap(),
        "bundle create of two repositories",
    );
    let out = ok(
        offline(&reader)
            .args(["-o", "json", "bundle", "verify"])
            .arg(&bundle)
            .output()
            .unwrap(),
        "bundle verify",
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let guns: Vec<&str> = report["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["gun"].as_str().unwrap())
        .collect();
    assert_eq!(guns, [a.src_gun.as_str(), b.src_gun.as_str()]);
    ok(
        offline(&reader)
            .args([
                "verify",
                &a.src(),
                &b.src(),
                "--require",
                "approvals",
                "--bundle",
            ])
            .arg(&bundle)
            .output()
            .unwrap(),
        "verify both offline",
    );
    let got = offline(&reader)
        .args(["get", &b.src(), "approvals", "--bundle"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert_eq!(ok(got, "get from the second repository").stdout, b.content);
}

#[test]
fn a_pinned_root_certificate_anchors_a_bundle_in_an_empty_trust_dir_and_a_wrong_pin_is_exit_3() {
    let a = AirGap::new("airgap-pinned");
    let root_key = crate::go_notary::GoNotary::new(a.p.s).root_role_key_ids(&a.p.src_gun, "root");
    let pinned = |id: &str| {
        let env = TestEnv::new();
        std::fs::create_dir_all(env.trust_dir()).unwrap();
        std::fs::write(
            env.trust_dir().join("config.json"),
            serde_json::json!({"trust_pinning": {"certs": {a.p.src_gun.clone(): [id]}}})
                .to_string(),
        )
        .unwrap();
        env
    };
    let good = pinned(&root_key[0]);
    let got = ok(a.get(&good, &a.bundle), "get --bundle anchored in a pin");
    assert_eq!(got.stdout, a.p.content);

    let wrong = pinned(&"ab".repeat(32));
    let out = a.get(&wrong, &a.bundle);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(!a.cache(&wrong).join("metadata/root.json").exists());
}
