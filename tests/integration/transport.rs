//! The transport under hostile servers and local faults (issue 9): slow retrieval cut off by
//! deadlines, endless manifests cut off at the cap, a credential helper that never answers,
//! certificates that do not verify, redirects to plain HTTP elsewhere. Every case runs the real
//! `manifesto` binary and checks the exit code, an empty stdout and, where a trust cache exists,
//! that it is byte-for-byte unchanged.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::go_notary::GoNotary;
use crate::harness::{StackKind, TestEnv, code, ok, stack, stderr, stdout, unique_repo};
use crate::hostile::{Reply, serve, tampering_proxy};
use crate::scene::snapshot_dir;

/// Nothing but the cache's lock file is written for a repository whose first read failed.
fn assert_no_trust_data(env: &TestEnv, what: &str) {
    let written: Vec<String> = snapshot_dir(&env.trust_dir())
        .into_keys()
        .filter(|p| p.ends_with(".json"))
        .collect();
    assert!(written.is_empty(), "{what}: nothing cached: {written:?}");
}

fn write_config(env: &TestEnv, config: serde_json::Value) {
    std::fs::create_dir_all(env.trust_dir()).unwrap();
    std::fs::write(
        env.trust_dir().join("config.json"),
        serde_json::to_vec(&config).unwrap(),
    )
    .unwrap();
}

/// Run `manifesto ARGS` off the async runtime (the hostile servers live on it).
async fn run(
    env: Arc<TestEnv>,
    args: Vec<String>,
    extra_env: Vec<(String, String)>,
) -> (i32, String, String, Duration) {
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut cmd = env.signer_cmd();
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let out = cmd.args(&args).output().unwrap();
        (code(&out), stdout(&out), stderr(&out), started.elapsed())
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(std::string::ToString::to_string).collect()
}

// Scenario 1 (slow retrieval), Notary side: a correct Content-Length, then one byte a second.
// Without a deadline `trust inspect` would wait some ten minutes and then succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timestamp_dripped_at_one_byte_a_second_is_cut_off_by_the_update_deadline_exit_6() {
    let s = stack(StackKind::Plain);
    let gun = format!("{}/{}", s.registry, unique_repo("drip-ts"));
    GoNotary::new(s).init_with_targets(&gun, &[("v1", b"one".as_slice())]);
    let env = Arc::new(TestEnv::new());
    let (rc, _, err, _) = run(
        env.clone(),
        args(&["--server", &s.notary_url, "trust", "inspect", &gun]),
        vec![],
    )
    .await;
    assert_eq!(rc, 0, "the honest server is trusted: {err}");
    write_config(
        &env,
        serde_json::json!({"limits": {"update_deadline": "3s"}}),
    );
    let proxy = tampering_proxy(&s.notary_url, |path, status, body| {
        if path.ends_with("/_trust/tuf/timestamp.json") && status == 200 {
            Reply::Drip {
                body,
                every: Duration::from_secs(1),
            }
        } else {
            Reply::Full(status, vec![], body)
        }
    })
    .await;
    let before = snapshot_dir(&env.trust_dir());
    let (rc, out, err, elapsed) = run(
        env.clone(),
        args(&["--server", &proxy.url, "trust", "inspect", &gun]),
        vec![],
    )
    .await;
    assert_eq!(rc, 6, "a dripped file is unavailable; stderr: {err}");
    assert!(out.is_empty(), "nothing on stdout: {out}");
    assert!(err.contains("timestamp.json"), "the file is named: {err}");
    assert!(err.contains("update_deadline"), "the bound is named: {err}");
    assert!(
        elapsed < Duration::from_secs(20),
        "cut off near the 3 s update deadline, not after the drip: {elapsed:?}"
    );
    assert!(
        before == snapshot_dir(&env.trust_dir()),
        "the trust cache is untouched"
    );
}

