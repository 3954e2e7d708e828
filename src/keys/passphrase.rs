//! Where key passphrases come from: environment variables (CI) or a no-echo prompt on the
//! terminal — never the command line (DESIGN.md §6, SECURITY-TESTS §4).
//!
//! Each role class has a chain of variables: manifesto's own, then the Go notary client's, then
//! Docker's. Keys imported from a Go trust directory look at notary's variables first, since those
//! encrypted them. A passphrase from a variable gets one attempt; a prompt gets three.

use std::path::Path;

use zeroize::Zeroizing;

use super::agent::AgentClient;
use super::error::KeyStoreError;
use crate::tuf::names::RoleName;

/// New passphrases must be at least this long (characters).
pub const MIN_PASSPHRASE_CHARS: usize = 8;
/// Prompted passphrases get this many tries.
pub const PROMPT_ATTEMPTS: u32 = 3;

/// Which passphrase a role's keys use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleClass {
    Root,
    Targets,
    /// Uses the targets passphrase, except that notary has its own variable for it.
    Snapshot,
    Delegation,
}

impl RoleClass {
    pub fn of(role: &RoleName) -> RoleClass {
        match role.as_str() {
            "root" => RoleClass::Root,
            "snapshot" => RoleClass::Snapshot,
            "targets" | "timestamp" => RoleClass::Targets,
            _ => RoleClass::Delegation,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RoleClass::Root => "root",
            RoleClass::Targets => "targets",
            RoleClass::Snapshot => "snapshot",
            RoleClass::Delegation => "delegation",
        }
    }

    /// The variable we tell users to set.
    pub fn variable(self) -> &'static str {
        match self {
            RoleClass::Root => "MANIFESTO_ROOT_PASSPHRASE",
            RoleClass::Targets | RoleClass::Snapshot => "MANIFESTO_TARGETS_PASSPHRASE",
            RoleClass::Delegation => "MANIFESTO_DELEGATION_PASSPHRASE",
        }
    }

    fn notary_variables(self) -> &'static [&'static str] {
        match self {
            RoleClass::Root => &["NOTARY_ROOT_PASSPHRASE"],
            RoleClass::Targets => &["NOTARY_TARGETS_PASSPHRASE"],
            RoleClass::Snapshot => &["NOTARY_SNAPSHOT_PASSPHRASE", "NOTARY_TARGETS_PASSPHRASE"],
            RoleClass::Delegation => &["NOTARY_DELEGATION_PASSPHRASE"],
        }
    }

    fn docker_variable(self) -> &'static str {
        match self {
            RoleClass::Root => "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE",
            _ => "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
        }
    }

    /// Variables in the order they are consulted.
    fn chain(self, origin: KeyOrigin) -> Vec<&'static str> {
        let mut chain = Vec::with_capacity(4);
        if origin == KeyOrigin::Manifesto {
            chain.push(self.variable());
        }
        chain.extend_from_slice(self.notary_variables());
        chain.push(self.docker_variable());
        if origin == KeyOrigin::GoNotary {
            chain.push(self.variable());
        }
        chain
    }
}

/// Who encrypted the key being opened (decides which variables are consulted first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    Manifesto,
    GoNotary,
}

/// A passphrase and where it came from (a variable name or "the terminal"); `Debug` redacts.
pub struct Passphrase {
    value: Zeroizing<String>,
    source: String,
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Passphrase(<redacted>, from {})", self.source)
    }
}

