//! `manifesto agent …`: a key agent holding decrypted signing keys for a bounded time.
//!
//! `start` runs `serve` in the background and prints the shell lines that point later commands
//! at it (`eval "$(manifesto agent start)"`, as with `ssh-agent`); `add` decrypts keys from the
//! store once and hands them over; `put`, `delete`, `delegate` and `copy` then sign through the
//! agent without a passphrase. The protocol and the server are in `keys::agent`.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde::Serialize;

use super::Context;
use crate::error::Error;
use crate::keys::agent::server::{self, ServeOptions};
use crate::keys::agent::{
    AgentClient, AgentError, DEFAULT_LIFETIME, HeldKey, MAX_LIFETIME, SOCKET_VARIABLE,
};
use crate::keys::{KeyStore, KeyStoreError, Passphrases};
use crate::tuf::names::KeyId;

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Start an agent in the background and print the shell lines that point commands at it:
    /// eval "$(manifesto agent start)"
    Start(AgentStartArgs),
    /// Run the agent in the foreground (for a service manager); stops on SIGTERM
    Serve(AgentServeArgs),
    /// Decrypt keys from the key store once and hand them to the agent [default: every targets
    /// and delegation key]
    Add(AgentAddArgs),
    /// The keys the agent holds and when it forgets each
    List,
    /// Forget the given keys, or every key
    Forget(AgentForgetArgs),
    /// Forget every key and stop the agent
    Stop,
}

#[derive(Debug, Args)]
pub struct AgentStartArgs {
    /// The longest a key is held, and how long the agent stays up without keys (at most 24h)
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_lifetime)]
    pub lifetime: Duration,
    /// Socket path [default: a new private directory under $XDG_RUNTIME_DIR or the temp dir]
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AgentServeArgs {
    /// The longest a key is held, and how long the agent stays up without keys (at most 24h)
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_lifetime)]
    pub lifetime: Duration,
    /// Socket path; its directory must be private to you (mode 700)
    #[arg(long, value_name = "PATH")]
    pub socket: PathBuf,
}

#[derive(Debug, Args)]
pub struct AgentAddArgs {
    /// Key ids to add (any role, root included); none: every targets and delegation key
    pub key_ids: Vec<String>,
    /// How long the agent holds these keys (capped by the agent's own lifetime)
    #[arg(long, value_name = "DURATION", value_parser = parse_lifetime)]
    pub lifetime: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct AgentForgetArgs {
    /// Key ids to forget; none: every key
    pub key_ids: Vec<String>,
}

/// `--lifetime`: a humantime duration from 1 second to 24 hours.
fn parse_lifetime(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{e} (e.g. 15m, 2h)"))?;
    if d < Duration::from_secs(1) {
        return Err("a lifetime is at least 1s".into());
    }
    if d > MAX_LIFETIME {
        return Err("a lifetime is at most 24h".into());
    }
    Ok(d)
}

fn agent() -> Result<AgentClient, Error> {
    AgentClient::from_environment().ok_or_else(|| keys_error(AgentError::NotConfigured))
}

fn keys_error(e: AgentError) -> Error {
    Error::Keys(KeyStoreError::Agent(e))
}

pub async fn run(ctx: &Context, cmd: AgentCommand) -> Result<(), Error> {
    match cmd {
        AgentCommand::Start(args) => start(ctx, args),
        AgentCommand::Serve(args) => server::serve(ServeOptions {
            socket: args.socket,
            lifetime: args.lifetime,
        })
        .await
        .map_err(keys_error),
        AgentCommand::Add(args) => add(ctx, args),
        AgentCommand::List => list(ctx),
        AgentCommand::Forget(args) => forget(ctx, args),
        AgentCommand::Stop => {
            let agent = agent()?;
            agent
                .request(&crate::keys::agent::Request::Stop)
                .map_err(keys_error)?;
            ctx.output.note(format!(
                "the agent at {} forgot its keys and stopped",
                agent.socket().display()
            ));
            Ok(())
        }
    }
}

#[derive(Serialize)]
struct Started {
    socket: PathBuf,
    pid: u32,
    lifetime_secs: u64,
}

/// The socket's directory: a new private one under `$XDG_RUNTIME_DIR` (or the temp dir).
fn default_socket() -> Result<PathBuf, Error> {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o700))
        .prefix("manifesto-agent-")
        .tempdir_in(&base)
        .map_err(|source| {
            keys_error(AgentError::Serve {
                path: base.clone(),
                source,
            })
        })?
        .keep();
    Ok(dir.join("agent.sock"))
}

