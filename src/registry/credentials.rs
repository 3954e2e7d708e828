//! Registry credentials, found the way the Docker CLI finds them.
//!
//! Order: `REGISTRY_USERNAME`/`REGISTRY_PASSWORD`, then Docker's `config.json` (`$DOCKER_CONFIG`
//! or `~/.docker`): `credHelpers` for the host, `auths`, then `credsStore`. Nothing found means
//! anonymous access; a helper that fails, answers garbage or does not answer in time is an
//! error, never a silent fall-back to anonymous. Secrets never reach logs or error messages:
//! [`Credentials`] redacts its `Debug` output and wipes its secrets from memory when dropped.
//!
//! Helpers are run here rather than by the `docker_credential` crate, so each gets a deadline
//! (`MANIFESTO_CREDENTIAL_HELPER_TIMEOUT`, default 30 s) and is killed with its whole process
//! group when it passes: a helper that never answers must neither hang the run nor outlive it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::failure::Failure;

/// How long a credential helper may take unless `MANIFESTO_CREDENTIAL_HELPER_TIMEOUT` says.
pub const DEFAULT_HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// The most a helper may print; an answer is a few hundred bytes.
const MAX_HELPER_OUTPUT: u64 = 64 * 1024;

/// Credentials for one registry. `Debug` never shows the secret; the strings are wiped on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub enum Credentials {
    Anonymous,
    Basic {
        username: String,
        password: String,
    },
    /// An identity (refresh) token from `docker login` against an OAuth registry.
    IdentityToken(String),
}

/// Why credentials could not be found. Each names the registry; none carries a secret (a
/// helper's output may hold one, so it is never quoted).
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "cannot read the Docker credentials for {registry}: REGISTRY_USERNAME is set but REGISTRY_PASSWORD is not"
    )]
    PasswordMissing { registry: String },
    #[error("cannot read the Docker configuration {path}")]
    ConfigRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the Docker configuration {path} is not valid JSON")]
    ConfigParse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the 'auth' entry for {registry} in {path} is not base64 of user:password")]
    BadAuth { registry: String, path: PathBuf },
    #[error("{path} has an 'auth' for {registry} that disagrees with its 'username'/'password'")]
    AuthMismatch { registry: String, path: PathBuf },
    #[error("cannot run the credential helper {helper} for {registry} (is it on PATH?)")]
    HelperNotRun {
        helper: String,
        registry: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the credential helper {helper} did not answer for {registry} within {limit:?}; it was stopped (MANIFESTO_CREDENTIAL_HELPER_TIMEOUT sets the limit)"
    )]
    HelperTimeout {
        helper: String,
        registry: String,
        limit: Duration,
    },
    #[error("the credential helper {helper} failed for {registry} ({status})")]
    HelperFailed {
        helper: String,
        registry: String,
        status: String,
    },
    #[error("the credential helper {helper} answered garbage for {registry}")]
    HelperGarbage { helper: String, registry: String },
    #[error("MANIFESTO_CREDENTIAL_HELPER_TIMEOUT={value:?} is not a duration (e.g. 30s)")]
    BadTimeout {
        value: String,
        #[source]
        source: humantime::DurationError,
    },
}

impl CredentialError {
    pub fn failure(&self) -> Failure {
        match self {
            CredentialError::BadTimeout { .. } => Failure::Usage,
            // Everything else is the local machine's credential setup.
            _ => Failure::LocalState,
        }
    }
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

/// The parts of Docker's `config.json` that hold credentials.
#[derive(Default, serde::Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(rename = "credHelpers", default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Default, serde::Deserialize, Zeroize, ZeroizeOnDrop)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

fn docker_config_path() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::home_dir().map(|h| h.join(".docker")))
        .map(|d| d.join("config.json"))
}