/// A forwarding proxy in front of the real registry that passes every header both ways (so
/// pushes work through it) and, while `drip` is on, sends blob bodies one byte a second.
async fn dripping_registry_proxy(upstream: &str, drip: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let upstream = upstream.trim_end_matches('/').to_string();
    manifesto::http::ensure_crypto_provider();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let proxy_base = base.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (client, upstream, drip, proxy_base) = (
                client.clone(),
                upstream.clone(),
                drip.clone(),
                proxy_base.clone(),
            );
            tokio::spawn(async move {
                let Some((method, path, headers, body)) = read_full_request(&mut sock).await else {
                    return;
                };
                let mut forward = client.request(
                    reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                    format!("{upstream}{path}"),
                );
                for (k, v) in &headers {
                    if !["host", "content-length", "connection"]
                        .contains(&k.to_ascii_lowercase().as_str())
                    {
                        forward = forward.header(k, v);
                    }
                }
                let Ok(r) = forward.body(body).send().await else {
                    return;
                };
                let mut head = format!("HTTP/1.1 {} X\r\n", r.status().as_u16());
                for (k, v) in r.headers() {
                    let k = k.as_str();
                    if ["content-length", "transfer-encoding", "connection"].contains(&k) {
                        continue;
                    }
                    let v = v
                        .to_str()
                        .unwrap_or_default()
                        .replace(&upstream, &proxy_base);
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                let is_head = method == "HEAD";
                let length = r.content_length();
                let bytes = r.bytes().await.unwrap_or_default();
                let length = if is_head {
                    length.unwrap_or(0)
                } else {
                    bytes.len() as u64
                };
                head.push_str(&format!(
                    "Content-Length: {length}\r\nConnection: close\r\n\r\n"
                ));
                let _ = sock.write_all(head.as_bytes()).await;
                if is_head {
                    return;
                }
                if method == "GET" && path.contains("/blobs/") && drip.load(Ordering::SeqCst) {
                    for b in &bytes {
                        if sock.write_all(&[*b]).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                } else {
                    let _ = sock.write_all(&bytes).await;
                }
                let _ = sock.shutdown().await;
            });
        }
    });
    addr.to_string()
}

type RawRequest = (String, String, Vec<(String, String)>, Vec<u8>);

async fn read_full_request(sock: &mut tokio::net::TcpStream) -> Option<RawRequest> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 65536];
    let head_end = loop {
        if buf.first() == Some(&0x16) {
            return None; // a TLS probe: this proxy speaks plain HTTP only
        }
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match sock.read(&mut tmp).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        match sock.read(&mut tmp).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => body.extend_from_slice(&tmp[..n]),
        }
    }
    Some((method, path, headers, body))
}

// Scenario 1 (slow retrieval), registry side: the metadata blob `get` downloads is dripped; its
// deadline is sized to the signed length (file_base_deadline + length / min_bytes_per_second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metadata_blob_dripped_by_the_registry_is_cut_off_by_its_deadline_exit_6() {
    let s = stack(StackKind::Plain);
    let repo = unique_repo("drip-blob");
    s.push_image(&repo, "v1");
    let drip = Arc::new(AtomicBool::new(false));
    let registry = dripping_registry_proxy(&s.registry_url, drip.clone()).await;
    let gun = format!("{registry}/{repo}");
    let image = format!("{gun}:v1");
    let env = Arc::new(TestEnv::new());
    write_config(
        &env,
        serde_json::json!({"limits": {"file_base_deadline": "2s"}}),
    );
    let server = s.notary_url.clone();
    let content = "{\"status\":\"approved\",\"note\":\"a body long enough to drip for minutes\"}";
    let (rc, _, err, _) = run(
        env.clone(),
        args(&["--server", &server, "init", &gun]),
        vec![],
    )
    .await;
    assert_eq!(rc, 0, "init: {err}");
    let file = env.trust_dir().join("approval.json");
    std::fs::write(&file, content).unwrap();
    let put = args(&[
        "--server",
        &server,
        "put",
        &image,
        "approvals",
        file.to_str().unwrap(),
    ]);
    let (rc, _, err, _) = run(env.clone(), put, vec![]).await;
    assert_eq!(rc, 0, "put through the proxy: {err}");
    let get = args(&["--server", &server, "get", &image, "approvals"]);
    let (rc, out, err, _) = run(env.clone(), get.clone(), vec![]).await;
    assert_eq!((rc, out.as_str()), (0, content), "the honest read: {err}");

    drip.store(true, Ordering::SeqCst);
    let before = snapshot_dir(&env.trust_dir());
    let (rc, out, err, elapsed) = run(env.clone(), get, vec![]).await;
    assert_eq!(rc, 6, "a dripped blob is unavailable; stderr: {err}");
    assert!(out.is_empty(), "nothing on stdout: {out}");
    assert!(err.contains("blob sha256:"), "the blob is named: {err}");
    assert!(
        elapsed < Duration::from_secs(20),
        "cut off near the 2 s blob deadline, not after the drip: {elapsed:?}"
    );
    assert!(
        before == snapshot_dir(&env.trust_dir()),
        "the trust cache is untouched"
    );
}

