//! Publishing to a Notary server: the multipart update POST, the keys the server holds, and the
//! server's refusals turned into errors that say what happened.
//!
//! The retry loop around it (re-fetch, re-verify, re-apply the intent, re-sign) lives in
//! [`publish_with_retry`]: on `400 VERSION` another writer won, and bumping our stale document's
//! version would erase their change, so the change is rebuilt on the new state instead.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde::Deserialize;

use super::error::NotaryError;
use super::http::NotaryHttp;
use super::repository::TrustedRepository;
use crate::config::Settings;
use crate::failure::Failure;
use crate::registry::reference::RepositoryRef;
use crate::tuf::key::PublicKey;
use crate::tuf::names::RoleName;
use crate::tuf::update::{MetadataSource, Updater};

/// Attempts of one publish when other writers keep winning. 20 racing writers needed up to 7
/// against the in-memory notary-server and up to 11 against the production deployment
/// (PostgreSQL, remote signer: slower POSTs, more overlap); see docs/decisions.md.
pub const PUBLISH_ATTEMPTS: u32 = 20;

/// One role's new file in an update.
#[derive(Debug, Clone)]
pub struct UpdatePart {
    pub role: RoleName,
    pub bytes: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// `400 VERSION`: the server already has this version or a newer one.
    #[error("another writer updated {gun} first")]
    Stale { gun: String },
    #[error("the Notary server refused the update of {gun}: {message}")]
    Rejected {
        gun: String,
        code: String,
        message: String,
    },
    #[error(
        "gave up publishing to {gun} after {attempts} attempts: other writers kept changing it"
    )]
    Conflict { gun: String, attempts: u32 },
    #[error(transparent)]
    Notary(#[from] NotaryError),
}

impl PublishError {
    pub fn failure(&self) -> Failure {
        match self {
            PublishError::Stale { .. } | PublishError::Conflict { .. } => Failure::Conflict,
            // Signatures the server does not accept: a key that is not (or no longer) authorised.
            PublishError::Rejected { .. } => Failure::Untrusted,
            PublishError::Notary(e) => e.failure(),
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ServerError>,
}

#[derive(Deserialize)]
struct ServerError {
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    detail: serde_json::Value,
}

/// What went wrong, from a notary-server error body: the most specific message it carries.
fn explain(body: &[u8]) -> Option<(String, String)> {
    let parsed: ErrorBody = serde_json::from_slice(body).ok()?;
    let first = parsed.errors.into_iter().next()?;
    let detail = first
        .detail
        .pointer("/Error/Msg")
        .and_then(|m| m.as_str())
        .map(str::to_string);
    let mut message = detail.unwrap_or(first.message);
    if first.detail.get("Name").and_then(|n| n.as_str()) == Some("ErrBadHierarchy") {
        message.push_str(
            " (this repository's snapshot key is held by a client: rotate it to the server with 'notary key rotate <repo> snapshot -r')",
        );
    }
    Some((first.code, message))
}

fn random_boundary() -> String {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("system randomness");
    hex::encode(bytes)
}

/// The multipart body notary-server expects: one part per role, field `files`, the role as the
/// file name.
fn multipart_body(boundary: &str, parts: &[UpdatePart]) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{}\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                part.role
            )
            .as_bytes(),
        );
        body.extend_from_slice(&part.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

impl NotaryHttp {
    /// POST one atomic update of several roles.
    pub async fn post_update(&self, parts: &[UpdatePart]) -> Result<(), PublishError> {
        let url = self.url("");
        let boundary = random_boundary();
        let body = multipart_body(&boundary, parts);
        let response = self
            .send(|| {
                self.client
                    .post(&url)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .body(body.clone())
            })
            .await?;
        let status = response.status();
        tracing::info!(
            "POST {url} ({}): {}",
            parts
                .iter()
                .map(|p| p.role.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            status.as_u16()
        );
        if status.is_success() {
            return Ok(());
        }
        if status == StatusCode::BAD_REQUEST {
            let bytes = self.read_small(response).await.unwrap_or_default();
            let (code, message) = explain(&bytes)
                .unwrap_or_else(|| ("UNKNOWN".into(), String::from_utf8_lossy(&bytes).into()));
            if code == "VERSION" {
                return Err(PublishError::Stale {
                    gun: self.gun().into(),
                });
            }
            return Err(PublishError::Rejected {
                gun: self.gun().into(),
                code,
                message,
            });
        }
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            // notary-server 0.7 on PostgreSQL: two writers racing for the same version make the
            // loser's INSERT hit the (gun, role, version) unique constraint, which it reports as
            // `500 UPDATING` (only MySQL's duplicate-key error becomes `400 VERSION`). The
            // transaction was rolled back, so this is a lost race: start over on the new state
            // (bounded by PUBLISH_ATTEMPTS, like `400 VERSION`).
            let bytes = self.read_small(response).await.unwrap_or_default();
            if explain(&bytes).is_some_and(|(code, _)| code == "UPDATING") {
                return Err(PublishError::Stale {
                    gun: self.gun().into(),
                });
            }
            return Err(NotaryError::Server {
                url,
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes).trim().to_string(),
            }
            .into());
        }
        Err(self.server_error(&url, response).await.into())
    }

    /// The public key the server holds for `role` (`timestamp` or `snapshot`). The server
    /// creates it on first request.
    pub async fn server_key(&self, role: &str) -> Result<PublicKey, NotaryError> {
        let file = format!("{role}.key");
        let bytes = self.get(&file, 64 * 1024).await?;
        serde_json::from_slice(&bytes).map_err(|e| NotaryError::Server {
            url: self.url(&file),
            status: 200,
            body: format!("not a public key: {e}"),
        })
    }

    /// Ask the server to make a new key for `role`; the root must then list it.
    pub async fn rotate_server_key(&self, role: &str) -> Result<PublicKey, NotaryError> {
        let url = self.url(&format!("{role}.key"));
        let response = self.send(|| self.client.post(&url)).await?;
        if !response.status().is_success() {
            return Err(self.server_error(&url, response).await);
        }
        let bytes = self.read_small(response).await.unwrap_or_default();
        serde_json::from_slice(&bytes).map_err(|e| NotaryError::Server {
            url,
            status: 200,
            body: format!("not a public key: {e}"),
        })
    }
}

