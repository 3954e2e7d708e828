//! The agent process (`manifesto agent serve`, which `agent start` runs in the background).
//!
//! It holds keys in zeroizing memory, answers one request per connection from peers of its own
//! uid only, forgets each key at its deadline and exits once it holds no key and its own
//! lifetime has passed since the last key was added (or since it started), on `agent stop`, or on
//! SIGTERM / SIGINT. Its socket is created 0600 inside a directory only its user may enter, and
//! it is removed on the way out.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, SecondsFormat, Utc};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use zeroize::{Zeroize, Zeroizing};

use super::{AgentError, Answer, HeldKey, MAX_LIFETIME, MAX_REQUEST_BYTES, Request};
use crate::keys::private_key_info::parse_private_key_info;
use crate::keys::signer::SigningKey;

/// Where and for how long the agent serves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub socket: PathBuf,
    /// The longest a key is held, and how long the agent waits without keys before it exits.
    pub lifetime: Duration,
}

struct Held {
    key: SigningKey,
    shown: HeldKey,
    until: Instant,
}

struct Keys {
    held: HashMap<String, Held>,
    /// The agent exits once it holds nothing and this has passed.
    idle_until: Instant,
    lifetime: Duration,
}

impl Keys {
    fn forget_expired(&mut self, now: Instant) {
        self.held.retain(|_, h| h.until > now);
    }
}