fn load_docker_config() -> Result<(PathBuf, DockerConfig), CredentialError> {
    let Some(path) = docker_config_path() else {
        return Ok((PathBuf::new(), DockerConfig::default()));
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => Zeroizing::new(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((path, DockerConfig::default()));
        }
        Err(source) => return Err(CredentialError::ConfigRead { path, source }),
    };
    match serde_json::from_slice(&bytes) {
        Ok(config) => Ok((path, config)),
        Err(source) => Err(CredentialError::ConfigParse { path, source }),
    }
}

/// The helper timeout from `MANIFESTO_CREDENTIAL_HELPER_TIMEOUT`, or the default.
pub fn helper_timeout() -> Result<Duration, CredentialError> {
    match std::env::var("MANIFESTO_CREDENTIAL_HELPER_TIMEOUT") {
        Ok(value) if !value.is_empty() => humantime::parse_duration(&value)
            .map_err(|source| CredentialError::BadTimeout { value, source }),
        _ => Ok(DEFAULT_HELPER_TIMEOUT),
    }
}

/// Find credentials for `registry` (`host[:port]` as in the image reference). The one lookup
/// both the registry client and the Notary token flow use.
pub async fn lookup(registry: &str) -> Result<Credentials, CredentialError> {
    let user = std::env::var("REGISTRY_USERNAME")
        .ok()
        .filter(|s| !s.is_empty());
    let pass = std::env::var("REGISTRY_PASSWORD").ok();
    match (user, pass) {
        (Some(username), Some(password)) => return Ok(Credentials::Basic { username, password }),
        (Some(_), None) => {
            return Err(CredentialError::PasswordMissing {
                registry: registry.into(),
            });
        }
        _ => {}
    }
    let timeout = helper_timeout()?;
    let (path, config) = load_docker_config()?;
    let keys = docker_config_keys(registry);
    // Docker's order: a helper for this host, then `auths`, then the default store.
    if let Some(helper) = find_entry(&config.cred_helpers, &keys) {
        return run_helper(helper, registry, &keys[0], timeout).await;
    }
    if let Some(entry) = find_entry(&config.auths, &keys) {
        if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Credentials::IdentityToken(token.clone()));
        }
        if let Some(auth) = entry.auth.as_ref().filter(|a| !a.is_empty()) {
            let creds = decode_auth(auth).ok_or_else(|| CredentialError::BadAuth {
                registry: registry.into(),
                path: path.clone(),
            })?;
            if let (Some(u), Some(p)) = (&entry.username, &entry.password)
                && creds
                    != (Credentials::Basic {
                        username: u.clone(),
                        password: p.clone(),
                    })
            {
                return Err(CredentialError::AuthMismatch {
                    registry: registry.into(),
                    path,
                });
            }
            return Ok(creds);
        }
        if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
            return Ok(Credentials::Basic {
                username: u.clone(),
                password: p.clone(),
            });
        }
    }
    if let Some(store) = config.creds_store.as_ref().filter(|s| !s.is_empty()) {
        return run_helper(store, registry, &keys[0], timeout).await;
    }
    Ok(Credentials::Anonymous)
}

/// The entry for the first of `keys`, or else one whose key names the same host in another
/// form Docker writes (`https://host/v1/`, `http://host/v2/`).
fn find_entry<'a, T>(map: &'a BTreeMap<String, T>, keys: &[String]) -> Option<&'a T> {
    keys.iter().find_map(|k| map.get(k)).or_else(|| {
        map.iter()
            .find(|(k, _)| {
                keys.iter()
                    .any(|want| normalize_key(k) == normalize_key(want))
            })
            .map(|(_, v)| v)
    })
}

/// `host[:port]` of a config key, without scheme or path.
fn normalize_key(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

fn decode_auth(auth: &str) -> Option<Credentials> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let decoded = Zeroizing::new(engine.decode(auth.trim()).ok()?);
    let text = std::str::from_utf8(&decoded).ok()?;
    let (username, password) = text.split_once(':')?;
    Some(Credentials::Basic {
        username: username.into(),
        password: password.into(),
    })
}