// Scenario 50: a registry that streams an endless manifest is cut off at the 4 MiB cap, with
// memory bounded by the cap, and the answer is untrusted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_manifest_from_the_registry_is_cut_off_at_the_cap_exit_3() {
    let registry = serve(|_, req, _| {
        if req.path.contains("/manifests/") {
            Reply::Endless
        } else {
            Reply::Full(200, vec![], b"{}".to_vec())
        }
    })
    .await;
    let host = registry.url.trim_start_matches("http://").to_string();
    let env = Arc::new(TestEnv::new());
    let (rc, out, err, elapsed) = run(
        env,
        args(&["resolve", &format!("{host}/test/endless:v1")]),
        vec![],
    )
    .await;
    assert_eq!(rc, 3, "an endless manifest is untrusted; stderr: {err}");
    assert!(out.is_empty(), "nothing on stdout: {out}");
    assert!(err.contains("4194304 bytes"), "the cap is named: {err}");
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
}

/// A credential helper that records its PID and its child's, then never answers.
fn hanging_helper(env: &TestEnv) -> (PathBuf, PathBuf, String) {
    let bin = env.trust_dir().parent().unwrap().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let pids = bin.join("pids");
    let helper = bin.join("docker-credential-hang");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\necho $$ > {dir}/helper.pid\nsleep 1000 &\necho $! > {dir}/child.pid\nwait\n",
            dir = pids.display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(&pids).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (pids, bin, path)
}

