//! The registry client against a real docker-registry: resolution, round trips, tampering,
//! credentials and TLS.

use std::io::Write;

use bytes::Bytes;
use manifesto::Failure;
use manifesto::http::{CaBundle, HttpSettings};
use manifesto::registry::client::{media_types, sha256_digest};
use manifesto::registry::credentials::Credentials;
use manifesto::registry::{ImageRef, RegistryClient, RegistryError};

use crate::harness::{
    StackKind, TEST_PASSWORD, TEST_USER, TestEnv, code, flip_first_byte, stack, stderr, stdout,
    tamper_json_keeping_it_valid, unique_repo,
};

fn plain_settings() -> HttpSettings {
    HttpSettings::default()
}

async fn plain_client() -> RegistryClient {
    let s = stack(StackKind::Plain);
    RegistryClient::connect(&plain_settings(), &s.registry)
        .await
        .expect("connect")
}

#[tokio::test]
async fn tag_resolves_to_the_digest_the_registry_stored() {
    let s = stack(StackKind::Plain);
    let repo = unique_repo("resolve");
    let pushed = s.push_image(&repo, "v1");
    let client = plain_client().await;
    assert!(
        client.is_plain_http(),
        "loopback registry without TLS is spoken to over HTTP"
    );

    let by_tag = client
        .resolve(&ImageRef::parse(&s.image(&repo, "v1")).unwrap())
        .await
        .unwrap();
    assert_eq!(by_tag.digest.to_string(), pushed);
    assert_eq!(by_tag.media_type, media_types::OCI_MANIFEST);

    let by_digest = client
        .resolve(&ImageRef::parse(&s.image(&repo, &pushed)).unwrap())
        .await
        .unwrap();
    assert_eq!(by_digest.digest, by_tag.digest);
    assert_eq!(by_digest.size, by_tag.size);
}

#[tokio::test]
async fn a_missing_tag_is_not_found() {
    let s = stack(StackKind::Plain);
    let repo = unique_repo("missing");
    s.push_image(&repo, "v1");
    let err = plain_client()
        .await
        .resolve(&ImageRef::parse(&s.image(&repo, "nope")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.failure(), Failure::NotFound, "{err:?}");
}

#[tokio::test]
async fn small_and_streamed_blobs_round_trip_by_digest() {
    let repo = unique_repo("blobs");
    let client = plain_client().await;

    let small = Bytes::from_static(b"{\"status\":\"approved\"}");
    let d = client.push_blob_bytes(&repo, small.clone()).await.unwrap();
    assert_eq!(d, sha256_digest(&small));
    assert!(client.blob_exists(&repo, &d).await.unwrap());
    assert_eq!(
        client.pull_blob_bytes(&repo, &d, 1024).await.unwrap(),
        small.to_vec()
    );

    // 9 MiB of non-repeating bytes: several upload pieces and several registry chunks.
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let mut expected = Vec::with_capacity(9 << 20);
    let mut x: u32 = 12345;
    for _ in 0..(9 << 20) {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        expected.push(x.to_le_bytes()[2]);
    }
    file.write_all(&expected).unwrap();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen2 = seen.clone();
    let (digest, size) = (sha256_digest(&expected), expected.len() as u64);
    client
        .push_blob_file(&repo, file.path(), &digest, size, move |n| {
            seen2.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        })
        .await
        .unwrap();
    assert!(client.blob_exists(&repo, &digest).await.unwrap());
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::Relaxed),
        size,
        "progress saw every byte"
    );
    let mut out = Vec::new();
    let n = client
        .pull_blob_to(&repo, &digest, size, &mut out)
        .await
        .unwrap();
    assert_eq!(n, size);
    assert!(out == expected, "streamed blob came back identical");

    // The signed length is a hard cap.
    let err = client
        .pull_blob_to(&repo, &digest, size - 1, &mut Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::TooLarge { .. }), "{err:?}");

    // A file that changed after it was hashed: the registry checks the bytes against the digest
    // named, so they are refused rather than stored under it.
    let other = sha256_digest(b"the bytes that were hashed");
    let err = client
        .push_blob_file(&repo, file.path(), &other, size, |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::Refused { status: 400, .. }),
        "{err:?}"
    );
    assert!(!client.blob_exists(&repo, &other).await.unwrap());
}

