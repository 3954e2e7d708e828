//! A driver for the real Go `notary` CLI (0.7.0), used to build Notary repositories the way Docker
//! Content Trust users build them, against the notary-server of the harness stack.
//!
//! Interop tests use it to check that manifesto reads what the Go client wrote (targets,
//! delegations, key rotations) and that both clients agree on a repository. The parsers of the Go
//! client's table output (`notary list`, `notary delegation list`) give the Go client's own view
//! to compare with. The self-tests at the bottom only prove the builders work; they assert nothing
//! about manifesto.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;

use crate::harness::{Stack, unique_repo};

/// Passphrase of root keys (`NOTARY_ROOT_PASSPHRASE`).
pub const ROOT_PASSPHRASE: &str = "go-root-Pa55phrase";
/// Passphrase of targets keys (`NOTARY_TARGETS_PASSPHRASE`).
pub const TARGETS_PASSPHRASE: &str = "go-targets-Pa55phrase";
/// Passphrase of snapshot keys (`NOTARY_SNAPSHOT_PASSPHRASE`). The Go client really encrypts the
/// snapshot key with this one, not with the targets passphrase.
pub const SNAPSHOT_PASSPHRASE: &str = "go-snapshot-Pa55phrase";
/// Passphrase of delegation keys (`NOTARY_DELEGATION_PASSPHRASE`), also used by
/// `notary key generate --role targets/<x> -o …`.
pub const DELEGATION_PASSPHRASE: &str = "go-delegation-Pa55phrase";

/// A GUN on `stack`'s registry that no other test uses.
pub fn unique_gun(stack: &Stack, label: &str) -> String {
    format!("{}/{}", stack.registry, unique_repo(label))
}

/// One Go client: its own trust dir (keys + metadata cache) and HOME, pointed at one server.
pub struct GoNotary {
    pub trust_dir: tempfile::TempDir,
    pub server: String,
    pub ca: Option<PathBuf>,
    home: tempfile::TempDir,
    /// Target contents and other scratch files.
    work: tempfile::TempDir,
}

/// A target as the Go client was asked to publish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedTarget {
    pub name: String,
    pub sha256_hex: String,
    pub length: u64,
}

/// One row of `notary list GUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTarget {
    pub name: String,
    pub sha256_hex: String,
    pub size: u64,
    /// The signing role: `targets` or a delegation (`targets/qa`), also when the target sits in
    /// one of its bins (docs/layout.md).
    pub role: String,
    /// The role file the Go client found it in (`targets/_manifesto/3f` for a bin).
    pub file: String,
}

/// One role of `notary delegation list GUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedDelegation {
    pub role: String,
    /// Sorted, as the Go client prints them; `""` (all paths) is shown by Go as `"" <all paths>`.
    pub paths: Vec<String>,
    pub key_ids: Vec<String>,
    pub threshold: u32,
}

/// A delegation key made by `notary key generate ecdsa --role ROLE -o …`, held by a *second* Go
/// client (the delegate), whose trust dir holds the private key under `private/<key_id>.key`.
pub struct DelegateKey {
    pub role: String,
    /// The `-----BEGIN PUBLIC KEY-----` PEM (with a `role:` header) that `delegation add` takes.
    pub cert_or_pub_pem: PathBuf,
    /// The encrypted private key as Go wrote it (`ENCRYPTED PRIVATE KEY`, `role:` header,
    /// encrypted with [`DELEGATION_PASSPHRASE`]).
    pub private_pem: PathBuf,
    /// The TUF key ID of the bare `ecdsa` public key, as the delegation will list it.
    pub key_id: String,
    pub trust_dir: tempfile::TempDir,
}

impl GoNotary {
    /// A fresh Go client (empty trust dir) for the notary-server of `stack`.
    pub fn new(stack: &Stack) -> GoNotary {
        GoNotary {
            trust_dir: tempfile::tempdir().expect("go trust dir"),
            server: stack.notary_url.clone(),
            ca: stack.ca_file.clone(),
            home: tempfile::tempdir().expect("go home"),
            work: tempfile::tempdir().expect("go scratch dir"),
        }
    }

