//! The Notary HTTP transport: size caps, retries and token auth against a hostile server, and
//! plain reads against the real notary-server.

use std::sync::{Arc, Mutex};

use manifesto::Failure;
use manifesto::http::HttpSettings;
use manifesto::notary::http::server_url;
use manifesto::notary::{NotaryError, NotaryHttp};

use crate::harness::{StackKind, stack, unique_repo};
use crate::hostile::{Reply, serve};

async fn client(url: &str, gun: &str) -> NotaryHttp {
    let settings = HttpSettings::default();
    NotaryHttp::new(
        &settings,
        &manifesto::tuf::limits::Limits::default(),
        server_url(&settings, url).unwrap(),
        gun,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn an_endless_timestamp_is_cut_off_at_the_cap() {
    let server = serve(|_, _, _| Reply::Endless).await;
    let err = client(&server.url, "r/x")
        .await
        .get("timestamp.json", 1 << 20)
        .await
        .unwrap_err();
    assert!(
        matches!(err, NotaryError::TooLarge { limit, .. } if limit == 1 << 20),
        "{err:?}"
    );
    assert_eq!(err.failure(), Failure::Untrusted);
}

#[tokio::test]
async fn a_lying_content_length_is_refused_before_reading_the_body() {
    let server = serve(|_, _, _| Reply::Lying {
        claimed: 1 << 40,
        sent: 10,
    })
    .await;
    let err = client(&server.url, "r/x")
        .await
        .get("root.json", 512 * 1024)
        .await
        .unwrap_err();
    assert!(matches!(err, NotaryError::TooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let server = serve(|n, _, _| {
        if n < 2 {
            Reply::Full(503, vec![], b"busy".to_vec())
        } else {
            Reply::Full(200, vec![], b"{\"ok\":1}".to_vec())
        }
    })
    .await;
    let body = client(&server.url, "r/x")
        .await
        .get("timestamp.json", 1024)
        .await
        .unwrap();
    assert_eq!(body, b"{\"ok\":1}");
    assert_eq!(server.hits.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[tokio::test]
async fn persistent_server_errors_are_unavailable_after_bounded_retries() {
    let server = serve(|_, _, _| Reply::Full(500, vec![], b"down".to_vec())).await;
    let err = client(&server.url, "r/x")
        .await
        .get("timestamp.json", 1024)
        .await
        .unwrap_err();
    assert_eq!(err.failure(), Failure::Unavailable, "{err:?}");
    assert_eq!(
        server.hits.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "three attempts, no more"
    );
}

#[tokio::test]
async fn a_bearer_challenge_is_answered_through_the_token_service() {
    let seen_auth = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = seen_auth.clone();
    let server = serve(move |_, req, base| {
        assert_eq!(req.method, "GET", "metadata and tokens are only ever fetched with GET");
        if req.path.starts_with("/token?") {
            assert!(req.path.contains("service=notary-server"), "{}", req.path);
            assert!(req.path.contains("scope=repository%3Ar%2Fx%3Apull"), "{}", req.path);
            return Reply::Full(200, vec![], br#"{"token":"tok-123"}"#.to_vec());
        }
        let auth = req.header("authorization").unwrap_or_default().to_string();
        seen.lock().unwrap().push(auth.clone());
        if auth == "Bearer tok-123" {
            Reply::Full(200, vec![], b"{}".to_vec())
        } else {
            Reply::Full(
                401,
                vec![(
                    "WWW-Authenticate".into(),
                    format!(r#"Bearer realm="{base}/token",service="notary-server",scope="repository:r/x:pull""#),
                )],
                br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.to_vec(),
            )
        }
    })
    .await;
    let c = client(&server.url, "r/x").await;
    assert_eq!(c.get("timestamp.json", 1024).await.unwrap(), b"{}");
    // The token is reused for the next request: no new challenge.
    assert_eq!(c.get("snapshot.json", 1024).await.unwrap(), b"{}");
    let seen = seen_auth.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            "".to_string(),
            "Bearer tok-123".into(),
            "Bearer tok-123".into()
        ]
    );
}

#[tokio::test]
async fn a_refused_token_is_unauthorized_exit_8() {
    let server = serve(move |_, req, base| {
        if req.path.starts_with("/token") {
            return Reply::Full(401, vec![], b"no".to_vec());
        }
        Reply::Full(
            401,
            vec![(
                "WWW-Authenticate".into(),
                format!(r#"Bearer realm="{base}/token",service="s""#),
            )],
            vec![],
        )
    })
    .await;
    let err = client(&server.url, "r/x")
        .await
        .get("root.json", 1024)
        .await
        .unwrap_err();
    assert_eq!(err.failure().exit_code(), 8, "{err:?}");
}

#[tokio::test]
async fn an_unknown_repository_on_the_real_server_is_not_found() {
    let s = stack(StackKind::Plain);
    let gun = format!("{}/{}", s.registry, unique_repo("notary-missing"));
    let err = client(&s.notary_url, &gun)
        .await
        .get("root.json", 1 << 20)
        .await
        .unwrap_err();
    assert!(matches!(err, NotaryError::NotFound { .. }), "{err:?}");
    assert_eq!(err.failure().exit_code(), 9);
}