#[tokio::test]
async fn oci_manifest_with_subject_and_an_index_round_trip_byte_exact() {
    let s = stack(StackKind::Plain);
    let repo = unique_repo("manifests");
    let image_digest = s.push_image(&repo, "v1");
    let client = plain_client().await;
    let image = client
        .resolve(&ImageRef::parse(&s.image(&repo, "v1")).unwrap())
        .await
        .unwrap();

    let config =
        Bytes::from_static(b"{\"image_digest\":\"x\",\"role\":\"targets\",\"manifesto\":[]}");
    let config_digest = client.push_blob_bytes(&repo, config.clone()).await.unwrap();
    let layer = Bytes::from_static(b"{\"status\":\"approved\"}");
    let layer_digest = client.push_blob_bytes(&repo, layer.clone()).await.unwrap();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_MANIFEST,
        "artifactType": "application/vnd.manifesto.v1+json",
        "config": {"mediaType": "application/vnd.manifesto.config.v1+json", "digest": config_digest.to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/json", "digest": layer_digest.to_string(), "size": layer.len(),
                    "annotations": {"org.opencontainers.image.title": "approvals"}}],
        "subject": {"mediaType": image.media_type, "digest": image_digest, "size": image.size},
    });
    let bytes = Bytes::from(serde_json::to_vec(&manifest).unwrap());
    let m_digest = client
        .put_manifest(&repo, None, media_types::OCI_MANIFEST, bytes.clone())
        .await
        .unwrap();
    assert_eq!(m_digest, sha256_digest(&bytes));
    let back = client
        .get_manifest(&repo, &m_digest.to_string(), &[media_types::OCI_MANIFEST])
        .await
        .unwrap();
    assert_eq!(
        back.bytes, bytes,
        "the registry serves the manifest byte for byte"
    );
    let parsed: serde_json::Value = serde_json::from_slice(&back.bytes).unwrap();
    assert_eq!(parsed["subject"]["digest"], image_digest, "subject kept");
    assert_eq!(parsed["artifactType"], "application/vnd.manifesto.v1+json");

    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_INDEX,
        "manifests": [{"mediaType": media_types::OCI_MANIFEST, "digest": m_digest.to_string(), "size": bytes.len(),
                       "annotations": {"vnd.manifesto.image-digest": image_digest}}],
    });
    let index_bytes = Bytes::from(serde_json::to_vec(&index).unwrap());
    let i_digest = client
        .put_manifest(
            &repo,
            Some("_manifesto"),
            media_types::OCI_INDEX,
            index_bytes.clone(),
        )
        .await
        .unwrap();
    let by_tag = client
        .get_manifest(&repo, "_manifesto", &[media_types::OCI_INDEX])
        .await
        .unwrap();
    assert_eq!(by_tag.bytes, index_bytes);
    assert_eq!(by_tag.digest, i_digest);
    assert_eq!(by_tag.media_type, media_types::OCI_INDEX);
}

#[tokio::test]
async fn a_blob_tampered_in_registry_storage_is_refused() {
    let s = stack(StackKind::Plain);
    let repo = unique_repo("tamper-blob");
    let client = plain_client().await;
    let data = Bytes::from(format!("{{\"status\":\"approved\",\"repo\":\"{repo}\"}}"));
    let digest = client.push_blob_bytes(&repo, data).await.unwrap();
    flip_first_byte(&s.blob_data_path(&digest.to_string()));

    let mut out = Vec::new();
    let err = client
        .pull_blob_to(&repo, &digest, 1024, &mut out)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::DigestMismatch { .. }),
        "{err:?}"
    );
    assert_eq!(err.failure().exit_code(), 3);
}

#[tokio::test]
async fn a_manifest_tampered_in_registry_storage_is_refused_by_digest() {
    let s = stack(StackKind::Plain);
    let repo = unique_repo("tamper-manifest");
    let digest = s.push_image(&repo, "v1");
    // Manifests are stored as blobs too; the registry serves the changed bytes under the old digest.
    tamper_json_keeping_it_valid(&s.blob_data_path(&digest));
    let env = TestEnv::new();
    let out = env
        .cmd()
        .args(["resolve", &s.image(&repo, &digest)])
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stdout(&out).is_empty(),
        "no output from a failed verification"
    );
}