/// Where a publish goes: the Notary server in production ([`NotaryHttp::post_update`]), a double
/// in unit tests. It is also where the state to build on is read from, so one value serves both
/// halves of the loop.
pub trait UpdateSink: MetadataSource {
    /// POST one atomic update of several roles.
    fn publish(
        &self,
        parts: &[UpdatePart],
    ) -> impl std::future::Future<Output = Result<(), PublishError>> + Send;
}

impl UpdateSink for NotaryHttp {
    async fn publish(&self, parts: &[UpdatePart]) -> Result<(), PublishError> {
        self.post_update(parts).await
    }
}

/// The keys a Notary server holds for a repository (timestamp, and snapshot unless the owner
/// signs it): what `init` and `key rotate` need of the server beyond reading and publishing.
pub trait ServerKeys {
    /// The public key the server signs `role` with.
    fn server_key(
        &self,
        role: &str,
    ) -> impl std::future::Future<Output = Result<PublicKey, NotaryError>> + Send;

    /// Ask the server for a new key for `role`; returns its public half.
    fn rotate_server_key(
        &self,
        role: &str,
    ) -> impl std::future::Future<Output = Result<PublicKey, NotaryError>> + Send;
}

impl ServerKeys for NotaryHttp {
    fn server_key(
        &self,
        role: &str,
    ) -> impl std::future::Future<Output = Result<PublicKey, NotaryError>> + Send {
        NotaryHttp::server_key(self, role)
    }

    fn rotate_server_key(
        &self,
        role: &str,
    ) -> impl std::future::Future<Output = Result<PublicKey, NotaryError>> + Send {
        NotaryHttp::rotate_server_key(self, role)
    }
}

/// How a publish ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// Our POST was accepted.
    Now { attempts: u32 },
    /// The verified state already held the change (a re-run, or a POST whose answer was lost).
    AlreadyThere,
}

/// Publish a change to `repo`: verify the current state, let `build` turn the intent into
/// signed files for that state (`None` when the state already holds it; it may load delegations
/// and push registry content first), POST, and on `400 VERSION` start over on the new state
/// after a random pause.
///
/// The error type is the caller's (`build` returns it), so this wire-level loop never needs to
/// know the layers above it.
pub async fn publish_with_retry<F, E>(
    settings: &Settings,
    repo: &RepositoryRef,
    build: F,
) -> Result<Published, E>
where
    F: AsyncFnMut(&mut Updater<NotaryHttp>) -> Result<Option<Vec<UpdatePart>>, E>,
    E: From<NotaryError> + From<PublishError>,
{
    publish_with_retry_on(
        &repo.gun(),
        async || TrustedRepository::open(settings, repo, Utc::now()).await,
        build,
    )
    .await
}

