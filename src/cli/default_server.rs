//! The defaulted Notary server, said when it fails. With no `--server`, `MANIFESTO_SERVER`,
//! `DOCKER_CONTENT_TRUST_SERVER` or config `server`, Docker's default for the image's registry
//! is used (`https://<registry host>`, notary.docker.io for Docker Hub); a user who never chose
//! that server should learn, when it fails, that it was a guess and how to name the right one.

use std::error::Error as StdError;

use crate::error::Error;
use crate::notary::NotaryError;
use crate::notary::publish::PublishError;
use crate::tuf::update::{TransportError, UpdateError};

/// `err`, wrapped in [`Error::DefaultServer`] when it is a failure to reach or use the Notary
/// server that was defaulted; anything else (bad input, a trust failure, the registry) as is.
/// The exit code stays the wrapped error's.
pub fn explain(err: Error) -> Error {
    match server_contact(&err) {
        Some(server) => Error::DefaultServer {
            registry: registry_of(&server),
            server,
            source: Box::new(err),
        },
        None => err,
    }
}

/// The server a failed contact was with, when `err` is one: unreachable, TLS, a deadline, an
/// HTTP error or refusal, or no trust data at all there.
fn server_contact(err: &(dyn StdError + 'static)) -> Option<String> {
    // `#[error(transparent)]` wrappers forward `source()` past their inner error, so the
    // wrappers on the way down are opened by hand.
    if let Some(e) = err.downcast_ref::<Error>() {
        match e {
            Error::Notary(n) => return server_contact(n),
            Error::Update(u) => return server_contact(u),
            Error::Publish(p) => return server_contact(p),
            _ => {}
        }
    }
    if let Some(PublishError::Notary(n)) = err.downcast_ref::<PublishError>() {
        return server_contact(n);
    }
    if let Some(e) = err.downcast_ref::<NotaryError>() {
        return match e {
            NotaryError::Unreachable { server, .. }
            | NotaryError::TlsUntrusted { server, .. }
            | NotaryError::FileDeadline { server, .. }
            | NotaryError::UpdateDeadline { server, .. } => Some(server.clone()),
            NotaryError::NotFound { url } | NotaryError::Server { url, .. } => origin(url),
            NotaryError::Unauthorized { server } => Some(format!("https://{server}")),
            NotaryError::Update(u) => server_contact(u),
            _ => None,
        };
    }
    if let Some(e) = err.downcast_ref::<UpdateError>() {
        return match e {
            UpdateError::NotInitialised { gun, .. } => {
                let registry = gun.split('/').next().unwrap_or_default();
                Some(crate::notary::http::default_server_for(registry))
            }
            UpdateError::Transport(t) => server_contact(t),
            _ => None,
        };
    }
    if let Some(t) = err.downcast_ref::<TransportError>() {
        return server_contact(&*t.source);
    }
    None
}

fn origin(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    Some(parsed.origin().ascii_serialization())
}

/// The registry whose default `server` is (the inverse of `default_server_for`).
fn registry_of(server: &str) -> String {
    let Ok(url) = url::Url::parse(server) else {
        return server.to_owned();
    };
    match (url.host_str(), url.port()) {
        (Some("notary.docker.io"), _) => "docker.io".to_owned(),
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => server.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uninitialised_repository_on_the_defaulted_server_names_it_and_the_ways_to_set_one() {
        let err = explain(Error::Update(UpdateError::NotInitialised {
            gun: "registry.example.com:5000/team/app".into(),
            file: "root.json".into(),
        }));
        let text = err.to_string();
        assert!(text.contains("https://registry.example.com:5000"), "{text}");
        for way in [
            "--server",
            "MANIFESTO_SERVER",
            "DOCKER_CONTENT_TRUST_SERVER",
        ] {
            assert!(text.contains(way), "{way} missing: {text}");
        }
        // The exit code is the wrapped error's.
        assert_eq!(err.failure(), crate::failure::Failure::NotFound);
    }

    #[test]
    fn docker_hub_s_default_is_notary_docker_io() {
        let err = explain(Error::Notary(NotaryError::Unauthorized {
            server: "notary.docker.io".into(),
        }));
        assert!(
            err.to_string()
                .contains("https://notary.docker.io (Docker's default for the registry docker.io)"),
            "{err}"
        );
    }

    #[test]
    fn errors_that_are_not_about_the_server_stay_as_they_are() {
        let err = explain(Error::NothingToVerify);
        assert!(matches!(err, Error::NothingToVerify));
        let err = explain(Error::Notary(NotaryError::LockTimeout {
            path: "/x".into(),
            seconds: 1,
        }));
        assert!(matches!(
            err,
            Error::Notary(NotaryError::LockTimeout { .. })
        ));
    }
}
