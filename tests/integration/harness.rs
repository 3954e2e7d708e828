//! The test harness: real notary-server and docker-registry processes, started once per test
//! binary by `scripts/stack`, plus helpers to run the `manifesto` binary in an isolated home.
//!
//! Each stack is started with `--watch <this process>`, so its watchdog stops the servers by PID
//! when the test binary exits, even when a test panics or the run is interrupted. Every test
//! uses a fresh repository name, so tests run in parallel on one stack.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use manifesto::keys::passphrase::{Passphrases, Prompter};
use zeroize::Zeroizing;

/// The prompter of library calls in tests: there is no terminal, so a passphrase missing from
/// the environment fails the call instead of waiting for input.
pub struct NoTerminal;
impl Prompter for NoTerminal {
    fn available(&self) -> bool {
        false
    }
    fn ask(&mut self, _: &str) -> std::io::Result<Zeroizing<String>> {
        Err(std::io::Error::other("no terminal in tests"))
    }
}

/// Which stack a test needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StackKind {
    /// Plain HTTP on loopback, no auth.
    Plain,
    /// TLS on both servers with a throwaway CA.
    Tls,
    /// Plain HTTP registry with htpasswd (basic) auth.
    BasicAuth,
    /// `scripts/stack start --production`: PostgreSQL, notary-signer, two notary-servers, TLS,
    /// token auth for both servers with TEST_USER / TEST_PASSWORD (see tests/integration/production.rs).
    Production,
}

pub const TEST_USER: &str = "ci-user";
/// Passphrases manifesto's own keys are encrypted with in tests.
pub const ROOT_PASS: &str = "manifesto-root-pass";
pub const TARGETS_PASS: &str = "manifesto-targets-pass";
pub const DELEGATION_PASS: &str = "manifesto-delegation-pass";
pub const TEST_PASSWORD: &str = "s3cret-Pa55";

/// The test passphrases of every role (what `TestEnv::signer_cmd` sets), without a terminal:
/// for tests that sign through the library.
pub fn test_passphrases() -> Passphrases {
    Passphrases::new(
        |name| {
            let value = match name {
                "MANIFESTO_ROOT_PASSPHRASE" => ROOT_PASS,
                "MANIFESTO_TARGETS_PASSPHRASE" => TARGETS_PASS,
                "MANIFESTO_DELEGATION_PASSPHRASE" => DELEGATION_PASS,
                _ => return None,
            };
            Some(Zeroizing::new(value.to_string()))
        },
        NoTerminal,
    )
}

/// A running stack, as described by `scripts/stack start`.
#[derive(Debug)]
pub struct Stack {
    pub dir: PathBuf,
    pub notary_url: String,
    pub registry_url: String,
    /// `host:port` of the registry, as used in image references.
    pub registry: String,
    pub ca_file: Option<PathBuf>,
}

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

static PLAIN: OnceLock<Stack> = OnceLock::new();
static TLS: OnceLock<Stack> = OnceLock::new();
static BASIC: OnceLock<Stack> = OnceLock::new();
static PRODUCTION: OnceLock<Stack> = OnceLock::new();

/// The stack of `kind`, started on first use.
pub fn stack(kind: StackKind) -> &'static Stack {
    let cell = match kind {
        StackKind::Plain => &PLAIN,
        StackKind::Tls => &TLS,
        StackKind::BasicAuth => &BASIC,
        StackKind::Production => &PRODUCTION,
    };
    cell.get_or_init(|| start_stack(kind))
}

