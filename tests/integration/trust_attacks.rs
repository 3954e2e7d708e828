//! Attacks on the read side, played by a tampering proxy between manifesto and the real
//! notary-server: each is refused with its documented exit code, prints nothing on stdout, and
//! leaves the trust cache byte-for-byte as it was.

use std::sync::Arc;

use crate::go_notary::GoNotary;
use crate::harness::{StackKind, TestEnv, code, stack, stderr, stdout, unique_repo};
use crate::hostile::{Reply, tampering_proxy};
use crate::scene::{self, Owner, snapshot_existing_dir as snapshot_dir};

/// A repository by the Go client plus a client whose cache already trusts it.
struct Scene(scene::Scene);

impl std::ops::Deref for Scene {
    type Target = scene::Scene;
    fn deref(&self) -> &scene::Scene {
        &self.0
    }
}

fn scene(label: &str) -> Scene {
    Scene(scene::Scene::new(label, Owner::Go(&[("v1", b"one")]), true))
}

impl Scene {
    fn inspect(&self, server: &str) -> (i32, String, String) {
        let out = self
            .reader
            .cmd()
            .args(["--server", server, "trust", "inspect", &self.gun])
            .output()
            .unwrap();
        (code(&out), stdout(&out), stderr(&out))
    }

    /// Run `trust inspect` through `proxy_url`, expecting `expected`, no output and an untouched cache.
    fn refused_through(&self, proxy_url: &str, expected: i32) -> String {
        let before = snapshot_dir(&self.reader.trust_dir());
        let (rc, out, err) = self.inspect(proxy_url);
        assert_eq!(rc, expected, "exit code; stderr: {err}");
        assert!(out.is_empty(), "nothing printed on a refused read: {out}");
        let after = snapshot_dir(&self.reader.trust_dir());
        assert!(before == after, "the trust cache is untouched");
        err
    }
}

fn is_file(path: &str, name: &str) -> bool {
    path.ends_with(&format!("/_trust/tuf/{name}"))
}