impl Passphrase {
    pub fn as_bytes(&self) -> &[u8] {
        self.value.as_bytes()
    }
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Asks a person for a secret without echoing it.
pub trait Prompter {
    /// Whether there is a terminal to ask on.
    fn available(&self) -> bool;
    fn ask(&mut self, prompt: &str) -> std::io::Result<Zeroizing<String>>;
}

/// The controlling terminal (`/dev/tty`), through rpassword.
pub struct TtyPrompter;

impl Prompter for TtyPrompter {
    fn available(&self) -> bool {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .is_ok()
    }
    fn ask(&mut self, prompt: &str) -> std::io::Result<Zeroizing<String>> {
        rpassword::prompt_password(prompt).map(Zeroizing::new)
    }
}

/// Looks up an environment variable (injectable for tests).
type EnvLookup = Box<dyn Fn(&str) -> Option<Zeroizing<String>>>;

/// The passphrase provider commands use.
pub struct Passphrases {
    env: EnvLookup,
    prompter: Box<dyn Prompter>,
    /// A key agent holding keys already decrypted (`MANIFESTO_AGENT_SOCK`), asked first.
    agent: Option<AgentClient>,
}

impl Passphrases {
    /// The process environment and the terminal.
    pub fn from_environment() -> Passphrases {
        let mut passphrases = Passphrases::new(
            |name| {
                std::env::var(name)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(Zeroizing::new)
            },
            TtyPrompter,
        );
        passphrases.agent = AgentClient::from_environment();
        passphrases
    }

    /// The same sources without the agent (for handing keys to it).
    pub fn without_agent(mut self) -> Passphrases {
        self.agent = None;
        self
    }

    /// The key agent to ask before decrypting a key, if one is configured.
    pub fn agent(&self) -> Option<&AgentClient> {
        self.agent.as_ref()
    }

    pub fn new(
        env: impl Fn(&str) -> Option<Zeroizing<String>> + 'static,
        prompter: impl Prompter + 'static,
    ) -> Passphrases {
        Passphrases {
            env: Box::new(env),
            prompter: Box::new(prompter),
            agent: None,
        }
    }

    fn lookup_env(&self, class: RoleClass, origin: KeyOrigin) -> Option<Passphrase> {
        class.chain(origin).into_iter().find_map(|name| {
            (self.env)(name).map(|value| Passphrase {
                value,
                source: name.to_string(),
            })
        })
    }

    fn no_terminal(class: RoleClass) -> KeyStoreError {
        KeyStoreError::NoPassphrase {
            class: class.label(),
            variable: class.variable(),
        }
    }

    /// The passphrase to encrypt a new (or re-encrypted) key of `role` with.
    pub fn for_new_key(
        &mut self,
        role: &RoleName,
        what: &str,
    ) -> Result<Passphrase, KeyStoreError> {
        let class = RoleClass::of(role);
        if let Some(p) = self.lookup_env(class, KeyOrigin::Manifesto) {
            if p.value.chars().count() < MIN_PASSPHRASE_CHARS {
                return Err(KeyStoreError::PassphraseTooShort {
                    source_name: p.source,
                    min: MIN_PASSPHRASE_CHARS,
                });
            }
            return Ok(p);
        }
        if !self.prompter.available() {
            return Err(Self::no_terminal(class));
        }
        let mut last = KeyStoreError::PassphraseMismatch;
        for _ in 0..PROMPT_ATTEMPTS {
            let first = self
                .prompter
                .ask(&format!(
                    "New passphrase for the {} key {what}: ",
                    class.label()
                ))
                .map_err(KeyStoreError::Prompt)?;
            if first.chars().count() < MIN_PASSPHRASE_CHARS {
                last = KeyStoreError::PassphraseTooShort {
                    source_name: "the terminal".into(),
                    min: MIN_PASSPHRASE_CHARS,
                };
                eprintln!("manifesto: at least {MIN_PASSPHRASE_CHARS} characters, please");
                continue;
            }
            let again = self
                .prompter
                .ask("Repeat the passphrase: ")
                .map_err(KeyStoreError::Prompt)?;
            if *first == *again {
                return Ok(Passphrase {
                    value: first,
                    source: "the terminal".into(),
                });
            }
            last = KeyStoreError::PassphraseMismatch;
            eprintln!("manifesto: the passphrases did not match");
        }
        Err(last)
    }

