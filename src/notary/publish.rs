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
use crate::tuf::update::Updater;

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
    mut build: F,
) -> Result<Published, E>
where
    F: AsyncFnMut(&mut Updater<NotaryHttp>) -> Result<Option<Vec<UpdatePart>>, E>,
    E: From<NotaryError> + From<PublishError>,
{
    let gun = repo.gun();
    for attempt in 1..=PUBLISH_ATTEMPTS {
        let mut trusted = TrustedRepository::open(settings, repo, Utc::now()).await?;
        let Some(parts) = build(&mut trusted.updater).await? else {
            trusted.persist()?;
            return Ok(Published::AlreadyThere);
        };
        match trusted.updater.source().post_update(&parts).await {
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
                let mut again = TrustedRepository::open(settings, repo, Utc::now()).await?;
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