/// What `docker-credential-<name> get` prints.
#[derive(serde::Deserialize, Zeroize, ZeroizeOnDrop)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Run `docker-credential-<name> get` with `server` on stdin, in its own process group, with
/// bounded output and a deadline; at the deadline the whole group is killed, so neither the
/// helper nor anything it started outlives the run.
async fn run_helper(
    name: &str,
    registry: &str,
    server: &str,
    timeout: Duration,
) -> Result<Credentials, CredentialError> {
    let helper = format!("docker-credential-{name}");
    let mut command = tokio::process::Command::new(&helper);
    command
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|source| CredentialError::HelperNotRun {
            helper: helper.clone(),
            registry: registry.into(),
            source,
        })?;
    let group = child.id();
    let mut stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let talk = async {
        if let Some(mut stdin) = stdin.take() {
            // A helper that exits without reading its input is judged by its answer.
            let _ = stdin.write_all(format!("{server}\n").as_bytes()).await;
        }
        let mut out = Zeroizing::new(Vec::new());
        if let Some(stdout) = stdout {
            let _ = stdout
                .take(MAX_HELPER_OUTPUT + 1)
                .read_to_end(&mut out)
                .await;
        }
        (child.wait().await, out)
    };
    let (status, out) = match tokio::time::timeout(timeout, talk).await {
        Ok(done) => done,
        Err(_) => {
            kill_group(group);
            return Err(CredentialError::HelperTimeout {
                helper,
                registry: registry.into(),
                limit: timeout,
            });
        }
    };
    let status = status.map_err(|source| CredentialError::HelperNotRun {
        helper: helper.clone(),
        registry: registry.into(),
        source,
    })?;
    if !status.success() {
        // Docker's helpers say "credentials not found in native keychain" with exit 1: that
        // is "no credentials", not a failure.
        if String::from_utf8_lossy(&out).contains("credentials not found") {
            return Ok(Credentials::Anonymous);
        }
        return Err(CredentialError::HelperFailed {
            helper,
            registry: registry.into(),
            status: status.to_string(),
        });
    }
    let garbage = || CredentialError::HelperGarbage {
        helper: helper.clone(),
        registry: registry.into(),
    };
    if out.len() as u64 > MAX_HELPER_OUTPUT {
        return Err(garbage());
    }
    let answer: HelperAnswer = serde_json::from_slice(&out).map_err(|_| garbage())?;
    Ok(if answer.username == "<token>" {
        Credentials::IdentityToken(answer.secret.clone())
    } else {
        Credentials::Basic {
            username: answer.username.clone(),
            password: answer.secret.clone(),
        }
    })
}

/// SIGKILL a helper's process group (it was made its leader with `process_group(0)`). Only
/// called while the helper is not yet reaped, so the group id cannot belong to anyone else.
fn kill_group(pid: Option<u32>) {
    let group = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw);
    if let Some(group) = group {
        // Already gone is fine: the group exited between the deadline and this call.
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
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
    fn credentials_and_helper_answers_are_wiped_on_drop() {
        fn wiped_on_drop<T: ZeroizeOnDrop>() {}
        wiped_on_drop::<Credentials>();
        wiped_on_drop::<HelperAnswer>();
        wiped_on_drop::<AuthEntry>();
    }

    #[test]
    fn an_auth_entry_decodes_to_user_and_password_split_at_the_first_colon() {
        assert_eq!(
            decode_auth("YWxpY2U6cGE6c3M="),
            Some(Credentials::Basic {
                username: "alice".into(),
                password: "pa:ss".into(),
            })
        );
        assert_eq!(decode_auth("bm9jb2xvbg"), None);
    }

    #[test]
    fn config_keys_with_a_scheme_or_a_path_name_the_same_host() {
        let mut map = BTreeMap::new();
        map.insert("https://registry.example.com:5000/v1/".to_string(), 1);
        assert_eq!(
            find_entry(&map, &docker_config_keys("registry.example.com:5000")),
            Some(&1)
        );
        assert_eq!(
            find_entry(&map, &docker_config_keys("registry.example.com")),
            None
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