    /// Opens an encrypted key of `role` at `path`: `open` returns `Ok(None)` for a wrong
    /// passphrase. A variable gets one attempt, the terminal [`PROMPT_ATTEMPTS`].
    pub fn unlock<T>(
        &mut self,
        role: &RoleName,
        origin: KeyOrigin,
        path: &Path,
        mut open: impl FnMut(&[u8]) -> Result<Option<T>, KeyStoreError>,
    ) -> Result<T, KeyStoreError> {
        let class = RoleClass::of(role);
        let wrong = |source_name: &str| KeyStoreError::WrongPassphrase {
            path: path.to_path_buf(),
            source_name: source_name.to_string(),
        };
        if let Some(p) = self.lookup_env(class, origin) {
            return open(p.as_bytes())?.ok_or_else(|| wrong(&p.source));
        }
        if !self.prompter.available() {
            return Err(Self::no_terminal(class));
        }
        for attempt in 1..=PROMPT_ATTEMPTS {
            let value = self
                .prompter
                .ask(&format!(
                    "Passphrase for the {} key {}: ",
                    class.label(),
                    path.display()
                ))
                .map_err(KeyStoreError::Prompt)?;
            if let Some(key) = open(value.as_bytes())? {
                return Ok(key);
            }
            if attempt < PROMPT_ATTEMPTS {
                eprintln!("manifesto: wrong passphrase, try again");
            }
        }
        Err(wrong("the terminal"))
    }
}

/// Scripted passphrases for tests: a fixed environment and canned prompt answers.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    pub(crate) struct Scripted {
        pub answers: Arc<Mutex<Vec<String>>>,
        pub asked: Arc<Mutex<u32>>,
        pub tty: bool,
    }

    impl Prompter for Scripted {
        fn available(&self) -> bool {
            self.tty
        }
        fn ask(&mut self, _prompt: &str) -> std::io::Result<Zeroizing<String>> {
            *self.asked.lock().unwrap() += 1;
            let mut answers = self.answers.lock().unwrap();
            if answers.is_empty() {
                return Err(std::io::Error::other("no more answers"));
            }
            Ok(Zeroizing::new(answers.remove(0)))
        }
    }

    /// Passphrases from `env` only, with no terminal.
    pub(crate) fn env_only(env: &[(&str, &str)]) -> Passphrases {
        scripted(env, &[], false).0
    }

    /// Passphrases from `env`, then `answers` at the prompt; also returns the prompt counter.
    pub(crate) fn scripted(
        env: &[(&str, &str)],
        answers: &[&str],
        tty: bool,
    ) -> (Passphrases, Arc<Mutex<u32>>) {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let asked = Arc::new(Mutex::new(0));
        let prompter = Scripted {
            answers: Arc::new(Mutex::new(
                answers
                    .iter()
                    .map(std::string::ToString::to_string)
                    .collect(),
            )),
            asked: asked.clone(),
            tty,
        };
        (
            Passphrases::new(move |k| env.get(k).cloned().map(Zeroizing::new), prompter),
            asked,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    fn role(r: &str) -> RoleName {
        RoleName::parse(r).unwrap()
    }

    #[test]
    fn manifesto_variables_win_then_notary_then_docker() {
        let mut p = env_only(&[
            ("NOTARY_TARGETS_PASSPHRASE", "notary-pass"),
            ("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", "docker-pass"),
        ]);
        let got = p.for_new_key(&role("targets"), "k").unwrap();
        assert_eq!(got.source(), "NOTARY_TARGETS_PASSPHRASE");
        let mut p = env_only(&[
            ("MANIFESTO_TARGETS_PASSPHRASE", "ours-pass"),
            ("NOTARY_TARGETS_PASSPHRASE", "notary-pass"),
        ]);
        assert_eq!(
            p.for_new_key(&role("targets"), "k").unwrap().source(),
            "MANIFESTO_TARGETS_PASSPHRASE"
        );
        let mut p = env_only(&[("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", "docker-root")]);
        assert_eq!(
            p.for_new_key(&role("root"), "k").unwrap().source(),
            "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE"
        );
    }

    #[test]
    fn snapshot_uses_notary_snapshot_variable_then_targets() {
        let mut p = env_only(&[
            ("NOTARY_TARGETS_PASSPHRASE", "targets-pass"),
            ("NOTARY_SNAPSHOT_PASSPHRASE", "snapshot-pass"),
        ]);
        assert_eq!(
            p.for_new_key(&role("snapshot"), "k").unwrap().source(),
            "NOTARY_SNAPSHOT_PASSPHRASE"
        );
        let mut p = env_only(&[("NOTARY_TARGETS_PASSPHRASE", "targets-pass")]);
        assert_eq!(
            p.for_new_key(&role("snapshot"), "k").unwrap().source(),
            "NOTARY_TARGETS_PASSPHRASE"
        );
    }

    #[test]
    fn go_keys_look_at_notary_variables_first() {
        let mut p = env_only(&[
            ("MANIFESTO_DELEGATION_PASSPHRASE", "new-pass"),
            ("NOTARY_DELEGATION_PASSPHRASE", "go-pass!"),
        ]);
        let seen = p
            .unlock(
                &role("targets/qa"),
                KeyOrigin::GoNotary,
                Path::new("x"),
                |pw| Ok(Some(pw.to_vec())),
            )
            .unwrap();
        assert_eq!(seen, b"go-pass!");
    }

    #[test]
    fn short_passphrase_for_a_new_key_is_refused() {
        let mut p = env_only(&[("MANIFESTO_ROOT_PASSPHRASE", "short")]);
        let err = p.for_new_key(&role("root"), "k").unwrap_err();
        assert!(matches!(err, KeyStoreError::PassphraseTooShort { .. }));
        assert!(!err.to_string().contains("short\""));
    }

    #[test]
    fn without_variable_or_terminal_the_error_names_the_variable() {
        let mut p = env_only(&[]);
        let err = p.for_new_key(&role("targets/qa"), "k").unwrap_err();
        assert!(err.to_string().contains("MANIFESTO_DELEGATION_PASSPHRASE"));
        assert_eq!(err.failure(), crate::failure::Failure::LocalState);
    }

    #[test]
    fn prompt_asks_twice_for_a_new_key_and_rejects_a_mismatch() {
        let (mut p, asked) = scripted(&[], &["longenough", "longenough"], true);
        assert_eq!(
            p.for_new_key(&role("targets"), "k").unwrap().as_bytes(),
            b"longenough"
        );
        assert_eq!(*asked.lock().unwrap(), 2);
        let (mut p, _) = scripted(
            &[],
            &[
                "longenough",
                "different1",
                "short",
                "longenough",
                "nope-nope",
            ],
            true,
        );
        // Three attempts: a mismatch, one too short, a mismatch; the last refusal is reported.
        assert!(matches!(
            p.for_new_key(&role("targets"), "k"),
            Err(KeyStoreError::PassphraseMismatch)
        ));
    }

    #[test]
    fn a_variable_gets_one_attempt_and_the_prompt_three() {
        let mut tries = 0;
        let mut p = env_only(&[("MANIFESTO_TARGETS_PASSPHRASE", "wrong-one")]);
        let err = p
            .unlock(
                &role("targets"),
                KeyOrigin::Manifesto,
                Path::new("k.key"),
                |_| {
                    tries += 1;
                    Ok(None::<()>)
                },
            )
            .unwrap_err();
        assert_eq!(tries, 1);
        assert!(err.to_string().contains("MANIFESTO_TARGETS_PASSPHRASE"));
        assert!(!err.to_string().contains("wrong-one"));

        let (mut p, asked) = scripted(&[], &["a-wrong-1", "a-wrong-2", "a-wrong-3", "right"], true);
        let res = p.unlock(
            &role("targets"),
            KeyOrigin::Manifesto,
            Path::new("k"),
            |pw| Ok((pw == b"right").then_some(())),
        );
        assert!(matches!(res, Err(KeyStoreError::WrongPassphrase { .. })));
        assert_eq!(*asked.lock().unwrap(), 3);
    }
}
