//! Registry credentials, found the way the Docker CLI finds them.
//!
//! Order: `REGISTRY_USERNAME`/`REGISTRY_PASSWORD`, then Docker's `config.json` (`$DOCKER_CONFIG`
//! or `~/.docker`): `credHelpers` for the host, `auths`, then `credsStore`. Nothing found means
//! anonymous access. Secrets never reach logs or error messages: [`Credentials`] redacts its
//! `Debug` output.

use std::fmt;

use docker_credential::{CredentialRetrievalError, DockerCredential};
use oci_client::secrets::RegistryAuth;

use super::error::RegistryError;

/// Credentials for one registry. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Anonymous,
    Basic {
        username: String,
        password: String,
    },
    /// An identity (refresh) token from `docker login` against an OAuth registry.
    IdentityToken(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credentials::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

impl Credentials {
    /// Where these credentials came from, for `-v` logs (never the secret itself).
    pub fn describe(&self) -> &'static str {
        match self {
            Credentials::Anonymous => "anonymous",
            Credentials::Basic { .. } => "username and password",
            Credentials::IdentityToken(_) => "identity token",
        }
    }

    pub(crate) fn to_oci(&self) -> RegistryAuth {
        match self {
            Credentials::Anonymous => RegistryAuth::Anonymous,
            Credentials::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            // Docker's identity tokens are OAuth refresh tokens; the registry's token endpoint
            // accepts them as the password of the `<token>` user.
            Credentials::IdentityToken(token) => {
                RegistryAuth::Basic("<token>".into(), token.clone())
            }
        }
    }
}

/// Docker config keys the Hub is stored under.
fn docker_config_keys(registry: &str) -> Vec<String> {
    if registry == "docker.io"
        || registry == "index.docker.io"
        || registry == "registry-1.docker.io"
    {
        vec![
            "https://index.docker.io/v1/".into(),
            "docker.io".into(),
            "index.docker.io".into(),
        ]
    } else {
        vec![
            registry.to_string(),
            format!("https://{registry}"),
            format!("http://{registry}"),
        ]
    }
}

/// Find credentials for `registry` (`host[:port]` as in the image reference).
pub fn lookup(registry: &str) -> Result<Credentials, RegistryError> {
    let user = std::env::var("REGISTRY_USERNAME")
        .ok()
        .filter(|s| !s.is_empty());
    let pass = std::env::var("REGISTRY_PASSWORD").ok();
    match (user, pass) {
        (Some(username), Some(password)) => return Ok(Credentials::Basic { username, password }),
        (Some(_), None) => {
            return Err(RegistryError::Credentials {
                registry: registry.into(),
                reason: "REGISTRY_USERNAME is set but REGISTRY_PASSWORD is not".into(),
            });
        }
        _ => {}
    }
    for key in docker_config_keys(registry) {
        match docker_credential::get_credential(&key) {
            Ok(DockerCredential::UsernamePassword(username, password)) => {
                return Ok(Credentials::Basic { username, password });
            }
            Ok(DockerCredential::IdentityToken(token)) => {
                return Ok(Credentials::IdentityToken(token));
            }
            Err(
                CredentialRetrievalError::NoCredentialConfigured
                | CredentialRetrievalError::ConfigNotFound
                | CredentialRetrievalError::ConfigReadError,
            ) => continue,
            Err(e) => {
                // The helper's stdout and stderr may contain secrets: report only what failed.
                let reason = match e {
                    CredentialRetrievalError::HelperFailure { helper, .. } => {
                        format!("credential helper 'docker-credential-{helper}' failed")
                    }
                    CredentialRetrievalError::HelperCommunicationError => {
                        "the credential helper could not be run (is it on PATH?)".into()
                    }
                    CredentialRetrievalError::MalformedHelperResponse => {
                        "the credential helper answered garbage".into()
                    }
                    CredentialRetrievalError::CredentialDecodingError => {
                        "an 'auth' entry in config.json is not base64 of user:password".into()
                    }
                    CredentialRetrievalError::CredentialMismatchError => {
                        "config.json has 'auth' and 'username'/'password' that disagree".into()
                    }
                    _ => "unexpected error".into(),
                };
                return Err(RegistryError::Credentials {
                    registry: registry.into(),
                    reason,
                });
            }
        }
    }
    Ok(Credentials::Anonymous)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_password() {
        let c = Credentials::Basic {
            username: "alice".into(),
            password: "hunter2-secret".into(),
        };
        let shown = format!("{c:?}");
        assert!(shown.contains("alice"));
        assert!(!shown.contains("hunter2"));
        assert!(
            !format!("{:?}", Credentials::IdentityToken("tok-secret".into()))
                .contains("tok-secret")
        );
    }

    #[test]
    fn docker_hub_is_looked_up_under_the_v1_index_key_first() {
        assert_eq!(
            docker_config_keys("docker.io")[0],
            "https://index.docker.io/v1/"
        );
        assert_eq!(docker_config_keys("127.0.0.1:5000")[0], "127.0.0.1:5000");
    }
}