/// Flip one byte of the first signature (base64 letter swap keeps it valid base64).
fn flip_signature(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(body.to_vec()).unwrap();
    let at = text.find("\"sig\":\"").unwrap() + 7;
    let mut bytes = text.into_bytes();
    bytes[at + 5] = if bytes[at + 5] == b'A' { b'B' } else { b'A' };
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_timestamp_signature_is_untrusted_exit_3() {
    let sc = scene("atk-sig");
    let proxy = tampering_proxy(&sc.notary_url, |path, status, body| {
        if is_file(path, "timestamp.json") {
            Reply::Full(200, vec![], flip_signature(&body))
        } else {
            Reply::Full(status, vec![], body)
        }
    })
    .await;
    let err = tokio::task::spawn_blocking(move || sc.refused_through(&proxy.url, 3))
        .await
        .unwrap();
    assert!(err.contains("timestamp"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_timestamp_is_rollback_exit_5() {
    let sc = scene("atk-rollback");
    let old_timestamp = sc.go.fetch_raw(&sc.gun, "timestamp");
    sc.go.add_target(&sc.gun, "v2", b"two");
    assert_eq!(
        sc.inspect(&sc.notary_url).0,
        0,
        "the cache now trusts the newer timestamp"
    );
    let old = Arc::new(old_timestamp);
    let proxy = tampering_proxy(&sc.notary_url, move |path, status, body| {
        if is_file(path, "timestamp.json") {
            Reply::Full(200, vec![], old.to_vec())
        } else {
            Reply::Full(status, vec![], body)
        }
    })
    .await;
    let err = tokio::task::spawn_blocking(move || sc.refused_through(&proxy.url, 5))
        .await
        .unwrap();
    assert!(err.contains("older than"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_targets_file_mixed_with_a_newer_snapshot_is_untrusted_exit_3() {
    let sc = scene("atk-mix");
    let old_targets = Arc::new(sc.go.fetch_raw(&sc.gun, "targets"));
    sc.go.add_target(&sc.gun, "v2", b"two");
    let proxy = tampering_proxy(&sc.notary_url, move |path, status, body| {
        if path.contains("/_trust/tuf/targets.") && !is_file(path, "targets.json") {
            Reply::Full(200, vec![], old_targets.to_vec())
        } else {
            Reply::Full(status, vec![], body)
        }
    })
    .await;
    let err = tokio::task::spawn_blocking(move || sc.refused_through(&proxy.url, 3))
        .await
        .unwrap();
    assert!(err.contains("targets"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_served_as_the_timestamp_is_untrusted_exit_3() {
    let sc = scene("atk-type");
    let snapshot = Arc::new(sc.go.fetch_raw(&sc.gun, "snapshot"));
    let proxy = tampering_proxy(&sc.notary_url, move |path, status, body| {
        if is_file(path, "timestamp.json") {
            Reply::Full(200, vec![], snapshot.to_vec())
        } else {
            Reply::Full(status, vec![], body)
        }
    })
    .await;
    tokio::task::spawn_blocking(move || sc.refused_through(&proxy.url, 3))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_timestamp_is_cut_off_exit_3() {
    let sc = scene("atk-endless");
    let proxy = tampering_proxy(&sc.notary_url, |path, status, body| {
        if is_file(path, "timestamp.json") {
            Reply::Endless
        } else {
            Reply::Full(status, vec![], body)
        }
    })
    .await;
    let err = tokio::task::spawn_blocking(move || sc.refused_through(&proxy.url, 3))
        .await
        .unwrap();
    assert!(err.contains("larger than"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_is_unavailable_exit_6() {
    let sc = scene("atk-down");
    let proxy = tampering_proxy(&sc.notary_url, |_, _, _| {
        Reply::Full(503, vec![], b"down".to_vec())
    })
    .await;
    tokio::task::spawn_blocking(move || sc.refused_through(&proxy.url, 6))
        .await
        .unwrap();
}

#[test]
fn a_root_that_differs_from_the_pinned_one_is_untrusted_exit_3() {
    let s = stack(StackKind::Plain);
    let gun = format!("{}/{}", s.registry, unique_repo("pin"));
    GoNotary::new(s).init_with_targets(&gun, &[("v1", b"one".as_slice())]);
    let env = TestEnv::new();
    std::fs::create_dir_all(env.trust_dir()).unwrap();
    let pin = |id: &str| {
        std::fs::write(
            env.trust_dir().join("config.json"),
            serde_json::json!({"trust_pinning": {"certs": {gun.clone(): [id]}}}).to_string(),
        )
        .unwrap();
    };
    pin(&"ab".repeat(32));
    let out = env
        .cmd()
        .args(["--server", &s.notary_url, "trust", "inspect", &gun])
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    assert!(
        !env.trust_dir()
            .join("tuf")
            .join(&gun)
            .join("metadata/root.json")
            .exists(),
        "nothing cached"
    );

    // Pinning the real root certificate id is accepted.
    let real = {
        let probe = TestEnv::new();
        let out = probe
            .cmd()
            .args([
                "--server",
                &s.notary_url,
                "-o",
                "json",
                "trust",
                "inspect",
                &gun,
            ])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["roles"][0]["keys"][0]["key_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    pin(&real);
    let out = env
        .cmd()
        .args(["--server", &s.notary_url, "trust", "inspect", &gun])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn without_a_pin_or_cache_disabled_tofu_is_a_usage_error() {
    let s = stack(StackKind::Plain);
    let gun = format!("{}/{}", s.registry, unique_repo("notofu"));
    GoNotary::new(s).init_with_targets(&gun, &[("v1", b"one".as_slice())]);
    let env = TestEnv::new();
    std::fs::create_dir_all(env.trust_dir()).unwrap();
    std::fs::write(
        env.trust_dir().join("config.json"),
        r#"{"trust_pinning": {"disable_tofu": true}}"#,
    )
    .unwrap();
    let out = env
        .cmd()
        .args(["--server", &s.notary_url, "trust", "inspect", &gun])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("trust_pinning"),
        "says how to pin: {}",
        stderr(&out)
    );
}
