//! The key agent: decrypted signing keys held in one local process for a bounded time, so a run
//! of `put`s pays the key file's scrypt decryption once instead of once per command.
//!
//! Like `ssh-agent`, the agent signs on request and never hands a key back out. It listens on a
//! Unix socket in a directory only its user can enter, answers only peers of its own uid, makes
//! itself undumpable (no core file, no ptrace by other processes of the user), forgets every key
//! a bounded lifetime after it was added and exits once it holds none. The key files on disk
//! stay exactly as strongly encrypted as before. SECURITY.md ("The key agent") has the threat
//! this leaves: while a key is held, any process of the same user can have it sign.
//!
//! The wire format is one JSON request line and one JSON answer line per connection
//! ([`Request`], [`Answer`]). The client side is synchronous (a signature is a local round trip
//! of well under a millisecond); the server is in [`server`].

pub mod server;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::tuf::key::PublicKey;
use crate::tuf::names::KeyId;

/// The environment variable naming the agent's socket (what `agent start` prints).
pub const SOCKET_VARIABLE: &str = "MANIFESTO_AGENT_SOCK";

/// The longest a key may be held (and the longest `--lifetime` accepted).
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The lifetime of a held key when none is given.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The largest request line the agent reads: a message to sign is a whole metadata file, and
/// the old one-file layout allowed targets files of tens of MB (base64 adds a third).
const MAX_REQUEST_BYTES: u64 = 256 << 20;

/// The largest answer the client reads (a signature, or the list of held keys).
const MAX_ANSWER_BYTES: u64 = 4 << 20;

/// How long the client waits for the agent before giving up on it.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// One request to the agent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Hold a decrypted key (standard PKCS#8 DER, base64) for `lifetime_secs` at most.
    Add {
        pkcs8: String,
        role: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gun: Option<String>,
        lifetime_secs: u64,
    },
    /// Sign `message` (base64) with the held key `key_id`.
    Sign { key_id: String, message: String },
    /// The held keys.
    List,
    /// Forget the given keys, or every key when `key_ids` is empty.
    Forget { key_ids: Vec<String> },
    /// Forget every key and exit.
    Stop,
}

/// A key the agent holds, as `agent list` shows it (nothing here is secret).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HeldKey {
    pub key_id: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gun: Option<String>,
    /// When the agent forgets the key (RFC 3339, UTC).
    pub expires_at: String,
}

/// The agent's answer to one request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "kebab-case")]
pub enum Answer {
    Added {
        key: HeldKey,
    },
    Signed {
        method: String,
        signature: String,
    },
    Keys {
        keys: Vec<HeldKey>,
    },
    Forgot {
        count: usize,
    },
    Stopping,
    /// The request was understood but refused (an unknown key, a bad key, a bad lifetime).
    Refused {
        reason: String,
    },
}

/// What can go wrong talking to the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(
        "no key agent answers at {socket}: start one with 'eval \"$(manifesto agent start)\"' or unset {SOCKET_VARIABLE}"
    )]
    Unreachable {
        socket: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{SOCKET_VARIABLE} is not set: start an agent with 'eval \"$(manifesto agent start)\"'"
    )]
    NotConfigured,
    #[error("the key agent at {socket} gave an answer that is not its protocol")]
    Garbled { socket: PathBuf },
    #[error(
        "the key agent at {socket} returned a signature that key {key_id} did not make; nothing was signed with it (stop that agent: 'manifesto agent stop')"
    )]
    BadSignature { socket: PathBuf, key_id: String },
    #[error("the key agent refused: {reason}")]
    Refused { reason: String },
    #[error("cannot start the key agent: {reason}")]
    Start { reason: String },
    #[error("cannot serve the key agent at {path}")]
    Serve {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{dir} is open to other users (mode {mode:03o}); the agent's socket needs a directory only you can enter (chmod 700)"
    )]
    OpenDirectory { dir: PathBuf, mode: u32 },
}

impl AgentError {
    pub fn failure(&self) -> crate::failure::Failure {
        use crate::failure::Failure;
        // Every agent failure is local state to fix: start, load or replace the agent (a
        // refusal included: a key forgotten between listing and signing is exit 8, not 2).
        Failure::LocalState
    }
}

/// A connection point to a running agent.
#[derive(Debug, Clone)]
pub struct AgentClient {
    socket: PathBuf,
}