/// Whether the process whose PID `file` holds is gone (reaped or never a zombie of ours).
fn gone(file: &Path) -> bool {
    let pid = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .trim()
        .to_string();
    for _ in 0..50 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Gone, or a zombie waiting for init to reap it: either way it no longer runs.
        if stat.is_empty() || stat.split(") ").nth(1).is_some_and(|r| r.starts_with('Z')) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

async fn helper_that_never_answers(target: &str, host: &str, command: Vec<String>) {
    let env = Arc::new(TestEnv::new());
    let (pids, _bin, path) = hanging_helper(&env);
    env.write_docker_config(&serde_json::json!({"credHelpers": {host: "hang"}}));
    let before = snapshot_dir(&env.trust_dir());
    let (rc, out, err, elapsed) = run(
        env.clone(),
        command,
        vec![
            ("PATH".into(), path),
            ("MANIFESTO_CREDENTIAL_HELPER_TIMEOUT".into(), "2s".into()),
        ],
    )
    .await;
    assert_eq!(
        rc, 8,
        "{target}: a hung helper is local state; stderr: {err}"
    );
    assert!(out.is_empty(), "nothing on stdout: {out}");
    assert!(
        err.contains("docker-credential-hang"),
        "the helper is named: {err}"
    );
    assert!(
        elapsed < Duration::from_secs(15),
        "stopped at the 2 s helper deadline, not the default 30 s: {elapsed:?}"
    );
    assert!(gone(&pids.join("helper.pid")), "the helper was killed");
    assert!(
        gone(&pids.join("child.pid")),
        "the helper's own child was killed with its process group"
    );
    assert!(
        before == snapshot_dir(&env.trust_dir()),
        "no trust data written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_credential_helper_that_never_answers_is_killed_at_its_deadline_exit_8() {
    let s = stack(StackKind::Plain);
    let repo = unique_repo("hung-helper");
    s.push_image(&repo, "v1");
    helper_that_never_answers(
        "registry",
        &s.registry,
        args(&["resolve", &s.image(&repo, "v1")]),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notary_credential_helper_that_never_answers_is_an_error_not_anonymous_exit_8() {
    let s = stack(StackKind::Plain);
    let gun = format!("{}/{}", s.registry, unique_repo("hung-helper-notary"));
    let host = s.notary_url.trim_start_matches("http://").to_string();
    helper_that_never_answers(
        "notary",
        &host,
        args(&["--server", &s.notary_url, "trust", "inspect", &gun]),
    )
    .await;
}

// A certificate that does not verify is untrusted (3), not "unreachable, retry later" (6), and
// the message says how to trust a private CA; the TLS error itself is printed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_that_does_not_verify_is_untrusted_exit_3_with_the_tls_ca_hint() {
    let s = stack(StackKind::Tls);
    let repo = unique_repo("tls-untrusted");
    s.push_image(&repo, "v1");
    let gun = format!("{}/{repo}", s.registry);
    for (what, command) in [
        (
            "notary",
            args(&["--server", &s.notary_url, "trust", "inspect", &gun]),
        ),
        ("registry", args(&["resolve", &s.image(&repo, "v1")])),
    ] {
        let env = Arc::new(TestEnv::new());
        let (rc, out, err, _) = run(env.clone(), command, vec![]).await;
        assert_eq!(
            rc, 3,
            "{what}: an unverified certificate is untrusted; stderr: {err}"
        );
        assert!(out.is_empty(), "{what}: nothing on stdout: {out}");
        assert!(err.contains("--tls-ca"), "{what}: the hint is given: {err}");
        assert_eq!(
            err.matches("invalid peer certificate").count(),
            1,
            "{what}: the TLS error is printed once: {err}"
        );
        assert_no_trust_data(&env, what);
    }
    // With the CA the same reads work.
    let ca = s.ca_file.as_ref().unwrap().to_str().unwrap().to_string();
    let env = TestEnv::new();
    ok(
        env.cmd()
            .args(["--tls-ca", &ca, "resolve", &s.image(&repo, "v1")])
            .output()
            .unwrap(),
        "resolve with --tls-ca",
    );
}

// SECURITY-TESTS 53: a loopback plain-HTTP server may not send us on to plain HTTP elsewhere.
// The redirect is refused by the policy before any connection to the target (exit 3: the
// server, not the user, chose the target).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_from_loopback_to_plain_http_elsewhere_is_refused_exit_3() {
    let redirect = |_: usize, req: &crate::hostile::Request, _: &str| {
        if req.path == "/v2/" {
            Reply::Full(200, vec![], b"{}".to_vec())
        } else {
            Reply::Full(
                302,
                vec![("Location".into(), format!("http://example.com{}", req.path))],
                vec![],
            )
        }
    };
    let notary = serve(redirect).await;
    let registry = serve(redirect).await;
    let host = registry.url.trim_start_matches("http://").to_string();
    let gun = format!("{host}/test/redirected");
    for (what, command) in [
        (
            "notary",
            args(&["--server", &notary.url, "trust", "inspect", &gun]),
        ),
        ("registry", args(&["resolve", &format!("{gun}:v1")])),
    ] {
        let env = Arc::new(TestEnv::new());
        let (rc, out, err, _) = run(env.clone(), command, vec![]).await;
        assert_eq!(rc, 3, "{what}: the redirect is refused; stderr: {err}");
        assert!(out.is_empty(), "{what}: nothing on stdout: {out}");
        assert!(
            err.contains("refusing the redirect") && err.contains("http://example.com/"),
            "{what}: the refused target is named: {err}"
        );
        assert_no_trust_data(&env, what);
    }
}

// Scenario 1: retries of a failing GET stay inside the update deadline. Three attempts with
// 100 ms and 400 ms pauses need over 500 ms; a 300 ms update ends them with the update's error,
// not the server's.
#[tokio::test]
async fn retries_do_not_extend_a_trust_update_past_its_deadline() {
    use manifesto::notary::{NotaryError, NotaryHttp};
    use manifesto::tuf::update::MetadataSource;
    let server = serve(|_, _, _| Reply::Full(503, vec![], b"down".to_vec())).await;
    let settings = manifesto::http::HttpSettings::default();
    let limits = manifesto::tuf::limits::Limits {
        update_deadline: Duration::from_millis(300),
        ..Default::default()
    };
    let url = manifesto::notary::http::server_url(&settings, &server.url).unwrap();
    let http = NotaryHttp::new(&settings, &limits, url, "r/x")
        .await
        .unwrap();
    http.begin_update();
    let err = http.fetch("timestamp.json", 16 * 1024).await.unwrap_err();
    let inner = err
        .source
        .downcast_ref::<NotaryError>()
        .expect("a Notary error");
    assert!(
        matches!(inner, NotaryError::UpdateDeadline { file, .. } if file == "timestamp.json"),
        "{inner:?}"
    );
    assert_eq!(err.failure, manifesto::Failure::Unavailable);
}

// A helper that fails used to mean "anonymous" on the Notary side (a second, silent lookup):
// now the one lookup makes it an error naming the helper, exit 8.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_notary_credential_helper_is_exit_8_not_a_silent_anonymous_session() {
    let s = stack(StackKind::Plain);
    let gun = format!("{}/{}", s.registry, unique_repo("failing-helper"));
    GoNotary::new(s).init_with_targets(&gun, &[("v1", b"one".as_slice())]);
    let env = Arc::new(TestEnv::new());
    let (_, bin, path) = hanging_helper(&env);
    let helper = bin.join("docker-credential-broken");
    std::fs::write(&helper, "#!/bin/sh\necho 'keychain locked'\nexit 3\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let host = s.notary_url.trim_start_matches("http://").to_string();
    env.write_docker_config(&serde_json::json!({"credHelpers": {host: "broken"}}));
    let (rc, out, err, _) = run(
        env.clone(),
        args(&["--server", &s.notary_url, "trust", "inspect", &gun]),
        vec![("PATH".into(), path)],
    )
    .await;
    assert_eq!(rc, 8, "a failing helper is local state; stderr: {err}");
    assert!(out.is_empty(), "nothing on stdout: {out}");
    assert!(
        err.contains("docker-credential-broken"),
        "the helper is named: {err}"
    );
    assert!(
        !err.contains("keychain locked"),
        "the helper's output is never quoted: {err}"
    );
    assert_no_trust_data(&env, "notary");
}

/// A registry whose manifests need a bearer token from its token service; `token_reply`
/// answers the token request.
async fn bearer_registry(token_reply: fn() -> Reply) -> crate::hostile::Hostile {
    serve(move |_, req, base| {
        if req.path.starts_with("/token") {
            return token_reply();
        }
        if req.path == "/v2/" {
            return Reply::Full(200, vec![], b"{}".to_vec());
        }
        if req.header("authorization") == Some("Bearer t0k3n") {
            return Reply::Full(
                200,
                vec![(
                    "Content-Type".into(),
                    "application/vnd.oci.image.manifest.v1+json".into(),
                )],
                br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#.to_vec(),
            );
        }
        Reply::Full(
            401,
            vec![(
                "WWW-Authenticate".into(),
                format!(r#"Bearer realm="{base}/token",service="hostile""#),
            )],
            b"{}".to_vec(),
        )
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_bearer_challenge_is_answered_through_its_token_service() {
    let registry =
        bearer_registry(|| Reply::Full(200, vec![], br#"{"token":"t0k3n"}"#.to_vec())).await;
    let host = registry.url.trim_start_matches("http://").to_string();
    let (rc, out, err, _) = run(
        Arc::new(TestEnv::new()),
        args(&["resolve", &format!("{host}/test/bearer:v1")]),
        vec![],
    )
    .await;
    assert_eq!(rc, 0, "stderr: {err}");
    assert!(out.contains("@sha256:"), "the digest is printed: {out}");
}

// The token service's answer is a registry body like any other: an endless one is cut off at
// its cap and the read fails as unavailable (6), without waiting for the end of the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_registry_token_answer_is_cut_off_exit_6() {
    let registry = bearer_registry(|| Reply::Endless).await;
    let host = registry.url.trim_start_matches("http://").to_string();
    let (rc, out, err, elapsed) = run(
        Arc::new(TestEnv::new()),
        args(&["resolve", &format!("{host}/test/bearer:v1")]),
        vec![],
    )
    .await;
    assert_eq!(rc, 6, "stderr: {err}");
    assert!(out.is_empty(), "nothing on stdout: {out}");
    assert!(err.contains("too large"), "the cut-off is named: {err}");
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
}