fn start(ctx: &Context, args: AgentStartArgs) -> Result<(), Error> {
    let socket = match args.socket {
        Some(s) => s,
        None => default_socket()?,
    };
    if let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty()) {
        server::check_directory(dir).map_err(keys_error)?;
    }
    let exe = std::env::current_exe().map_err(|e| {
        keys_error(AgentError::Start {
            reason: format!("cannot find this program: {e}"),
        })
    })?;
    let lifetime = format!("{}s", args.lifetime.as_secs());
    let mut child = std::process::Command::new(exe)
        .args(["agent", "serve", "--lifetime", &lifetime, "--socket"])
        .arg(&socket)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        // Its own process group: a Ctrl-C in the shell that started it does not stop it.
        .process_group(0)
        .spawn()
        .map_err(|e| {
            keys_error(AgentError::Start {
                reason: e.to_string(),
            })
        })?;
    // Ready when it answers.
    let client = AgentClient::new(&socket);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if client.list().is_ok() {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(keys_error(AgentError::Start {
                reason: format!(
                    "the agent exited at once ({status}); run 'manifesto agent serve --socket {}' to see why",
                    socket.display()
                ),
            }));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(keys_error(AgentError::Start {
                reason: "the agent did not answer within 10 s".into(),
            }));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let started = Started {
        socket: socket.clone(),
        pid: child.id(),
        lifetime_secs: args.lifetime.as_secs(),
    };
    // The shell lines are the product (they are eval'd), so they print even with -q.
    ctx.output.data(&started, |w| {
        let quoted = shell_quote(&socket.to_string_lossy());
        writeln!(w, "{SOCKET_VARIABLE}={quoted}; export {SOCKET_VARIABLE};")?;
        writeln!(
            w,
            "MANIFESTO_AGENT_PID={}; export MANIFESTO_AGENT_PID;",
            child.id()
        )?;
        writeln!(w, "echo manifesto agent pid {} >&2;", child.id())
    })
}

/// Single-quoted for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn add(ctx: &Context, args: AgentAddArgs) -> Result<(), Error> {
    let agent = agent()?;
    let store = KeyStore::new(&ctx.settings.trust_dir);
    let stored = store.list()?;
    let chosen: Vec<_> = if args.key_ids.is_empty() {
        stored
            .into_iter()
            .filter(|k| k.role == "targets" || k.role.starts_with("targets/"))
            .collect()
    } else {
        let mut chosen = Vec::new();
        for id in &args.key_ids {
            let id = KeyId::parse(id).map_err(|source| Error::BadKeyId {
                given: id.clone(),
                source,
            })?;
            match stored.iter().find(|k| k.key_id == id) {
                Some(k) => chosen.push(k.clone()),
                None => {
                    return Err(KeyStoreError::NotFound {
                        id: id.to_string(),
                        dir: store.private_dir(),
                    }
                    .into());
                }
            }
        }
        chosen
    };
    if chosen.is_empty() {
        return Err(KeyStoreError::MissingKey {
            role: "targets or a delegation".into(),
            wanted: "any".into(),
            dir: store.private_dir(),
        }
        .into());
    }
    let lifetime = args.lifetime.unwrap_or(DEFAULT_LIFETIME);
    // Read from the environment or a terminal only: never from the agent itself.
    let mut passphrases = Passphrases::from_environment().without_agent();
    let mut added: Vec<HeldKey> = Vec::new();
    for k in &chosen {
        let key = store.load(&k.key_id, &mut passphrases)?;
        let held = agent
            .add(&key.to_pkcs8(), &k.role, k.gun.as_deref(), lifetime)
            .map_err(keys_error)?;
        added.push(held);
    }
    ctx.output.emit(&super::items::Items::of(&added), |w| {
        for k in &added {
            writeln!(
                w,
                "added {} ({}{}) until {}",
                k.key_id,
                k.role,
                k.gun
                    .as_deref()
                    .map(|g| format!(" of {g}"))
                    .unwrap_or_default(),
                k.expires_at
            )?;
        }
        Ok(())
    })
}

fn list(ctx: &Context) -> Result<(), Error> {
    let agent = agent()?;
    let keys = agent.list().map_err(keys_error)?;
    ctx.output.emit(&super::items::Items::of(&keys), |w| {
        if keys.is_empty() {
            return writeln!(w, "The agent at {} holds no key", agent.socket().display());
        }
        writeln!(
            w,
            "{:<20} {:<40} {:<64} EXPIRES",
            "ROLE", "REPOSITORY", "KEY ID"
        )?;
        for k in &keys {
            writeln!(
                w,
                "{:<20} {:<40} {:<64} {}",
                k.role,
                k.gun.as_deref().unwrap_or("-"),
                k.key_id,
                k.expires_at
            )?;
        }
        Ok(())
    })
}

#[derive(Serialize)]
struct Forgot {
    forgot: usize,
}

fn forget(ctx: &Context, args: AgentForgetArgs) -> Result<(), Error> {
    let agent = agent()?;
    let answer = agent
        .request(&crate::keys::agent::Request::Forget {
            key_ids: args.key_ids,
        })
        .map_err(keys_error)?;
    let crate::keys::agent::Answer::Forgot { count } = answer else {
        return Err(keys_error(AgentError::Garbled {
            socket: agent.socket().to_path_buf(),
        }));
    };
    ctx.output.emit(&Forgot { forgot: count }, |w| {
        writeln!(w, "the agent forgot {count} key(s)")
    })
}