impl AgentClient {
    pub fn new(socket: impl Into<PathBuf>) -> AgentClient {
        AgentClient {
            socket: socket.into(),
        }
    }

    /// The agent named by `MANIFESTO_AGENT_SOCK`, if it is set.
    pub fn from_environment() -> Option<AgentClient> {
        std::env::var_os(SOCKET_VARIABLE)
            .filter(|v| !v.is_empty())
            .map(AgentClient::new)
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// One request, one answer; a refusal becomes [`AgentError::Refused`].
    pub fn request(&self, request: &Request) -> Result<Answer, AgentError> {
        let unreachable = |source| AgentError::Unreachable {
            socket: self.socket.clone(),
            source,
        };
        let mut stream = UnixStream::connect(&self.socket).map_err(unreachable)?;
        stream
            .set_read_timeout(Some(CLIENT_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(CLIENT_TIMEOUT)))
            .map_err(unreachable)?;
        let mut line =
            Zeroizing::new(serde_json::to_vec(request).expect("a request always serialises"));
        line.push(b'\n');
        stream.write_all(&line).map_err(unreachable)?;
        let mut answer = Vec::new();
        BufReader::new((&stream).take(MAX_ANSWER_BYTES))
            .read_until(b'\n', &mut answer)
            .map_err(unreachable)?;
        match serde_json::from_slice(&answer) {
            Ok(Answer::Refused { reason }) => Err(AgentError::Refused { reason }),
            Ok(answer) => Ok(answer),
            Err(_) => Err(AgentError::Garbled {
                socket: self.socket.clone(),
            }),
        }
    }

    /// The keys the agent holds.
    pub fn list(&self) -> Result<Vec<HeldKey>, AgentError> {
        match self.request(&Request::List)? {
            Answer::Keys { keys } => Ok(keys),
            _ => Err(self.garbled()),
        }
    }

    /// Hands a decrypted key (PKCS#8 DER) to the agent for at most `lifetime`.
    pub fn add(
        &self,
        pkcs8: &[u8],
        role: &str,
        gun: Option<&str>,
        lifetime: Duration,
    ) -> Result<HeldKey, AgentError> {
        let request = Request::Add {
            pkcs8: B64.encode(pkcs8),
            role: role.to_owned(),
            gun: gun.map(str::to_owned),
            lifetime_secs: lifetime.as_secs().max(1),
        };
        match self.request(&request)? {
            Answer::Added { key } => Ok(key),
            _ => Err(self.garbled()),
        }
    }

    /// `(method, signature)` of `message` by the held key `key_id`.
    pub fn sign(&self, key_id: &KeyId, message: &[u8]) -> Result<(String, Vec<u8>), AgentError> {
        let request = Request::Sign {
            key_id: key_id.to_string(),
            message: B64.encode(message),
        };
        match self.request(&request)? {
            Answer::Signed { method, signature } => {
                let signature = B64.decode(signature).map_err(|_| self.garbled())?;
                Ok((method, signature))
            }
            _ => Err(self.garbled()),
        }
    }

    fn garbled(&self) -> AgentError {
        AgentError::Garbled {
            socket: self.socket.clone(),
        }
    }
}

/// A key held by the agent, signing as a role lists it.
///
/// Every signature the agent returns is checked against the public key the role lists before it
/// is used, so an agent holding some other key under that id (or a confused one) yields an
/// error here, never a file the verifier would refuse.
#[derive(Debug, Clone)]
pub struct AgentKey {
    pub(crate) agent: AgentClient,
    pub(crate) id: KeyId,
    pub(crate) public: PublicKey,
}

impl AgentKey {
    pub fn key_id(&self) -> &KeyId {
        &self.id
    }

    /// Signs through the agent and checks the signature against the listed public key.
    pub fn sign(&self, message: &[u8]) -> Result<(String, Vec<u8>), AgentError> {
        let (method, signature) = self.agent.sign(&self.id, message)?;
        let valid = self.public.material().is_ok_and(|material| {
            crate::tuf::verify::signature_is_valid(&material, &method, message, &signature)
        });
        if !valid {
            return Err(AgentError::BadSignature {
                socket: self.agent.socket.clone(),
                key_id: self.id.to_string(),
            });
        }
        Ok((method, signature))
    }
}