/// [`publish_with_retry`] over any [`UpdateSink`]: `open` verifies the current state afresh for
/// each attempt (the HTTP one opens the trust cache and the Notary server of `repo`).
pub async fn publish_with_retry_on<S, O, F, E>(
    gun: &str,
    mut open: O,
    mut build: F,
) -> Result<Published, E>
where
    S: UpdateSink,
    O: AsyncFnMut() -> Result<TrustedRepository<S>, NotaryError>,
    F: AsyncFnMut(&mut Updater<S>) -> Result<Option<Vec<UpdatePart>>, E>,
    E: From<NotaryError> + From<PublishError>,
{
    let gun = gun.to_owned();
    for attempt in 1..=PUBLISH_ATTEMPTS {
        let mut trusted = open().await?;
        let Some(parts) = build(&mut trusted.updater).await? else {
            trusted.persist()?;
            return Ok(Published::AlreadyThere);
        };
        match trusted.updater.source().publish(&parts).await {
            Ok(()) => {
                trusted.persist()?;
                return Ok(Published::Now { attempts: attempt });
            }
            Err(PublishError::Stale { .. }) => {
                drop(trusted);
                let pause = jitter(attempt);
                tracing::info!(%gun, attempt, ?pause, "another writer won; retrying on the new state");
                tokio::time::sleep(pause).await;
            }
            Err(PublishError::Notary(
                e @ (NotaryError::Unreachable { .. } | NotaryError::Server { .. }),
            )) => {
                // The answer may have been lost after the server stored the update: if the
                // verified state now holds the change, it was published.
                drop(trusted);
                let mut again = open().await?;
                if build(&mut again.updater).await?.is_none() {
                    again.persist()?;
                    return Ok(Published::AlreadyThere);
                }
                return Err(PublishError::Notary(e).into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(PublishError::Conflict {
        gun,
        attempts: PUBLISH_ATTEMPTS,
    }
    .into())
}

/// A random pause growing with the attempt, so racing writers spread out.
fn jitter(attempt: u32) -> Duration {
    let mut byte = [0u8; 2];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut byte);
    let spread = u64::from(u16::from_le_bytes(byte)) % (100 * u64::from(attempt));
    Duration::from_millis(20 * u64::from(attempt) + spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    mod retry_loop {
        //! The publish loop over an in-memory sink: what it does on each answer the server
        //! can give, without a server.
        use std::sync::Mutex;
        use std::sync::atomic::{AtomicU32, Ordering};

        use super::*;
        use crate::tuf::memory_source::MemorySource;
        use crate::tuf::test_support::{self as ts, GUN, Repo};
        use crate::tuf::update::TransportError;

        /// Serves a repository and answers each publish with the next scripted answer.
        struct Sink<'a> {
            source: &'a MemorySource,
            answers: Mutex<Vec<Result<(), PublishError>>>,
            posted: AtomicU32,
        }

        impl MetadataSource for &Sink<'_> {
            async fn fetch(
                &self,
                file: &str,
                max_len: u64,
            ) -> Result<Option<Vec<u8>>, TransportError> {
                self.source.fetch(file, max_len).await
            }
        }

        impl UpdateSink for &Sink<'_> {
            async fn publish(&self, _parts: &[UpdatePart]) -> Result<(), PublishError> {
                self.posted.fetch_add(1, Ordering::SeqCst);
                self.answers.lock().unwrap().remove(0)
            }
        }

        /// The caller's error type, as the flows' `Error` is for them (its fields are read
        /// through `Debug` in assertion messages).
        #[derive(Debug)]
        #[allow(dead_code)]
        enum Failed {
            Notary(NotaryError),
            Publish(PublishError),
        }

        impl From<NotaryError> for Failed {
            fn from(e: NotaryError) -> Self {
                Failed::Notary(e)
            }
        }

        impl From<PublishError> for Failed {
            fn from(e: PublishError) -> Self {
                Failed::Publish(e)
            }
        }

        fn settings(dir: &std::path::Path) -> Settings {
            Settings::for_tests(dir)
        }

        fn part() -> Vec<UpdatePart> {
            vec![UpdatePart {
                role: RoleName::targets(),
                bytes: b"{}".to_vec(),
            }]
        }

        fn stale() -> PublishError {
            PublishError::Stale { gun: GUN.into() }
        }

        fn server_500() -> PublishError {
            PublishError::Notary(NotaryError::Server {
                url: "http://notary/v2/x/_trust/tuf/".into(),
                status: 500,
                body: String::new(),
            })
        }

        /// Runs the loop; `build` returns a change until it has been called `changes` times,
        /// then reports the state as already holding it. Returns the outcome, how often the
        /// state was opened and built on, and how many POSTs went out.
        async fn run(
            answers: Vec<Result<(), PublishError>>,
            changes: u32,
        ) -> (Result<Published, Failed>, u32, u32, u32) {
            let repo = Repo::new();
            let source = MemorySource::serving(&repo);
            let sink = Sink {
                source: &source,
                answers: Mutex::new(answers),
                posted: AtomicU32::new(0),
            };
            let dir = tempfile::tempdir().unwrap();
            let settings = settings(dir.path());
            let opened = AtomicU32::new(0);
            let built = AtomicU32::new(0);
            let outcome = publish_with_retry_on::<_, _, _, Failed>(
                GUN,
                async || {
                    opened.fetch_add(1, Ordering::SeqCst);
                    TrustedRepository::open_with(&settings, GUN, &sink, ts::now()).await
                },
                async |_updater| {
                    let n = built.fetch_add(1, Ordering::SeqCst) + 1;
                    Ok((n <= changes).then(part))
                },
            )
            .await;
            (
                outcome,
                opened.load(Ordering::SeqCst),
                built.load(Ordering::SeqCst),
                sink.posted.load(Ordering::SeqCst),
            )
        }

        #[tokio::test]
        async fn an_accepted_publish_posts_once_on_one_verified_state() {
            let (outcome, opened, built, posted) = run(vec![Ok(())], 1).await;
            assert_eq!(outcome.unwrap(), Published::Now { attempts: 1 });
            assert_eq!((opened, built, posted), (1, 1, 1));
        }

        #[tokio::test]
        async fn a_lost_race_rebuilds_the_change_on_a_fresh_state_before_posting_again() {
            let (outcome, opened, built, posted) = run(vec![Err(stale()), Ok(())], 2).await;
            assert_eq!(outcome.unwrap(), Published::Now { attempts: 2 });
            // Never the stale document again: the state is re-read and the change rebuilt.
            assert_eq!((opened, built, posted), (2, 2, 2));
        }

        #[tokio::test]
        async fn a_change_the_new_state_already_holds_is_not_posted_again() {
            let (outcome, opened, built, posted) = run(vec![Err(stale())], 1).await;
            assert_eq!(outcome.unwrap(), Published::AlreadyThere);
            assert_eq!((opened, built, posted), (2, 2, 1));
        }

        #[tokio::test]
        async fn a_5xx_whose_update_landed_is_a_success_and_one_that_did_not_is_an_error() {
            let (outcome, opened, _, posted) = run(vec![Err(server_500())], 1).await;
            assert_eq!(outcome.unwrap(), Published::AlreadyThere);
            assert_eq!((opened, posted), (2, 1));

            let (outcome, _, _, posted) = run(vec![Err(server_500())], 5).await;
            assert!(
                matches!(
                    outcome,
                    Err(Failed::Publish(PublishError::Notary(NotaryError::Server {
                        status: 500,
                        ..
                    })))
                ),
                "{outcome:?}"
            );
            assert_eq!(posted, 1, "a server error is not retried blindly");
        }
    }

    #[test]
    fn server_refusals_are_explained_by_their_most_specific_message() {
        let body = br#"{"errors":[{"code":"INVALID_UPDATE","message":"Update sent by the client is invalid.","detail":{"Name":"ErrBadTargets","Error":{"Msg":"valid signatures did not meet threshold for targets"}}}]}"#;
        let (code, msg) = explain(body).unwrap();
        assert_eq!(code, "INVALID_UPDATE");
        assert_eq!(msg, "valid signatures did not meet threshold for targets");
        let (code, _) = explain(br#"{"errors":[{"code":"VERSION","message":"A newer version of metadata is already available.","detail":{}}]}"#).unwrap();
        assert_eq!(code, "VERSION");
        let (_, msg) = explain(br#"{"errors":[{"code":"INVALID_UPDATE","message":"x","detail":{"Name":"ErrBadHierarchy","Error":{"Missing":"snapshot","Msg":"no snapshot was included"}}}]}"#).unwrap();
        assert!(msg.contains("snapshot -r"), "{msg}");
    }

    #[test]
    fn the_multipart_body_has_one_files_part_per_role() {
        let parts = [
            UpdatePart {
                role: RoleName::targets(),
                bytes: b"{\"t\":1}".to_vec(),
            },
            UpdatePart {
                role: RoleName::parse("targets/qa").unwrap(),
                bytes: b"{\"q\":2}".to_vec(),
            },
        ];
        let body = String::from_utf8(multipart_body("BOUND", &parts)).unwrap();
        assert_eq!(body.matches("name=\"files\"").count(), 2);
        assert!(body.contains("filename=\"targets/qa\""));
        assert!(body.ends_with("--BOUND--\r\n"));
    }

    #[test]
    fn jitter_grows_with_the_attempt_and_stays_bounded() {
        for attempt in 1..=PUBLISH_ATTEMPTS {
            let d = jitter(attempt);
            assert!(d >= Duration::from_millis(20 * u64::from(attempt)));
            assert!(d < Duration::from_millis(120 * u64::from(attempt)));
        }
    }
}