fn start_stack(kind: StackKind) -> Stack {
    let mut cmd = Command::new(project_root().join("scripts/stack"));
    cmd.arg("start")
        .arg("--watch")
        .arg(std::process::id().to_string());
    match kind {
        StackKind::Plain => {}
        StackKind::Tls => {
            cmd.arg("--tls");
        }
        StackKind::BasicAuth => {
            cmd.arg("--htpasswd")
                .arg(format!("{TEST_USER}:{TEST_PASSWORD}"));
        }
        StackKind::Production => {
            cmd.args(["--production", "--notary-replicas", "2", "--user"])
                .arg(format!("{TEST_USER}:{TEST_PASSWORD}"));
        }
    }
    let out = cmd.output().expect("run scripts/stack start");
    assert!(
        out.status.success(),
        "scripts/stack start failed ({:?}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let vars: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let get = |k: &str| vars.get(k).cloned().unwrap_or_default();
    Stack {
        dir: PathBuf::from(get("STACK_DIR")),
        notary_url: get("NOTARY_URL"),
        registry_url: get("REGISTRY_URL"),
        registry: get("REGISTRY_HOST"),
        ca_file: Some(get("CA_FILE"))
            .filter(|s| !s.is_empty())
            .map(PathBuf::from),
    }
}

/// A repository name no other test uses.
pub fn unique_repo(label: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "test/{label}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

impl Stack {
    /// Push a tiny real OCI image (config + one layer) with curl; returns its manifest digest.
    pub fn push_image(&self, repo: &str, tag: &str) -> String {
        let mut cmd = Command::new(project_root().join("scripts/push-sample-image"));
        // Unique content per repository and tag: registries share blobs across repositories, so
        // a test that tampers with its image's storage must not touch anyone else's.
        cmd.arg(&self.registry_url)
            .arg(repo)
            .arg(tag)
            .arg("--content")
            .arg(format!("{repo}:{tag}"));
        if let Some(ca) = &self.ca_file {
            cmd.arg("--cacert").arg(ca);
        }
        if self.registry_url.starts_with("http")
            && (self.dir.join("htpasswd").exists() || self.dir.join("token-service.json").exists())
        {
            cmd.arg("--user")
                .arg(format!("{TEST_USER}:{TEST_PASSWORD}"));
        }
        let out = cmd.output().expect("run scripts/push-sample-image");
        assert!(
            out.status.success(),
            "push-sample-image failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let digest = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            digest.starts_with("sha256:") && digest.len() == 71,
            "bad digest {digest:?}"
        );
        digest
    }

    /// `<registry>/<repo>`, the way users write it.
    pub fn image(&self, repo: &str, tag_or_digest: &str) -> String {
        if tag_or_digest.contains(':') {
            format!("{}/{repo}@{tag_or_digest}", self.registry)
        } else {
            format!("{}/{repo}:{tag_or_digest}", self.registry)
        }
    }

    /// Where the registry keeps the bytes of a blob (used to play a tampering registry).
    pub fn blob_data_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        self.dir
            .join("registry-data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

/// An isolated user environment for running the binary: its own HOME, trust dir and Docker config.
pub struct TestEnv {
    pub home: tempfile::TempDir,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        TestEnv {
            home: tempfile::tempdir().expect("temp home"),
        }
    }

    pub fn trust_dir(&self) -> PathBuf {
        self.home.path().join(".manifesto")
    }

    pub fn docker_config_dir(&self) -> PathBuf {
        self.home.path().join(".docker")
    }

    /// The binary with the test passphrases in the environment (as CI would set them).
    pub fn signer_cmd(&self) -> assert_cmd::Command {
        let mut cmd = self.cmd();
        cmd.env("MANIFESTO_ROOT_PASSPHRASE", ROOT_PASS)
            .env("MANIFESTO_TARGETS_PASSPHRASE", TARGETS_PASS)
            .env("MANIFESTO_DELEGATION_PASSPHRASE", DELEGATION_PASS);
        cmd
    }

    /// `manifesto init GUN` against `notary_url` with this environment's passphrases, asserted
    /// to exit 0: the first step of every test that publishes as this owner.
    pub fn init_repo(&self, notary_url: &str, gun: &str) {
        ok(
            self.signer_cmd()
                .args(["--server", notary_url, "init", gun])
                .output()
                .unwrap(),
            "init",
        );
    }

    /// [`TestEnv::init_repo`] for a repository no image was pushed to (`--allow-new-repository`).
    pub fn init_repo_without_image(&self, notary_url: &str, gun: &str) {
        ok(
            self.signer_cmd()
                .args([
                    "--server",
                    notary_url,
                    "init",
                    gun,
                    "--allow-new-repository",
                ])
                .output()
                .unwrap(),
            "init --allow-new-repository",
        );
    }

    /// Write `~/.docker/config.json`.
    pub fn write_docker_config(&self, json: &serde_json::Value) {
        std::fs::create_dir_all(self.docker_config_dir()).unwrap();
        std::fs::write(
            self.docker_config_dir().join("config.json"),
            json.to_string(),
        )
        .unwrap();
    }

    /// The `manifesto` binary with a clean environment pointing at this home.
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("manifesto").expect("manifesto binary");
        for var in [
            "MANIFESTO_SERVER",
            "DOCKER_CONTENT_TRUST_SERVER",
            "REGISTRY_USERNAME",
            "REGISTRY_PASSWORD",
            "MANIFESTO_LOG",
            "MANIFESTO_AGENT_SOCK",
            "MANIFESTO_ROOT_PASSPHRASE",
            "MANIFESTO_TARGETS_PASSPHRASE",
            "MANIFESTO_DELEGATION_PASSPHRASE",
            "NOTARY_ROOT_PASSPHRASE",
            "NOTARY_TARGETS_PASSPHRASE",
            "NOTARY_SNAPSHOT_PASSPHRASE",
            "NOTARY_DELEGATION_PASSPHRASE",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", self.home.path())
            .env("MANIFESTO_TRUST_DIR", self.trust_dir())
            .env("DOCKER_CONFIG", self.docker_config_dir());
        cmd
    }
}

/// A command that must have succeeded; `what` names it in the failure message.
pub fn ok(out: std::process::Output, what: &str) -> std::process::Output {
    assert_eq!(
        code(&out),
        0,
        "{what} failed:\n--- stdout\n{}\n--- stderr\n{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// Exit code of a finished command.
pub fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Overwrite a file in place, keeping its length (the registry serves what is on disk).
pub fn flip_first_byte(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read blob data");
    bytes[0] ^= 0x01;
    std::fs::write(path, bytes).expect("write blob data");
}

/// Change one hex digit inside the first `sha256:` string of a stored JSON document, keeping it
/// valid JSON (the registry parses manifests it serves; this plays a registry that serves a
/// well-formed but different document under the old digest).
pub fn tamper_json_keeping_it_valid(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read stored document");
    let at = bytes
        .windows(7)
        .position(|w| w == b"sha256:")
        .expect("document holds a sha256 digest")
        + 7;
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(path, bytes).expect("write stored document");
}