#[test]
fn cli_resolve_prints_the_same_digest_for_tag_and_digest() {
    let s = stack(StackKind::Plain);
    let repo = unique_repo("cli-resolve");
    let pushed = s.push_image(&repo, "v1");
    let env = TestEnv::new();
    let out = env
        .cmd()
        .args(["-o", "json", "resolve", &s.image(&repo, "v1")])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let by_tag: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(by_tag["image_digest"], pushed);
    assert_eq!(by_tag["gun"], format!("{}/{repo}", s.registry));
    assert_eq!(by_tag["transport"], "http");

    let out = env
        .cmd()
        .args(["resolve", &s.image(&repo, &pushed)])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains(&pushed), "{}", stdout(&out));
}

#[test]
fn basic_auth_registry_reads_credentials_from_the_docker_config_file() {
    let s = stack(StackKind::BasicAuth);
    let repo = unique_repo("auth");
    let pushed = s.push_image(&repo, "v1");
    let image = s.image(&repo, "v1");

    let anonymous = TestEnv::new();
    let out = anonymous.cmd().args(["resolve", &image]).output().unwrap();
    assert_eq!(code(&out), 8, "no credentials: {}", stderr(&out));
    assert!(
        stderr(&out).contains("docker login"),
        "says what to do: {}",
        stderr(&out)
    );

    use base64::Engine as _;
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{TEST_USER}:{TEST_PASSWORD}"));
    let env = TestEnv::new();
    env.write_docker_config(&serde_json::json!({"auths": {s.registry.clone(): {"auth": auth}}}));
    let out = env
        .cmd()
        .args(["-v", "-v", "resolve", &image])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains(&pushed));
    assert!(
        !stderr(&out).contains(TEST_PASSWORD),
        "the password never reaches the logs"
    );

    let wrong = TestEnv::new();
    let bad = base64::engine::general_purpose::STANDARD.encode(format!("{TEST_USER}:wrong"));
    wrong.write_docker_config(&serde_json::json!({"auths": {s.registry.clone(): {"auth": bad}}}));
    let out = wrong.cmd().args(["resolve", &image]).output().unwrap();
    assert_eq!(code(&out), 8, "{}", stderr(&out));
}

#[test]
fn basic_auth_from_registry_username_and_password_variables() {
    let s = stack(StackKind::BasicAuth);
    let repo = unique_repo("auth-env");
    let pushed = s.push_image(&repo, "v1");
    let out = TestEnv::new()
        .cmd()
        .env("REGISTRY_USERNAME", TEST_USER)
        .env("REGISTRY_PASSWORD", TEST_PASSWORD)
        .args(["resolve", &s.image(&repo, "v1")])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains(&pushed));
}

#[test]
fn basic_auth_through_a_docker_credential_helper() {
    let s = stack(StackKind::BasicAuth);
    let repo = unique_repo("auth-helper");
    let pushed = s.push_image(&repo, "v1");
    let env = TestEnv::new();
    // A real credential helper process speaking Docker's helper protocol on stdin/stdout.
    let bin = env.home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-manifesto-test");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{TEST_USER}\",\"Secret\":\"{TEST_PASSWORD}\"}}' \"$server\"\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.write_docker_config(
        &serde_json::json!({"credHelpers": {s.registry.clone(): "manifesto-test"}}),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = env
        .cmd()
        .env("PATH", path)
        .args(["resolve", &s.image(&repo, "v1")])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains(&pushed));
}

#[tokio::test]
async fn tls_registry_is_trusted_only_with_the_throwaway_ca() {
    let s = stack(StackKind::Tls);
    let repo = unique_repo("tls");
    let pushed = s.push_image(&repo, "v1");
    let ca = s.ca_file.clone().expect("TLS stack has a CA");

    let settings = HttpSettings {
        extra_ca_pem: vec![CaBundle::read(&ca).unwrap()],
        ..HttpSettings::default()
    };
    let client = RegistryClient::connect(&settings, &s.registry)
        .await
        .unwrap();
    assert!(
        !client.is_plain_http(),
        "a TLS registry is spoken to over TLS even on loopback"
    );
    let resolved = client
        .resolve(&ImageRef::parse(&s.image(&repo, "v1")).unwrap())
        .await
        .unwrap();
    assert_eq!(resolved.digest.to_string(), pushed);

    let env = TestEnv::new();
    let out = env
        .cmd()
        .arg("--tls-ca")
        .arg(&ca)
        .args(["-o", "json", "resolve", &s.image(&repo, "v1")])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["transport"], "https");

    // Without the CA the certificate is not trusted, and there is no fallback to plain HTTP.
    let out = env
        .cmd()
        .args(["resolve", &s.image(&repo, "v1")])
        .output()
        .unwrap();
    // An unverifiable certificate is a trust or configuration problem, not "retry later".
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("--tls-ca"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    let no_ca = RegistryClient::connect(&HttpSettings::default(), &s.registry).await;
    if let Ok(c) = no_ca {
        assert!(
            !c.is_plain_http(),
            "an untrusted certificate never downgrades to HTTP"
        );
    }
}

