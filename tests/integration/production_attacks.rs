//! Where the password goes (issue 14: "never sends credentials to a host other than the realm
//! and the server that asked"). Hostile Notary servers on loopback, each with helpers on other
//! loopback addresses it also controls, record every request; manifesto runs logged in with
//! REGISTRY_USERNAME / REGISTRY_PASSWORD, as against the production stack.
//!
//! What they pin: `Authorization: Basic …` goes only to the realm the challenge names, never
//! to the Notary server itself or any other host; a redirect (302) to another host, from the
//! realm or from the Notary server, reaches its target without any `Authorization` header.

use base64::Engine;

use crate::harness::{TEST_PASSWORD, TEST_USER, TestEnv, code, stderr};
use crate::hostile::{Hostile, Reply, Request, serve, serve_at};

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{TEST_USER}:{TEST_PASSWORD}"))
    )
}

fn challenge(realm: &str) -> Reply {
    Reply::Full(
        401,
        vec![(
            "WWW-Authenticate".into(),
            format!(
                r#"Bearer realm="{realm}",service="notary-server",scope="repository:x/y:pull""#
            ),
        )],
        br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.to_vec(),
    )
}

fn token(t: &str) -> Reply {
    Reply::Full(200, vec![], format!(r#"{{"token":"{t}"}}"#).into_bytes())
}

fn not_found() -> Reply {
    Reply::Full(
        404,
        vec![],
        br#"{"errors":[{"code":"NOT_FOUND"}]}"#.to_vec(),
    )
}

fn authorizations(h: &Hostile) -> Vec<String> {
    h.seen()
        .iter()
        .filter_map(|(r, _): &(Request, u16)| r.header("authorization").map(str::to_string))
        .collect()
}

/// `manifesto --server SERVER trust inspect GUN`, logged in; the run itself is expected to fail
/// (the hostile server has no repository), only where the credentials went matters.
async fn inspect_logged_in(server: &str, gun: &str) {
    let (server, gun) = (server.to_string(), gun.to_string());
    let out = tokio::task::spawn_blocking(move || {
        TestEnv::new()
            .cmd()
            .env("REGISTRY_USERNAME", TEST_USER)
            .env("REGISTRY_PASSWORD", TEST_PASSWORD)
            .args(["--server", &server, "trust", "inspect", &gun])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_ne!(code(&out), 0, "no repository there: {}", stderr(&out));
}

/// A Notary server whose challenge names a realm on another loopback address: the realm gets
/// the password (it was named), the server only the bearer token, and the image's registry
/// host (a third address, which `trust inspect` has no reason to contact) nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_goes_only_to_the_realm_the_challenge_names() {
    let bystander = serve_at("127.0.0.3", |_, _, _| not_found()).await;
    let realm = serve_at("127.0.0.2", |_, r, _| {
        if r.header("authorization").is_some() {
            token("tok-realm")
        } else {
            challenge("http://127.0.0.2/")
        }
    })
    .await;
    let realm_url = format!("{}/token", realm.url);
    let notary = serve(move |_, r, _| {
        if r.header("authorization") == Some("Bearer tok-realm") {
            not_found()
        } else {
            challenge(&realm_url)
        }
    })
    .await;
    let gun = format!("{}/x/y", bystander.url.trim_start_matches("http://"));
    inspect_logged_in(&notary.url, &gun).await;

    let to_realm = authorizations(&realm);
    assert!(
        !to_realm.is_empty() && to_realm.iter().all(|a| *a == basic()),
        "the realm got the password, as Basic: {to_realm:?}"
    );
    let to_notary = authorizations(&notary);
    assert!(
        to_notary.contains(&"Bearer tok-realm".to_string()),
        "the Notary server got the token: {to_notary:?}"
    );
    assert!(
        to_notary.iter().all(|a| a.starts_with("Bearer ")),
        "the Notary server never got the password: {to_notary:?}"
    );
    assert!(
        bystander.seen().is_empty(),
        "nothing went to any other host: {:?}",
        bystander.seen()
    );
}

/// A realm that redirects (302) the token request to another host, and a Notary server that
/// redirects its metadata there once it has our token: the target of both redirects sees the
/// requests, but never an `Authorization` header (neither the password nor the token); only the
/// realm named in the challenge got the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_host_never_carries_credentials() {
    let target = serve_at("127.0.0.2", |_, r, _| {
        if r.path.starts_with("/token") {
            token("tok-redirected")
        } else {
            not_found()
        }
    })
    .await;
    let target_url = target.url.clone();
    let realm = serve(move |_, r, _| {
        Reply::Full(
            302,
            vec![("Location".into(), format!("{target_url}{}", r.path))],
            vec![],
        )
    })
    .await;
    let realm_url = format!("{}/token", realm.url);
    let target_url = target.url.clone();
    let notary = serve(move |_, r, _| {
        if r.header("authorization")
            .is_some_and(|a| a.starts_with("Bearer "))
        {
            Reply::Full(
                302,
                vec![("Location".into(), format!("{target_url}{}", r.path))],
                vec![],
            )
        } else {
            challenge(&realm_url)
        }
    })
    .await;
    inspect_logged_in(&notary.url, "127.0.0.1:9/x/y").await;

    let at_target = target.seen();
    assert!(
        at_target.iter().any(|(r, _)| r.path.starts_with("/token")),
        "the realm's redirect was followed: {at_target:?}"
    );
    assert!(
        at_target
            .iter()
            .any(|(r, _)| r.path.contains("/_trust/tuf/")),
        "the Notary server's redirect was followed: {at_target:?}"
    );
    assert!(
        authorizations(&target).is_empty(),
        "the redirect target never got credentials: {at_target:?}"
    );
    assert_eq!(
        authorizations(&realm),
        vec![basic()],
        "the realm named in the challenge got the password, once"
    );
    let to_notary = authorizations(&notary);
    assert!(
        to_notary.iter().all(|a| a == "Bearer tok-redirected"),
        "the Notary server never got the password: {to_notary:?}"
    );
}