    /// `notary -s SERVER -d TRUST_DIR [--tlscacert CA]` with the test passphrases and a clean
    /// HOME; stdin is empty unless the caller sets it.
    fn command_in(&self, trust_dir: &Path) -> Command {
        let mut cmd = Command::new("notary");
        for var in ["NOTARY_AUTH", "NOTARY_CONFIG", "NOTARY_LOG_LEVEL"] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", self.home.path())
            .env("NOTARY_ROOT_PASSPHRASE", ROOT_PASSPHRASE)
            .env("NOTARY_TARGETS_PASSPHRASE", TARGETS_PASSPHRASE)
            .env("NOTARY_SNAPSHOT_PASSPHRASE", SNAPSHOT_PASSPHRASE)
            .env("NOTARY_DELEGATION_PASSPHRASE", DELEGATION_PASSPHRASE)
            .arg("-s")
            .arg(&self.server)
            .arg("-d")
            .arg(trust_dir);
        if let Some(ca) = &self.ca {
            cmd.arg("--tlscacert").arg(ca);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    fn run_in(&self, trust_dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let mut cmd = self.command_in(trust_dir);
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().expect("run the Go `notary` CLI");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("notary stdin");
            // The CLI may exit before reading everything; a broken pipe is not our failure.
            let _ = pipe.write_all(input);
        }
        child.wait_with_output().expect("wait for notary")
    }

    fn ok_in(&self, trust_dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> String {
        let out = self.run_in(trust_dir, args, stdin);
        assert!(
            out.status.success(),
            "notary {args:?} failed ({:?}):\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run `notary <global flags> ARGS` with empty stdin.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_in(self.trust_dir.path(), args, None)
    }

    /// Run `notary <global flags> ARGS`, feeding `stdin`.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.run_in(self.trust_dir.path(), args, Some(stdin))
    }

    /// Run and return stdout; panic with stdout and stderr on a non-zero exit.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_in(self.trust_dir.path(), args, None)
    }

    /// Like [`GoNotary::ok`], as the delegate holding `key` (its own trust dir, same server).
    pub fn ok_as(&self, key: &DelegateKey, args: &[&str]) -> String {
        self.ok_in(key.trust_dir.path(), args, None)
    }

    /// Like [`GoNotary::run`], as the delegate holding `key`.
    pub fn run_as(&self, key: &DelegateKey, args: &[&str]) -> Output {
        self.run_in(key.trust_dir.path(), args, None)
    }

    /// Write `bytes` to a new scratch file and describe them as a target called `name`.
    fn content_file(&self, name: &str, bytes: &[u8]) -> (PathBuf, PublishedTarget) {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = self
            .work
            .path()
            .join(format!("content-{}", N.fetch_add(1, Ordering::SeqCst)));
        std::fs::write(&path, bytes).expect("write target content");
        let target = PublishedTarget {
            name: name.to_string(),
            sha256_hex: sha256_hex(bytes),
            length: bytes.len() as u64,
        };
        (path, target)
    }

    /// `notary init -p GUN`, then `notary add -p GUN NAME FILE` for each target. Note that `init`
    /// reuses a root key already in this trust dir, so one client's GUNs share a root key.
    pub fn init_with_targets(&self, gun: &str, targets: &[(&str, &[u8])]) -> Vec<PublishedTarget> {
        self.ok(&["init", "-p", gun]);
        targets
            .iter()
            .map(|(name, bytes)| self.add_target(gun, name, bytes))
            .collect()
    }

    /// `notary add -p GUN NAME FILE` (signed with this client's targets key).
    pub fn add_target(&self, gun: &str, name: &str, bytes: &[u8]) -> PublishedTarget {
        let (file, target) = self.content_file(name, bytes);
        self.ok(&["add", "-p", gun, name, path_str(&file)]);
        target
    }

    /// `notary remove -p GUN NAME`.
    pub fn remove_target(&self, gun: &str, name: &str) {
        self.ok(&["remove", "-p", gun, name]);
    }

    /// `notary key rotate GUN snapshot -r`: the server makes and holds the snapshot key from now
    /// on (root version +1); the Go client deletes its local snapshot key. Needed before a
    /// delegate without the snapshot key can publish.
    pub fn rotate_snapshot_to_server(&self, gun: &str) {
        let out = self.ok(&["key", "rotate", gun, "snapshot", "-r"]);
        assert!(
            out.contains("Successfully rotated snapshot key"),
            "unexpected output of snapshot rotation:\n{out}"
        );
    }

    /// `notary key rotate GUN targets`: a new local targets key; publishes root v+1 and targets
    /// re-signed with the new key.
    pub fn rotate_targets_key(&self, gun: &str) {
        let out = self.ok(&["key", "rotate", gun, "targets"]);
        assert!(
            out.contains("Successfully rotated targets key"),
            "unexpected output of targets rotation:\n{out}"
        );
    }

    /// `notary key rotate GUN root`, answering `yes` to the confirmation prompt. Publishes root
    /// v+1 signed by the old and the new root key. (Answering anything else prints
    /// "Aborting action." and still exits 0, hence the output check.)
    pub fn rotate_root_key(&self, gun: &str) {
        let out = self.run_with_stdin(&["key", "rotate", gun, "root"], b"yes\n");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("Successfully rotated root key"),
            "root rotation did not happen ({:?}):\n--- stdout\n{stdout}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A new delegation key for `role` (e.g. `targets/qa`), held by a new delegate trust dir.
    ///
    /// `notary key generate ecdsa --role ROLE -o X` writes `X.pem` (public key) and `X-key.pem`
    /// (encrypted private key, not stored in any key store); the private key is then dropped into
    /// the delegate's `private/<key id>.key`, which is all `notary key import` would do.
    pub fn generate_delegate_key(&self, role: &str) -> DelegateKey {
        let trust_dir = tempfile::tempdir().expect("delegate trust dir");
        let stem = trust_dir.path().join("delegate");
        self.ok_in(
            trust_dir.path(),
            &[
                "key",
                "generate",
                "ecdsa",
                "--role",
                role,
                "-o",
                path_str(&stem),
            ],
            None,
        );
        let public = trust_dir.path().join("delegate.pem");
        let private = trust_dir.path().join("delegate-key.pem");
        let key_id = key_id_of_public_pem(&std::fs::read_to_string(&public).expect("read X.pem"));
        let private_dir = trust_dir.path().join("private");
        std::fs::create_dir_all(&private_dir).unwrap();
        std::fs::set_permissions(&private_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let stored = private_dir.join(format!("{key_id}.key"));
        std::fs::copy(&private, &stored).expect("store delegate key");
        std::fs::set_permissions(&stored, std::fs::Permissions::from_mode(0o600)).unwrap();
        DelegateKey {
            role: role.to_string(),
            cert_or_pub_pem: public,
            private_pem: private,
            key_id,
            trust_dir,
        }
    }

    /// Owner side: `notary delegation add -p GUN ROLE KEY.pem --paths P …` (one `--paths` per
    /// path; the Go CLI splits each value at commas). No paths means `--all-paths`.
    pub fn add_delegation(&self, gun: &str, role: &str, key: &DelegateKey, paths: &[&str]) {
        let pem = path_str(&key.cert_or_pub_pem);
        let mut args = vec!["delegation", "add", "-p", gun, role, pem];
        if paths.is_empty() {
            args.push("--all-paths");
        }
        for path in paths {
            args.push("--paths");
            args.push(path);
        }
        self.ok(&args);
    }

    /// Delegate side: `notary add -p GUN NAME FILE --roles ROLE` from the delegate's trust dir.
    /// Needs the snapshot key on the server ([`GoNotary::rotate_snapshot_to_server`]).
    pub fn delegate_publish(
        &self,
        gun: &str,
        key: &DelegateKey,
        role: &str,
        name: &str,
        bytes: &[u8],
    ) -> PublishedTarget {
        let (file, target) = self.content_file(name, bytes);
        self.ok_as(
            key,
            &["add", "-p", gun, name, path_str(&file), "--roles", role],
        );
        target
    }

    /// Like [`GoNotary::delegate_publish`] but returns the outcome. A failed publish leaves the
    /// change staged in the delegate's changelist (it would be retried, and fail, on every later
    /// publish), so on failure the changelist is reset.
    pub fn delegate_try_publish(
        &self,
        gun: &str,
        key: &DelegateKey,
        role: &str,
        name: &str,
        bytes: &[u8],
    ) -> Output {
        let (file, _) = self.content_file(name, bytes);
        let out = self.run_as(
            key,
            &["add", "-p", gun, name, path_str(&file), "--roles", role],
        );
        if !out.status.success() {
            self.ok_as(key, &["reset", gun, "--all"]);
        }
        out
    }

    /// `notary list GUN`, parsed.
    pub fn list(&self, gun: &str) -> Vec<ListedTarget> {
        parse_list(&self.ok(&["list", gun]))
    }

    /// `notary list GUN --roles R …` (the given roles only, shadowing `targets`), parsed.
    pub fn list_roles(&self, gun: &str, roles: &[&str]) -> Vec<ListedTarget> {
        let mut args = vec!["list", gun];
        for role in roles {
            args.push("--roles");
            args.push(role);
        }
        parse_list(&self.ok(&args))
    }

    /// `notary delegation list GUN`, parsed.
    /// The delegations people made: manifesto's own bins (and the owner's shard root) are left
    /// out, since they are storage, not authority (docs/layout.md).
    pub fn delegation_list(&self, gun: &str) -> Vec<ListedDelegation> {
        parse_delegation_list(&self.ok(&["delegation", "list", gun]))
            .into_iter()
            .filter(|d| {
                manifesto::tuf::names::RoleName::parse(&d.role)
                    .map_or(true, |r| !manifesto::manifesto::shard::is_reserved(&r))
            })
            .collect()
    }

    /// `notary verify -q GUN NAME -i FILE`: does the Go client accept `bytes` as target `name`?
    pub fn verify(&self, gun: &str, name: &str, bytes: &[u8]) -> bool {
        let (file, _) = self.content_file(name, bytes);
        self.run(&["verify", "-q", gun, name, "-i", path_str(&file)])
            .status
            .success()
    }

    /// The raw bytes notary-server serves at `/v2/GUN/_trust/tuf/ROLE.json` (curl; panics on
    /// any HTTP error). `role` may be `root`, `targets/qa`, `3.root`, `snapshot.<sha256>` …
    pub fn fetch_raw(&self, gun: &str, role: &str) -> Vec<u8> {
        self.try_fetch_raw(gun, role)
            .unwrap_or_else(|e| panic!("GET {role}.json of {gun}: {e}"))
    }

    /// Like [`GoNotary::fetch_raw`], returning curl's error (e.g. a 404) instead of panicking.
    pub fn try_fetch_raw(&self, gun: &str, role: &str) -> Result<Vec<u8>, String> {
        let url = format!(
            "{}/v2/{gun}/_trust/tuf/{role}.json",
            self.server.trim_end_matches('/')
        );
        let mut cmd = Command::new("curl");
        cmd.args(["-fsS", "--noproxy", "*", "--max-time", "30"]);
        if let Some(ca) = &self.ca {
            cmd.arg("--cacert").arg(ca);
        }
        let out = cmd.arg(&url).output().expect("run curl");
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(format!(
                "curl {url}: {:?}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// The `signed` object of the role's metadata as served.
    pub fn fetch_signed(&self, gun: &str, role: &str) -> serde_json::Value {
        let raw = self.fetch_raw(gun, role);
        let doc: serde_json::Value = serde_json::from_slice(&raw)
            .unwrap_or_else(|e| panic!("{role}.json of {gun} is not JSON: {e}"));
        doc["signed"].clone()
    }

    /// `signed.version` of the role's metadata as served.
    pub fn served_version(&self, gun: &str, role: &str) -> u64 {
        self.fetch_signed(gun, role)["version"]
            .as_u64()
            .unwrap_or_else(|| panic!("{role}.json of {gun} has no version"))
    }

    /// `roles.<role>.keyids` of the served root.json (`role` is root, targets, snapshot or
    /// timestamp).
    pub fn root_role_key_ids(&self, gun: &str, role: &str) -> Vec<String> {
        let root = self.fetch_signed(gun, "root");
        root["roles"][role]["keyids"]
            .as_array()
            .unwrap_or_else(|| panic!("root.json of {gun} has no role {role}"))
            .iter()
            .map(|v| v.as_str().expect("key id string").to_string())
            .collect()
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// TUF key ID of a bare `ecdsa` key given as a `PUBLIC KEY` PEM (PEM headers such as `role:` are
/// skipped): sha256 of `{"keytype":"ecdsa","keyval":{"private":null,"public":"<base64 SPKI>"}}`.
pub fn key_id_of_public_pem(pem: &str) -> String {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----") && !l.contains(':'))
        .collect();
    // Re-encode so the ID does not depend on line wrapping.
    let der = base64::engine::general_purpose::STANDARD
        .decode(&body)
        .expect("base64 PEM body");
    let public = base64::engine::general_purpose::STANDARD.encode(der);
    sha256_hex(
        format!(r#"{{"keytype":"ecdsa","keyval":{{"private":null,"public":"{public}"}}}}"#)
            .as_bytes(),
    )
}

/// Split off the last whitespace-separated token: `("rest", "token")`.
fn split_last_token(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_end();
    if s.is_empty() {
        return None;
    }
    match s.rfind(char::is_whitespace) {
        Some(i) => Some((s[..i].trim_end(), &s[i + 1..])),
        None => Some(("", s)),
    }
}

/// The rows below the `NAME …` header and its `----` separator line.
fn table_rows<'a>(out: &'a str, first_header: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = out.lines().collect();
    let Some(header) = lines
        .iter()
        .position(|l| l.split_whitespace().next() == Some(first_header))
    else {
        return Vec::new();
    };
    let mut start = header + 1;
    if lines
        .get(start)
        .is_some_and(|l| l.trim_start().starts_with("----"))
    {
        start += 1;
    }
    lines[start..]
        .iter()
        .copied()
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// Parse `notary list` output:
///
/// ```text
/// NAME               DIGEST                                                              SIZE (BYTES)    ROLE
/// ----               ------                                                              ------------    ----
/// app/v1             2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824    5               targets
/// ```
///
/// or `No targets present in this repository.` Columns are split from the right, so names may
/// contain spaces (trailing spaces of a name are lost).
pub fn parse_list(out: &str) -> Vec<ListedTarget> {
    table_rows(out, "NAME")
        .into_iter()
        .map(|line| {
            let parsed = (|| {
                let (rest, role) = split_last_token(line)?;
                let (rest, size) = split_last_token(rest)?;
                let (name, digest) = split_last_token(rest)?;
                Some(ListedTarget {
                    name: name.to_string(),
                    sha256_hex: digest.to_string(),
                    size: size.parse().ok()?,
                    role: manifesto::manifesto::shard::signer_of(
                        &manifesto::tuf::names::RoleName::parse(role).ok()?,
                    )
                    .to_string(),
                    file: role.to_string(),
                })
            })();
            parsed.unwrap_or_else(|| panic!("unparsable `notary list` row {line:?} in:\n{out}"))
        })
        .collect()
}

fn is_key_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Parse `notary delegation list` output. A role spans several lines, one path and one key ID a
/// line, sorted; the threshold is on the first line only:
///
/// ```text
/// ROLE               PATHS             KEY IDS                                                             THRESHOLD
/// ----               -----             -------                                                             ---------
/// targets/qa         other/            683bf16dd8f673fefd0a7b6cec6e035ebf3ae632d688466a3bd29e8dc4c2f782    1
///                    qa/               e607c61f63618af23d4e3ab6da101f4c261d3739912e97a10c6e0c084bfd642f
///                    qa2/
/// targets/release    "" <all paths>    62923fa3297f6091f5b2f569e251d5ce3990d66d75fac047e78f48956c2d4906    1
/// ```
///
/// or `No delegations present in this repository.` `"" <all paths>` becomes the path `""`.
pub fn parse_delegation_list(out: &str) -> Vec<ListedDelegation> {
    let mut roles: Vec<ListedDelegation> = Vec::new();
    for line in table_rows(out, "ROLE") {
        let mut rest = line.trim_end();
        if !line.starts_with(char::is_whitespace) {
            let (role, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let (before, threshold) = split_last_token(after)
                .unwrap_or_else(|| panic!("delegation row without threshold {line:?}:\n{out}"));
            roles.push(ListedDelegation {
                role: role.to_string(),
                paths: Vec::new(),
                key_ids: Vec::new(),
                threshold: threshold
                    .parse()
                    .unwrap_or_else(|_| panic!("bad threshold in {line:?}:\n{out}")),
            });
            rest = before;
        }
        let current = roles
            .last_mut()
            .unwrap_or_else(|| panic!("continuation line before any role {line:?}:\n{out}"));
        if let Some((before, last)) = split_last_token(rest)
            && is_key_id(last)
        {
            current.key_ids.push(last.to_string());
            rest = before;
        }
        let path = rest.trim();
        if path == r#""" <all paths>"# {
            current.paths.push(String::new());
        } else if !path.is_empty() {
            current.paths.push(path.to_string());
        }
    }
    roles
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::{StackKind, stack};

    fn listed(target: &PublishedTarget, role: &str) -> ListedTarget {
        ListedTarget {
            name: target.name.clone(),
            sha256_hex: target.sha256_hex.clone(),
            size: target.length,
            role: role.to_string(),
            file: role.to_string(),
        }
    }

    fn sorted(mut v: Vec<ListedTarget>) -> Vec<ListedTarget> {
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    #[test]
    fn parses_go_list_output_with_spaces_in_names() {
        let out = "NAME               DIGEST                                                              SIZE (BYTES)    ROLE\n\
                   ----               ------                                                              ------------    ----\n\
                   app/v1             2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824    5               targets\n\
                   name with space    42a19f77459c45b0218f7d21a485a8a41e3bcb4e80e6e570033c49e2fb16446a    7               targets/qa\n";
        let rows = parse_list(out);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].name, "name with space");
        assert_eq!(rows[1].size, 7);
        assert_eq!(rows[1].role, "targets/qa");
        assert_eq!(
            rows[0].sha256_hex,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(parse_list("\nNo targets present in this repository.\n\n").is_empty());
    }

    #[test]
    fn parses_go_delegation_list_output_over_several_lines() {
        let k1 = "683bf16dd8f673fefd0a7b6cec6e035ebf3ae632d688466a3bd29e8dc4c2f782";
        let k2 = "e607c61f63618af23d4e3ab6da101f4c261d3739912e97a10c6e0c084bfd642f";
        let k3 = "62923fa3297f6091f5b2f569e251d5ce3990d66d75fac047e78f48956c2d4906";
        let out = format!(
            "\nROLE               PATHS             KEY IDS                                                             THRESHOLD\n\
             ----               -----             -------                                                             ---------\n\
             targets/qa         other/            {k1}    1\n                   \
             qa/               {k2}    \n                   \
             qa2/                                                                                  \n\
             targets/release    \"\" <all paths>    {k3}    1\n\n"
        );
        assert_eq!(
            parse_delegation_list(&out),
            vec![
                ListedDelegation {
                    role: "targets/qa".into(),
                    paths: vec!["other/".into(), "qa/".into(), "qa2/".into()],
                    key_ids: vec![k1.into(), k2.into()],
                    threshold: 1,
                },
                ListedDelegation {
                    role: "targets/release".into(),
                    paths: vec!["".into()],
                    key_ids: vec![k3.into()],
                    threshold: 1,
                },
            ]
        );
        assert!(
            parse_delegation_list("\n\nNo delegations present in this repository.\n\n\n")
                .is_empty()
        );
    }

    #[test]
    fn go_client_repository_with_targets_lists_them() {
        let s = stack(StackKind::Plain);
        let go = GoNotary::new(s);
        let gun = unique_gun(s, "go-targets");
        let published = go.init_with_targets(
            &gun,
            &[
                ("app/v1", b"hello"),
                ("dir/name with space", b"world!!"),
                ("empty", b""),
            ],
        );
        assert_eq!(
            published[0].sha256_hex,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let expected: Vec<ListedTarget> = published.iter().map(|t| listed(t, "targets")).collect();
        assert_eq!(sorted(go.list(&gun)), sorted(expected.clone()));

        // A second client, trusting on first use, sees the same.
        let reader = GoNotary::new(s);
        assert_eq!(sorted(reader.list(&gun)), sorted(expected));
        assert!(reader.verify(&gun, "app/v1", b"hello"));
        assert!(!reader.verify(&gun, "app/v1", b"hellO"));
        assert!(reader.delegation_list(&gun).is_empty());

        // The served targets.json holds them.
        let targets = go.fetch_signed(&gun, "targets");
        assert_eq!(targets["targets"]["empty"]["length"], 0);
        assert_eq!(targets["targets"]["dir/name with space"]["length"], 7);
        let missing = go.try_fetch_raw(&gun, "targets/nope").unwrap_err();
        assert!(
            missing.contains("404"),
            "an unknown role is not found: {missing}"
        );

        go.remove_target(&gun, "empty");
        assert_eq!(reader.list(&gun).len(), 2);
    }

    #[test]
    fn go_client_delegate_publishes_inside_its_paths() {
        let s = stack(StackKind::Plain);
        let owner = GoNotary::new(s);
        let gun = unique_gun(s, "go-deleg");
        let own = owner.init_with_targets(&gun, &[("owner/file", b"owned")]);
        owner.rotate_snapshot_to_server(&gun);

        let key = owner.generate_delegate_key("targets/qa");
        assert!(is_key_id(&key.key_id), "{}", key.key_id);
        assert!(
            key.trust_dir
                .path()
                .join("private")
                .join(format!("{}.key", key.key_id))
                .exists()
        );
        assert_eq!(key.role, "targets/qa");
        let private = std::fs::read_to_string(&key.private_pem).unwrap();
        assert!(private.contains("ENCRYPTED PRIVATE KEY") && private.contains("role: targets/qa"));
        owner.add_delegation(&gun, &key.role, &key, &["qa/"]);
        assert_eq!(
            owner.delegation_list(&gun),
            vec![ListedDelegation {
                role: "targets/qa".into(),
                paths: vec!["qa/".into()],
                key_ids: vec![key.key_id.clone()],
                threshold: 1,
            }]
        );

        let qa = owner.delegate_publish(&gun, &key, "targets/qa", "qa/tool", b"qa content");
        let outside = owner.delegate_try_publish(&gun, &key, "targets/qa", "elsewhere/x", b"no");
        assert!(
            !outside.status.success(),
            "a target outside qa/ was published"
        );

        let expected = sorted(vec![listed(&own[0], "targets"), listed(&qa, "targets/qa")]);
        assert_eq!(sorted(owner.list(&gun)), expected);
        assert_eq!(sorted(GoNotary::new(s).list(&gun)), expected);
        assert_eq!(
            owner.list_roles(&gun, &["targets/qa"]),
            vec![listed(&qa, "targets/qa")]
        );
        let served = owner.fetch_signed(&gun, "targets/qa");
        assert_eq!(served["targets"]["qa/tool"]["length"], 10);
        assert!(served["targets"].get("elsewhere/x").is_none());

        // The delegate can publish again after the rejected attempt (its changelist was reset).
        let qa2 = owner.delegate_publish(&gun, &key, "targets/qa", "qa/tool2", b"more");
        assert!(owner.list(&gun).contains(&listed(&qa2, "targets/qa")));
    }

    #[test]
    fn go_client_follows_two_root_rotations() {
        let s = stack(StackKind::Plain);
        let owner = GoNotary::new(s);
        let gun = unique_gun(s, "go-root-rot");
        let published = owner.init_with_targets(&gun, &[("v1", b"one")]);
        // A reader that has cached (and so pinned) root version 1.
        let reader = GoNotary::new(s);
        assert_eq!(reader.list(&gun), vec![listed(&published[0], "targets")]);

        let v1 = owner.served_version(&gun, "root");
        let root_keys_v1 = owner.root_role_key_ids(&gun, "root");
        owner.rotate_root_key(&gun);
        let root_keys_v2 = owner.root_role_key_ids(&gun, "root");
        owner.rotate_root_key(&gun);
        let root_keys_v3 = owner.root_role_key_ids(&gun, "root");
        assert_eq!(owner.served_version(&gun, "root"), v1 + 2);
        assert_eq!(root_keys_v1.len(), 1);
        assert_eq!(root_keys_v3.len(), 1);
        assert_ne!(root_keys_v1, root_keys_v2);
        assert_ne!(root_keys_v2, root_keys_v3);
        assert_ne!(root_keys_v1, root_keys_v3);
        // The intermediate roots stay fetchable by version.
        assert!(
            owner
                .try_fetch_raw(&gun, &format!("{}.root", v1 + 1))
                .is_ok()
        );

        let later = owner.add_target(&gun, "v2", b"two");
        let expected = sorted(vec![
            listed(&published[0], "targets"),
            listed(&later, "targets"),
        ]);
        assert_eq!(sorted(reader.list(&gun)), expected);
        assert_eq!(sorted(GoNotary::new(s).list(&gun)), expected);
    }

    #[test]
    fn go_client_after_snapshot_and_targets_rotation_still_lists_targets() {
        let s = stack(StackKind::Plain);
        let owner = GoNotary::new(s);
        let gun = unique_gun(s, "go-key-rot");
        let published = owner.init_with_targets(&gun, &[("a", b"alpha"), ("b", b"beta")]);
        let reader = GoNotary::new(s);
        assert_eq!(reader.list(&gun).len(), 2);

        let snapshot_keys = owner.root_role_key_ids(&gun, "snapshot");
        let targets_keys = owner.root_role_key_ids(&gun, "targets");
        owner.rotate_snapshot_to_server(&gun);
        owner.rotate_targets_key(&gun);
        assert_ne!(owner.root_role_key_ids(&gun, "snapshot"), snapshot_keys);
        assert_ne!(owner.root_role_key_ids(&gun, "targets"), targets_keys);
        let snapshot = owner.fetch_raw(&gun, "snapshot");
        assert!(
            String::from_utf8_lossy(&snapshot).contains("\"method\":\"eddsa\""),
            "the server signs the snapshot with its ed25519 key"
        );

        let c = owner.add_target(&gun, "c", b"gamma");
        let expected = sorted(
            published
                .iter()
                .chain([&c])
                .map(|t| listed(t, "targets"))
                .collect(),
        );
        assert_eq!(sorted(owner.list(&gun)), expected);
        assert_eq!(sorted(reader.list(&gun)), expected);
        assert_eq!(sorted(GoNotary::new(s).list(&gun)), expected);
    }

    #[test]
    fn go_client_works_over_tls() {
        let s = stack(StackKind::Tls);
        assert!(s.ca_file.is_some());
        let go = GoNotary::new(s);
        let gun = unique_gun(s, "go-tls");
        let published = go.init_with_targets(&gun, &[("t", b"tls")]);
        assert_eq!(
            GoNotary::new(s).list(&gun),
            vec![listed(&published[0], "targets")]
        );
        assert!(!go.fetch_raw(&gun, "timestamp").is_empty());
    }
}