#[tokio::test]
async fn explicit_credentials_are_used_for_push_and_pull() {
    let s = stack(StackKind::BasicAuth);
    let repo = unique_repo("auth-push");
    let client = RegistryClient::with_credentials(
        &HttpSettings::default(),
        &s.registry,
        true,
        Credentials::Basic {
            username: TEST_USER.into(),
            password: TEST_PASSWORD.into(),
        },
    )
    .unwrap();
    let data = Bytes::from_static(b"scan: clean");
    let d = client.push_blob_bytes(&repo, data.clone()).await.unwrap();
    assert_eq!(
        client.pull_blob_bytes(&repo, &d, 100).await.unwrap(),
        data.to_vec()
    );

    let anon = RegistryClient::with_credentials(
        &HttpSettings::default(),
        &s.registry,
        true,
        Credentials::Anonymous,
    )
    .unwrap();
    let err = anon.pull_blob_bytes(&repo, &d, 100).await.unwrap_err();
    assert_eq!(err.failure(), Failure::LocalState, "{err:?}");
}

#[tokio::test]
async fn the_harness_stack_runs_a_real_notary_server_and_registry() {
    let s = stack(StackKind::Plain);
    let health = reqwest::get(format!("{}/_notary_server/health", s.notary_url))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let v2 = reqwest::get(format!("{}/v2/", s.registry_url))
        .await
        .unwrap();
    assert_eq!(v2.status(), 200);
    assert_eq!(
        v2.headers()
            .get("docker-distribution-api-version")
            .and_then(|h| h.to_str().ok()),
        Some("registry/2.0")
    );
}

/// A registry that asks for Basic auth and answers the upload with a `Location` on another
/// host: the password goes to the registry only, never to the host the `Location` names.
#[tokio::test]
async fn an_upload_location_on_another_host_never_receives_the_registry_password() {
    use crate::hostile::{Reply, serve, serve_at};
    let elsewhere = serve_at("127.0.0.2", |_, _, _| Reply::Full(201, vec![], vec![])).await;
    let target = format!("{}/upload/1", elsewhere.url);
    let registry = serve(move |_, req, _| {
        let authed = req.header("authorization").is_some();
        match (req.method.as_str(), authed) {
            (_, false) if req.method != "HEAD" => Reply::Full(
                401,
                vec![("WWW-Authenticate".into(), "Basic realm=\"registry\"".into())],
                vec![],
            ),
            ("HEAD", _) => Reply::Full(404, vec![], vec![]),
            ("POST", true) => Reply::Full(202, vec![("Location".into(), target.clone())], vec![]),
            _ => Reply::Full(500, vec![], vec![]),
        }
    })
    .await;
    let host = registry.url.trim_start_matches("http://").to_owned();
    let client = RegistryClient::with_credentials(
        &plain_settings(),
        &host,
        true,
        Credentials::Basic {
            username: "alice".into(),
            password: "s3cret-registry-password".into(),
        },
    )
    .unwrap();
    let data = Bytes::from_static(b"{\"approved\":true}");
    client.push_blob_bytes("team/app", data).await.unwrap();

    let posted: Vec<_> = registry
        .seen()
        .into_iter()
        .filter(|(r, _)| r.method == "POST")
        .collect();
    assert!(
        posted.iter().any(|(r, status)| *status == 202
            && r.header("authorization")
                .is_some_and(|a| a.starts_with("Basic "))),
        "the registry got the credentials after its challenge: {posted:?}"
    );
    let uploads = elsewhere.seen();
    assert_eq!(
        uploads.len(),
        1,
        "the blob went to the Location: {uploads:?}"
    );
    assert_eq!(uploads[0].0.method, "PUT");
    assert!(
        uploads[0].0.path.contains("digest=sha256"),
        "{:?}",
        uploads[0].0.path
    );
    assert!(
        uploads[0].0.header("authorization").is_none(),
        "no credentials for another host: {:?}",
        uploads[0].0.headers
    );
}