/// The directory of the socket must be private to this user: anyone who can reach the socket
/// can try to connect, and the peer check is the second line, not the first.
pub fn check_directory(dir: &Path) -> Result<(), AgentError> {
    let meta = std::fs::metadata(dir).map_err(|source| AgentError::Serve {
        path: dir.to_path_buf(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(AgentError::OpenDirectory {
            dir: dir.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Runs the agent until it stops. Returns once the socket is removed.
pub async fn serve(options: ServeOptions) -> Result<(), AgentError> {
    // No core file and no ptrace by other processes of the same user: the keys stay in here.
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        tracing::warn!(error = %e, "cannot make the agent undumpable");
    }
    let path = options.socket.clone();
    let serve_err = |source| AgentError::Serve {
        path: path.clone(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    check_directory(dir)?;
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            return Err(AgentError::Start {
                reason: format!("an agent already answers at {}", path.display()),
            });
        }
        std::fs::remove_file(&path).map_err(serve_err)?;
    }
    let listener = UnixListener::bind(&path).map_err(serve_err)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(serve_err)?;
    tracing::info!(socket = %path.display(), lifetime = ?options.lifetime, "key agent listening");

    let lifetime = options.lifetime.min(MAX_LIFETIME);
    let keys = Arc::new(Mutex::new(Keys {
        held: HashMap::new(),
        idle_until: Instant::now() + lifetime,
        lifetime,
    }));
    let stop = Arc::new(Notify::new());
    let me = rustix::process::getuid().as_raw();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(serve_err)?;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let (keys, stop) = (keys.clone(), stop.clone());
                    tokio::spawn(async move {
                        if let Err(e) = answer(stream, me, &keys, &stop).await {
                            tracing::debug!(error = %e, "agent connection ended");
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "agent accept failed"),
            },
            _ = tick.tick() => {
                let now = Instant::now();
                let mut keys = keys.lock().expect("the key table is never poisoned");
                keys.forget_expired(now);
                if keys.held.is_empty() && now >= keys.idle_until {
                    tracing::info!("no key held and the lifetime is over: the agent exits");
                    break;
                }
            }
            () = stop.notified() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    keys.lock()
        .expect("the key table is never poisoned")
        .held
        .clear();
    let _ = std::fs::remove_file(&path);
    // The directory `agent start` made for the socket goes too (only if it is now empty).
    if dir
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("manifesto-agent-"))
    {
        let _ = std::fs::remove_dir(dir);
    }
    Ok(())
}

/// One connection: check the peer, read one request, write one answer.
async fn answer(
    stream: UnixStream,
    me: u32,
    keys: &Mutex<Keys>,
    stop: &Notify,
) -> std::io::Result<()> {
    let peer = stream.peer_cred()?;
    if peer.uid() != me {
        tracing::warn!(uid = peer.uid(), "refused a connection from another user");
        return Ok(());
    }
    let (read, mut write) = stream.into_split();
    let mut line = Zeroizing::new(Vec::new());
    BufReader::new(read.take(MAX_REQUEST_BYTES))
        .read_until(b'\n', &mut line)
        .await?;
    let reply = match serde_json::from_slice::<Request>(&line) {
        Ok(request) => handle(request, keys, stop),
        Err(_) => refused("not a request of the agent protocol"),
    };
    let mut out = serde_json::to_vec(&reply).expect("an answer always serialises");
    out.push(b'\n');
    write.write_all(&out).await?;
    write.shutdown().await
}

fn refused(reason: impl Into<String>) -> Answer {
    Answer::Refused {
        reason: reason.into(),
    }
}

fn handle(request: Request, keys: &Mutex<Keys>, stop: &Notify) -> Answer {
    let now = Instant::now();
    let mut keys = keys.lock().expect("the key table is never poisoned");
    keys.forget_expired(now);
    match request {
        Request::Add {
            mut pkcs8,
            role,
            gun,
            lifetime_secs,
        } => {
            let der = B64.decode(pkcs8.as_bytes()).map(Zeroizing::new);
            pkcs8.zeroize();
            let Ok(der) = der else {
                return refused("the key is not base64");
            };
            let key = match parse_private_key_info(&der).and_then(SigningKey::from_secret) {
                Ok(key) => key,
                Err(e) => return refused(format!("not a usable private key: {e}")),
            };
            if lifetime_secs == 0 {
                return refused("a lifetime of zero seconds");
            }
            let lifetime = Duration::from_secs(lifetime_secs).min(keys.lifetime);
            let expires_at: DateTime<Utc> = (SystemTime::now() + lifetime).into();
            let shown = HeldKey {
                key_id: key.key_id().to_string(),
                role,
                gun,
                expires_at: expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            };
            let until = now + lifetime;
            keys.idle_until = keys.idle_until.max(now + keys.lifetime);
            tracing::info!(key_id = %shown.key_id, role = %shown.role, "holding a key");
            keys.held.insert(
                shown.key_id.clone(),
                Held {
                    key,
                    shown: shown.clone(),
                    until,
                },
            );
            Answer::Added { key: shown }
        }
        Request::Sign { key_id, message } => {
            let Some(held) = keys.held.get(&key_id) else {
                return refused(format!("the agent holds no key {key_id}"));
            };
            let Ok(message) = B64.decode(message.as_bytes()) else {
                return refused("the message is not base64");
            };
            match held.key.sign(&message) {
                Ok((method, signature)) => Answer::Signed {
                    method: method.to_owned(),
                    signature: B64.encode(signature),
                },
                Err(_) => refused("signing failed"),
            }
        }
        Request::List => {
            let mut shown: Vec<HeldKey> = keys.held.values().map(|h| h.shown.clone()).collect();
            shown.sort_by(|a, b| (&a.role, &a.key_id).cmp(&(&b.role, &b.key_id)));
            Answer::Keys { keys: shown }
        }
        Request::Forget { key_ids } => {
            let before = keys.held.len();
            if key_ids.is_empty() {
                keys.held.clear();
            } else {
                keys.held.retain(|id, _| !key_ids.contains(id));
            }
            Answer::Forgot {
                count: before - keys.held.len(),
            }
        }
        Request::Stop => {
            keys.held.clear();
            stop.notify_one();
            Answer::Stopping
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::agent::{AgentClient, AgentError, AgentKey};
    use crate::keys::signer::KeyAlgorithm;

    fn table(lifetime: Duration) -> Mutex<Keys> {
        Mutex::new(Keys {
            held: HashMap::new(),
            idle_until: Instant::now() + lifetime,
            lifetime,
        })
    }

    fn add(keys: &Mutex<Keys>, key: &SigningKey, lifetime_secs: u64) -> Answer {
        handle(
            Request::Add {
                pkcs8: B64.encode(key.to_pkcs8()),
                role: "targets".into(),
                gun: Some("example.com/app".into()),
                lifetime_secs,
            },
            keys,
            &Notify::new(),
        )
    }

    #[test]
    fn a_held_key_signs_what_its_public_key_verifies() {
        let keys = table(Duration::from_secs(60));
        let key = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
        assert!(matches!(add(&keys, &key, 60), Answer::Added { .. }));
        let Answer::Signed { method, signature } = handle(
            Request::Sign {
                key_id: key.key_id().to_string(),
                message: B64.encode(b"signed bytes"),
            },
            &keys,
            &Notify::new(),
        ) else {
            panic!("no signature");
        };
        let material = key.public_key().material().unwrap();
        let signature = B64.decode(signature).unwrap();
        assert!(crate::tuf::verify::signature_is_valid(
            &material,
            &method,
            b"signed bytes",
            &signature
        ));
    }

    #[test]
    fn a_key_is_held_no_longer_than_the_agents_lifetime_and_then_signs_nothing() {
        let keys = table(Duration::from_secs(60));
        let key = SigningKey::generate(KeyAlgorithm::Ed25519).unwrap();
        // Asked for a day, held for the agent's minute.
        let Answer::Added { key: shown } = add(&keys, &key, 86_400) else {
            panic!("not added");
        };
        let until = keys.lock().unwrap().held[&shown.key_id].until;
        assert!(until <= Instant::now() + Duration::from_secs(60));
        // Past its deadline it is gone: no signature, and not listed.
        keys.lock()
            .unwrap()
            .forget_expired(until + Duration::from_millis(1));
        let sign = Request::Sign {
            key_id: shown.key_id.clone(),
            message: B64.encode(b"x"),
        };
        assert!(matches!(
            handle(sign, &keys, &Notify::new()),
            Answer::Refused { .. }
        ));
        assert!(matches!(
            handle(Request::List, &keys, &Notify::new()),
            Answer::Keys { keys } if keys.is_empty()
        ));
    }

    #[test]
    fn garbage_instead_of_a_key_and_a_zero_lifetime_are_refused() {
        let keys = table(Duration::from_secs(60));
        let bad = Request::Add {
            pkcs8: B64.encode(b"not a key"),
            role: "targets".into(),
            gun: None,
            lifetime_secs: 60,
        };
        assert!(matches!(
            handle(bad, &keys, &Notify::new()),
            Answer::Refused { .. }
        ));
        let key = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
        assert!(matches!(add(&keys, &key, 0), Answer::Refused { .. }));
        assert!(keys.lock().unwrap().held.is_empty());
    }

    #[test]
    fn forget_drops_only_the_named_keys_and_stop_drops_all() {
        let keys = table(Duration::from_secs(60));
        let a = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
        let b = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
        add(&keys, &a, 60);
        add(&keys, &b, 60);
        let forget = Request::Forget {
            key_ids: vec![a.key_id().to_string()],
        };
        assert!(matches!(
            handle(forget, &keys, &Notify::new()),
            Answer::Forgot { count: 1 }
        ));
        assert!(keys.lock().unwrap().held.contains_key(b.key_id().as_str()));
        assert!(matches!(
            handle(Request::Stop, &keys, &Notify::new()),
            Answer::Stopping
        ));
        assert!(keys.lock().unwrap().held.is_empty());
    }

    /// Through a real socket: add, sign, and a client that checks the signature against the
    /// key the role lists refuses one made by another key.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn over_the_socket_a_signature_by_another_key_than_the_listed_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let socket = dir.path().join("agent.sock");
        let served = tokio::spawn(serve(ServeOptions {
            socket: socket.clone(),
            lifetime: Duration::from_secs(60),
        }));
        let client = AgentClient::new(&socket);
        for _ in 0..200 {
            let c = client.clone();
            if tokio::task::spawn_blocking(move || c.list())
                .await
                .unwrap()
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let held = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
        let listed = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
        let (c, pkcs8) = (client.clone(), held.to_pkcs8());
        tokio::task::spawn_blocking(move || c.add(&pkcs8, "targets", None, Duration::from_secs(5)))
            .await
            .unwrap()
            .unwrap();
        let honest = AgentKey {
            agent: client.clone(),
            id: held.key_id().clone(),
            public: held.public_key().clone(),
        };
        // The agent holds `held` under its id, but the role lists `listed` under that id.
        let confused = AgentKey {
            agent: client.clone(),
            id: held.key_id().clone(),
            public: listed.public_key().clone(),
        };
        let (ok, bad) = tokio::task::spawn_blocking(move || {
            (honest.sign(b"message"), confused.sign(b"message"))
        })
        .await
        .unwrap();
        assert!(ok.is_ok());
        assert!(matches!(bad, Err(AgentError::BadSignature { .. })));
        let c = client.clone();
        tokio::task::spawn_blocking(move || c.request(&Request::Stop))
            .await
            .unwrap()
            .unwrap();
        served.await.unwrap().unwrap();
        assert!(
            !socket.exists(),
            "the socket is removed when the agent stops"
        );
    }
}
