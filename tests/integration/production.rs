//! The production deployment (`scripts/stack start --production`): notary-server on PostgreSQL
//! with a separate notary-signer over mutual TLS, TLS everywhere, and Docker token auth shared
//! by notary-server and the registry, with two notary-server instances on one database.
//!
//! What these tests show: manifesto works against it with the registry's credentials (init, put,
//! get, list, verify, from either instance); an anonymous client is refused with a message about
//! credentials (exit 8); the Go `notary` CLI with `NOTARY_AUTH` lists what manifesto signed;
//! data survives a notary-server restart (it is in PostgreSQL); 20 concurrent puts spread over
//! both instances all land; a delegation and key rotations work with the remote signer;
//! metadata altered or rolled back in PostgreSQL itself is refused; the tampering proxy of
//! `hostile`, between an authenticated manifesto and notary-server over TLS, flips a timestamp
//! or targets signature (exit 3) or replays an old timestamp (exit 5); and tokens that expire
//! mid-run (the token service restarted with short-lived tokens) are renewed by answering the
//! server's new challenge. Where credentials go is pinned in `production_attacks`.
//!
//! Together they are the core of the suite run against the production deployment (init, put,
//! get, list, verify, delegations, rotation, concurrent writers, an attack); the rest of the
//! suite runs against the in-memory stack. `cargo test --test integration production` runs them.
//!
//! The tests share one stack. The restart test and the token expiry test (which restarts the
//! token service with short-lived tokens) take `STACK_LOCK` for writing so that no other test
//! of this file talks to the restarting service; all others hold it for reading.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use crate::go_notary::{parse_list, sha256_hex};
use crate::harness::{
    Stack, StackKind, TEST_PASSWORD, TEST_USER, TestEnv, code, project_root, stack, stderr, stdout,
    unique_repo,
};
use crate::scene::{content_file, trust_copies};

static STACK_LOCK: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    STACK_LOCK
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn exclusive() -> RwLockWriteGuard<'static, ()> {
    STACK_LOCK
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The production stack and the extra lines of its `stack.env` (NOTARY_URL_2, TOKEN_REALM).
struct Prod {
    s: &'static Stack,
    notary_url_2: String,
    ca: String,
}

fn prod() -> Prod {
    let s = stack(StackKind::Production);
    let env = std::fs::read_to_string(s.dir.join("stack.env")).expect("read stack.env");
    let vars: HashMap<&str, &str> = env.lines().filter_map(|l| l.split_once('=')).collect();
    Prod {
        s,
        notary_url_2: vars.get("NOTARY_URL_2").expect("NOTARY_URL_2").to_string(),
        ca: s
            .ca_file
            .as_ref()
            .expect("the production stack has a CA")
            .to_str()
            .unwrap()
            .to_string(),
    }
}

/// One repository with a pushed image and an owner who ran `manifesto init` on server 1.
struct Scene {
    p: Prod,
    repo: String,
    gun: String,
    image: String,
    digest: String,
    owner: TestEnv,
}

fn scene(label: &str) -> Scene {
    let p = prod();
    let repo = unique_repo(label);
    let digest = p.s.push_image(&repo, "v1");
    let gun = format!("{}/{repo}", p.s.registry);
    let owner = TestEnv::new();
    let sc = Scene {
        image: p.s.image(&repo, "v1"),
        p,
        repo,
        gun,
        digest,
        owner,
    };
    sc.ok(&sc.owner, 1, &["init", &sc.gun]);
    sc
}

impl Scene {
    fn url(&self, server: u8) -> &str {
        match server {
            1 => &self.p.s.notary_url,
            _ => &self.p.notary_url_2,
        }
    }

    /// `manifesto --server URL --tls-ca CA ARGS…` as `env`, logged in through
    /// REGISTRY_USERNAME / REGISTRY_PASSWORD.
    fn cmd(&self, env: &TestEnv, server: u8, args: &[&str]) -> assert_cmd::Command {
        let mut cmd = env.signer_cmd();
        cmd.env("REGISTRY_USERNAME", TEST_USER)
            .env("REGISTRY_PASSWORD", TEST_PASSWORD)
            .args(["--server", self.url(server), "--tls-ca", &self.p.ca])
            .args(args);
        cmd
    }

    fn run(&self, env: &TestEnv, server: u8, args: &[&str]) -> Output {
        self.cmd(env, server, args).output().unwrap()
    }

    fn ok(&self, env: &TestEnv, server: u8, args: &[&str]) -> Output {
        let out = self.run(env, server, args);
        assert_eq!(
            code(&out),
            0,
            "manifesto {args:?} on server {server}:\n--- stdout\n{}\n--- stderr\n{}",
            stdout(&out),
            stderr(&out)
        );
        out
    }

    fn put(&self, env: &TestEnv, server: u8, ty: &str, content: &[u8]) -> Value {
        let file = content_file(env, content);
        let out = self.ok(
            env,
            server,
            &["-o", "json", "put", &self.image, ty, file.to_str().unwrap()],
        );
        serde_json::from_slice(&out.stdout).expect("put -o json is JSON")
    }

    fn get(&self, env: &TestEnv, server: u8, ty: &str) -> Vec<u8> {
        self.ok(env, server, &["get", &self.image, ty]).stdout
    }

    fn listed_types(&self, env: &TestEnv, server: u8) -> BTreeSet<String> {
        let out = self.ok(env, server, &["-o", "json", "list", &self.image]);
        let rows: Value = serde_json::from_slice(&out.stdout).expect("list -o json is JSON");
        rows["items"]
            .as_array()
            .expect("list -o json has an items array")
            .iter()
            .map(|r| r["type"].as_str().unwrap().to_string())
            .collect()
    }

    fn content(&self, what: &str) -> Vec<u8> {
        format!("{{\"repo\":\"{}\",\"what\":\"{what}\"}}", self.repo).into_bytes()
    }
}

/// The Go `notary` CLI against `url`, logged in with `NOTARY_AUTH` when `auth`.
fn go_notary(p: &Prod, url: &str, trust_dir: &Path, auth: bool, args: &[&str]) -> Output {
    let mut cmd = Command::new("notary");
    cmd.env_remove("NOTARY_AUTH")
        .env("HOME", trust_dir)
        .args(["-s", url, "-d"])
        .arg(trust_dir)
        .args(["--tlscacert", &p.ca])
        .args(args)
        .stdin(std::process::Stdio::null());
    if auth {
        let b64 = base64::engine::general_purpose::STANDARD
            .encode(format!("{TEST_USER}:{TEST_PASSWORD}"));
        cmd.env("NOTARY_AUTH", b64);
    }
    cmd.output().expect("run the Go notary CLI")
}

#[test]
fn production_round_trip_with_credentials_on_both_notary_servers() {
    let _g = shared();
    let sc = scene("prod-trip");
    let approvals = sc.content("approvals");
    let report = sc.put(&sc.owner, 1, "approvals", &approvals);
    assert_eq!(
        report["image_digest"].as_str(),
        Some(sc.digest.as_str()),
        "{report}"
    );

    // byte-exact, from the instance that took the write and from the other one
    assert_eq!(sc.get(&sc.owner, 1, "approvals"), approvals);
    let reader = TestEnv::new();
    assert_eq!(sc.get(&reader, 2, "approvals"), approvals);
    assert_eq!(
        sc.listed_types(&reader, 2),
        BTreeSet::from(["approvals".to_string()])
    );

    // a put through the second instance, then the gate through the first
    let scan = sc.content("scan");
    sc.put(&sc.owner, 2, "scan", &scan);
    let out = sc.ok(
        &reader,
        1,
        &[
            "verify",
            &sc.image,
            "--require",
            "approvals",
            "--require",
            "scan",
        ],
    );
    assert!(code(&out) == 0, "{}", stderr(&out));
    let out = sc.run(&reader, 1, &["verify", &sc.image, "--require", "sbom"]);
    assert_ne!(code(&out), 0, "verify of a missing type must fail");

    // Docker's config with a login for the registry only is enough for the Notary server too.
    let docker_user = TestEnv::new();
    let auth =
        base64::engine::general_purpose::STANDARD.encode(format!("{TEST_USER}:{TEST_PASSWORD}"));
    docker_user.write_docker_config(
        &serde_json::json!({ "auths": { sc.p.s.registry.clone(): { "auth": auth } } }),
    );
    let out = docker_user
        .cmd()
        .args(["--server", sc.url(1), "--tls-ca", &sc.p.ca])
        .args(["get", &sc.image, "scan"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "get with docker config: {}", stderr(&out));
    assert_eq!(out.stdout, scan);
}

#[test]
fn an_anonymous_client_is_refused_with_a_message_about_credentials() {
    let _g = shared();
    let sc = scene("prod-anon");
    sc.put(&sc.owner, 1, "approvals", &sc.content("approvals"));

    let anon = TestEnv::new();
    let base = ["--server", sc.url(1), "--tls-ca", sc.p.ca.as_str()];
    for args in [
        vec!["get", sc.image.as_str(), "approvals"],
        vec!["list", sc.image.as_str()],
        vec!["trust", "inspect", sc.gun.as_str()],
    ] {
        let out = anon.cmd().args(base).args(&args).output().unwrap();
        let err = stderr(&out);
        assert_eq!(code(&out), 8, "anonymous {args:?}: {err}");
        assert!(
            err.contains("credentials") || err.contains("REGISTRY_USERNAME"),
            "anonymous {args:?}: the message is about credentials: {err}"
        );
        assert!(
            out.stdout.is_empty(),
            "anonymous {args:?} printed {}",
            stdout(&out)
        );
    }

    // anonymous init of a new repository: refused by the Notary server itself
    let out = anon
        .signer_cmd()
        .args(base)
        .args([
            "init",
            "--allow-new-repository",
            &format!("{}/{}", sc.p.s.registry, unique_repo("prod-anon-init")),
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 8, "anonymous init: {err}");
    assert!(
        err.contains("Notary server") && err.contains("REGISTRY_USERNAME"),
        "anonymous init names the Notary server and how to log in: {err}"
    );

    // a wrong password is refused the same way
    let out = anon
        .cmd()
        .env("REGISTRY_USERNAME", TEST_USER)
        .env("REGISTRY_PASSWORD", "not-the-password")
        .args(base)
        .args(["get", &sc.image, "approvals"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 8, "wrong password: {}", stderr(&out));
}

#[test]
fn go_notary_with_notary_auth_lists_what_manifesto_signed() {
    let _g = shared();
    let sc = scene("prod-go");
    let approvals = sc.content("approvals");
    sc.put(&sc.owner, 1, "approvals", &approvals);

    let go_trust = tempfile::tempdir().unwrap();
    let out = go_notary(&sc.p, sc.url(2), go_trust.path(), true, &["list", &sc.gun]);
    assert!(
        out.status.success(),
        "notary list with NOTARY_AUTH: {}",
        stderr(&out)
    );
    let listed = parse_list(&stdout(&out));
    let name = format!("approvals/{}", sc.digest);
    let row = listed
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("{name} not in the Go listing: {listed:?}"));
    assert_eq!(row.sha256_hex, sha256_hex(&approvals));
    assert_eq!(row.size, approvals.len() as u64);
    assert_eq!(row.role, "targets");
    assert!(
        row.file.starts_with("targets/_manifesto/"),
        "the owner's bin holds it: {}",
        row.file
    );

    // and without credentials the Go client is refused too
    let other = tempfile::tempdir().unwrap();
    let out = go_notary(&sc.p, sc.url(1), other.path(), false, &["list", &sc.gun]);
    assert!(!out.status.success(), "anonymous Go list: {}", stdout(&out));
}

#[test]
fn data_written_before_a_notary_server_restart_is_read_by_a_fresh_client_after_it() {
    let _g = exclusive();
    let sc = scene("prod-restart");
    let approvals = sc.content("approvals");
    sc.put(&sc.owner, 1, "approvals", &approvals);
    let pid_before = std::fs::read_to_string(sc.p.s.dir.join("notary-server.pid")).unwrap();

    let out = Command::new(project_root().join("scripts/stack"))
        .arg("restart")
        .arg(&sc.p.s.dir)
        .arg("notary-server")
        .output()
        .unwrap();
    assert!(out.status.success(), "restart: {}", stderr(&out));
    let pid_after = std::fs::read_to_string(sc.p.s.dir.join("notary-server.pid")).unwrap();
    assert_ne!(pid_before, pid_after, "a new notary-server process");

    let fresh = TestEnv::new();
    assert_eq!(sc.get(&fresh, 1, "approvals"), approvals);
    // the restarted server takes writes again, from the owner's existing trust data
    let scan = sc.content("scan");
    sc.put(&sc.owner, 1, "scan", &scan);
    assert_eq!(sc.get(&TestEnv::new(), 1, "scan"), scan);
}

#[test]
fn twenty_concurrent_puts_spread_over_two_notary_servers_all_land() {
    let _g = shared();
    let sc = scene("prod-race");
    let jobs: Vec<(String, Vec<u8>, u8)> = (0u8..20)
        .map(|i| {
            let ty = format!("type{i}");
            let content = sc.content(&ty);
            (ty, content, 1 + i % 2)
        })
        .collect();
    let writers = trust_copies(&sc.owner, jobs.len());
    let barrier = std::sync::Barrier::new(jobs.len());
    let mut attempts = Vec::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = writers
            .iter()
            .zip(&jobs)
            .map(|(w, (ty, content, server))| {
                let file = content_file(w, content);
                let mut cmd = sc.cmd(w, *server, &["-o", "json", "put", &sc.image, ty]);
                cmd.arg(&file);
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    cmd.output().unwrap()
                })
            })
            .collect();
        for (h, (ty, _, server)) in handles.into_iter().zip(&jobs) {
            let out = h.join().unwrap();
            assert_eq!(
                code(&out),
                0,
                "put {ty} via server {server} failed: {}",
                stderr(&out)
            );
            let report: Value = serde_json::from_slice(&out.stdout).unwrap();
            attempts.push(report["attempts"].as_u64().unwrap_or(0));
        }
    });
    // Informative: how hard they raced (publish attempts per writer).
    attempts.sort_unstable();
    eprintln!("20 puts over two notary-servers: publish attempts {attempts:?}");

    let expected: BTreeSet<String> = jobs.iter().map(|(ty, _, _)| ty.clone()).collect();
    let reader = TestEnv::new();
    assert_eq!(sc.listed_types(&reader, 1), expected, "listed via server 1");
    assert_eq!(sc.listed_types(&reader, 2), expected, "listed via server 2");
    for (ty, content, server) in &jobs {
        // each read from the instance that did not take the write
        let other = if *server == 1 { 2 } else { 1 };
        assert_eq!(&sc.get(&reader, other, ty), content, "get {ty}");
    }
}

/// `psql` as the stack's admin over its private socket; returns stdout (unaligned, no headers).
fn psql(p: &Prod, db: &str, sql: &str) -> String {
    let port = std::fs::read_to_string(p.s.dir.join("postgres.port")).unwrap();
    let out = Command::new("psql")
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-h"])
        .arg(p.s.dir.join("postgres/run"))
        .args(["-p", port.trim(), "-U", "stack_admin", "-d", db, "-c", sql])
        .env_remove("PGPASSWORD")
        .output()
        .expect("run psql");
    assert!(out.status.success(), "psql {sql}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

/// The server's own storage turned against its clients: metadata altered in PostgreSQL is
/// refused (exit 3), and a database rolled back to older versions is refused by a client that
/// has seen newer ones (exit 5). Served through the second instance, whose metadata cache has
/// never seen this repository.
#[test]
fn metadata_altered_or_rolled_back_in_postgresql_is_refused() {
    let _g = shared();
    let sc = scene("prod-db-attack");
    let approvals = sc.content("approvals");
    sc.put(&sc.owner, 1, "approvals", &approvals);
    sc.put(&sc.owner, 1, "scan", &sc.content("scan"));
    let reader = TestEnv::new();
    assert_eq!(sc.get(&reader, 1, "approvals"), approvals);
    let gun = sc.gun.replace('\'', "''");
    let latest = |role: &str| {
        format!(
            "gun = '{gun}' AND role = '{role}' AND version = \
             (SELECT max(version) FROM tuf_files WHERE gun = '{gun}' AND role = '{role}')"
        )
    };

    // one byte more in the newest targets.json (a space before a key: still valid JSON, same
    // canonical form, so the signature alone would not notice; the snapshot's hash and length do)
    let n = psql(
        &sc.p,
        "notaryserver",
        &format!(
            "UPDATE tuf_files SET data = convert_to(replace(convert_from(data, 'UTF8'), \
             '\"expires\"', ' \"expires\"'), 'UTF8') WHERE {}",
            latest("targets")
        ),
    );
    assert_eq!(n, "UPDATE 1");
    let out = sc.run(&TestEnv::new(), 2, &["get", &sc.image, "approvals"]);
    assert_eq!(code(&out), 3, "altered targets: {}", stderr(&out));
    assert!(out.stdout.is_empty(), "nothing printed: {}", stdout(&out));

    // drop the newest targets, snapshot and timestamp: the server now serves the previous state
    let n = psql(
        &sc.p,
        "notaryserver",
        &format!(
            "DELETE FROM tuf_files WHERE ({}) OR ({}) OR ({})",
            latest("targets"),
            latest("snapshot"),
            latest("timestamp")
        ),
    );
    assert_eq!(n, "DELETE 3");
    let out = sc.run(&reader, 2, &["get", &sc.image, "approvals"]);
    let err = stderr(&out);
    assert_eq!(code(&out), 5, "rolled back: {err}");
    assert!(err.contains("older than"), "{err}");
}

/// A delegation and key rotations on the production stack; the timestamp key rotation makes
/// notary-signer create a new key (a new row in its database).
#[test]
fn delegation_and_key_rotations_work_with_the_remote_signer() {
    let _g = shared();
    let sc = scene("prod-deleg");
    let ci_pem = sc.owner.home.path().join("ci.pem");
    let out = sc
        .owner
        .signer_cmd()
        .args(["key", "generate", "--role", "targets/ci", "--public-out"])
        .arg(&ci_pem)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "key generate: {}", stderr(&out));
    let pem = ci_pem.to_str().unwrap();
    sc.ok(
        &sc.owner,
        1,
        &[
            "delegate",
            "add",
            &sc.gun,
            "ci",
            "--key",
            pem,
            "--type",
            "approvals",
        ],
    );
    let approvals = sc.content("approvals");
    let file = content_file(&sc.owner, &approvals);
    sc.ok(
        &sc.owner,
        2,
        &[
            "put",
            &sc.image,
            "approvals",
            file.to_str().unwrap(),
            "--role",
            "targets/ci",
        ],
    );
    let reader = TestEnv::new();
    assert_eq!(sc.get(&reader, 1, "approvals"), approvals);
    let out = sc.ok(&reader, 1, &["-o", "json", "list", &sc.image]);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows["items"][0]["role"], "targets/ci", "{rows}");

    let gun = sc.gun.replace('\'', "''");
    let keys = |role: &str| {
        psql(
            &sc.p,
            "notarysigner",
            &format!("SELECT count(*) FROM private_keys WHERE gun = '{gun}' AND role = '{role}'"),
        )
    };
    assert_eq!(keys("timestamp"), "1");
    for role in ["timestamp", "targets"] {
        let out = sc.ok(
            &sc.owner,
            1,
            &["-o", "json", "key", "rotate", &sc.gun, role],
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["published"], true, "rotate {role}: {report}");
    }
    assert_eq!(
        keys("timestamp"),
        "2",
        "the signer made a new timestamp key"
    );

    // the reader follows the rotations; a fresh reader starts from the new root
    assert_eq!(sc.get(&reader, 2, "approvals"), approvals);
    let scan = sc.content("scan");
    sc.put(&sc.owner, 1, "scan", &scan);
    assert_eq!(sc.get(&reader, 2, "scan"), scan);
    assert_eq!(sc.get(&TestEnv::new(), 1, "approvals"), approvals);
}

// ---------------------------------------------------------------------------------------------
// Attacks through the tampering proxy, token expiry (issue 14)

use crate::hostile::{Hostile, Reply, Upstream, tampering_proxy_to};
use crate::scene::snapshot_existing_dir;

impl Scene {
    /// [`Scene::run`] against `url` (a proxy in front of a server), logged in the same way.
    fn run_via(&self, env: &TestEnv, url: &str, args: &[&str]) -> Output {
        let mut cmd = env.signer_cmd();
        cmd.env("REGISTRY_USERNAME", TEST_USER)
            .env("REGISTRY_PASSWORD", TEST_PASSWORD)
            .args(["--server", url, "--tls-ca", &self.p.ca])
            .args(args);
        cmd.output().unwrap()
    }

    /// A `get` through `url` refused with `expected`: nothing on stdout, the trust cache of
    /// `reader` byte-for-byte as it was. Returns stderr.
    fn get_refused_via(&self, reader: &TestEnv, url: &str, expected: i32) -> String {
        let before = snapshot_existing_dir(&reader.trust_dir());
        let out = self.run_via(reader, url, &["get", &self.image, "approvals"]);
        let err = stderr(&out);
        assert_eq!(code(&out), expected, "exit code; stderr: {err}");
        assert!(
            out.stdout.is_empty(),
            "nothing printed on a refused read: {}",
            stdout(&out)
        );
        assert!(
            before == snapshot_existing_dir(&reader.trust_dir()),
            "the trust cache is untouched"
        );
        err
    }

    /// A proxy (plain HTTP on loopback) in front of notary-server 1 over TLS.
    fn proxy(
        &self,
        rt: &tokio::runtime::Runtime,
        tamper: impl Fn(&str, u16, Vec<u8>) -> Reply + Send + Sync + 'static,
    ) -> Hostile {
        rt.block_on(tampering_proxy_to(
            Upstream::tls(&self.p.s.notary_url, Path::new(&self.p.ca)),
            tamper,
        ))
    }
}

/// A runtime for the proxies of a test, whose body runs commands blocking on the test thread.
fn proxy_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn is_tuf_file(path: &str, name: &str) -> bool {
    path.ends_with(&format!("/_trust/tuf/{name}"))
}

/// A checksum-addressed `targets.<sha256>.json` or delegation file (`targets/_manifesto/3f.<sha256>.json`,
/// where a put's targets now live): what a client fetches after a new snapshot.
fn is_targets_file(path: &str) -> bool {
    path.contains("/_trust/tuf/targets.") || path.contains("/_trust/tuf/targets/")
}

/// Flip one letter of the first signature (base64 letter swap keeps it valid base64).
fn flip_signature(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(body.to_vec()).expect("metadata is UTF-8");
    let at = text.find("\"sig\":\"").expect("a signature") + 7;
    let mut bytes = text.into_bytes();
    bytes[at + 5] = if bytes[at + 5] == b'A' { b'B' } else { b'A' };
    bytes
}

/// Authenticated reads through a tampering proxy in front of the production notary-server (the
/// challenge's realm is the real token service): a flipped timestamp signature, then a flipped
/// signature on the new targets file after a put, are untrusted (exit 3), print nothing and
/// leave the reader's cache as it was.
#[test]
fn a_flipped_timestamp_or_targets_signature_through_a_proxy_on_production_is_exit_3() {
    let _g = shared();
    let rt = proxy_runtime();
    let sc = scene("prod-atk-sig");
    sc.put(&sc.owner, 1, "approvals", &sc.content("approvals"));
    let reader = TestEnv::new();
    let approvals = sc.get(&reader, 1, "approvals");

    // the honest proxy first: authentication passes through it both ways
    let honest = sc.proxy(&rt, |_, status, body| Reply::Full(status, vec![], body));
    let out = sc.run_via(&reader, &honest.url, &["get", &sc.image, "approvals"]);
    assert_eq!(code(&out), 0, "through the honest proxy: {}", stderr(&out));
    assert_eq!(out.stdout, approvals);
    let seen = honest.seen();
    assert!(
        seen.iter()
            .any(|(r, s)| *s == 401 && r.header("authorization").is_none()),
        "the server challenged through the proxy: {seen:?}"
    );
    assert!(
        seen.iter().any(|(r, s)| *s == 200
            && r.header("authorization")
                .is_some_and(|a| a.starts_with("Bearer "))),
        "the bearer token went through the proxy: {seen:?}"
    );

    let ts = sc.proxy(&rt, |path, status, body| {
        if status == 200 && is_tuf_file(path, "timestamp.json") {
            Reply::Full(200, vec![], flip_signature(&body))
        } else {
            Reply::Full(status, vec![], body)
        }
    });
    let err = sc.get_refused_via(&reader, &ts.url, 3);
    assert!(err.contains("timestamp"), "{err}");

    // a new put: the reader must fetch the new targets file, whose signature is flipped
    sc.put(&sc.owner, 1, "scan", &sc.content("scan"));
    let targets = sc.proxy(&rt, |path, status, body| {
        if status == 200 && is_targets_file(path) {
            Reply::Full(200, vec![], flip_signature(&body))
        } else {
            Reply::Full(status, vec![], body)
        }
    });
    let err = sc.get_refused_via(&reader, &targets.url, 3);
    assert!(err.contains("targets"), "{err}");
    assert!(
        targets.seen().iter().any(|(r, _)| is_targets_file(&r.path)),
        "the targets file was fetched through the proxy"
    );
}

/// An authenticated read through a proxy replaying the timestamp it saw first, to a client
/// that has since trusted a newer one: rollback (exit 5), nothing printed, cache untouched.
#[test]
fn a_rolled_back_timestamp_through_a_proxy_on_production_is_exit_5() {
    let _g = shared();
    let rt = proxy_runtime();
    let sc = scene("prod-atk-rollback");
    sc.put(&sc.owner, 1, "approvals", &sc.content("approvals"));
    let reader = TestEnv::new();
    let first: std::sync::Arc<std::sync::Mutex<Option<Vec<u8>>>> = std::sync::Arc::default();
    let kept = first.clone();
    let replay = sc.proxy(&rt, move |path, status, body| {
        if status == 200 && is_tuf_file(path, "timestamp.json") {
            let mut kept = kept.lock().unwrap();
            let old = kept.get_or_insert(body).clone();
            Reply::Full(200, vec![], old)
        } else {
            Reply::Full(status, vec![], body)
        }
    });
    // the first read through the proxy is honest (it records that timestamp)
    let out = sc.run_via(&reader, &replay.url, &["get", &sc.image, "approvals"]);
    assert_eq!(
        code(&out),
        0,
        "first read through the proxy: {}",
        stderr(&out)
    );
    assert!(
        first.lock().unwrap().is_some(),
        "the proxy kept a timestamp"
    );

    sc.put(&sc.owner, 1, "scan", &sc.content("scan"));
    assert_eq!(
        sc.get(&reader, 1, "scan"),
        sc.content("scan"),
        "the reader trusts the newer timestamp"
    );
    let err = sc.get_refused_via(&reader, &replay.url, 5);
    assert!(err.contains("older than"), "{err}");
}

/// How long the token service's tokens live for notary-server and the registry during
/// [`ShortTokens`]. Both check `exp` with distribution's 60 s leeway, so the configured
/// `token_ttl_seconds` is this minus 60 (the JWT's `exp` lies in the past; the servers still
/// take it for `LIFETIME` seconds).
const SHORT_TOKEN_LIFETIME_SECONDS: i64 = 3;
const SERVER_EXP_LEEWAY_SECONDS: i64 = 60;

/// The shared stack's token service restarted with short-lived tokens; the original
/// configuration is put back (and the service restarted) on drop, also when the test fails.
/// Hold [`exclusive`] around it: no other test may get a token meanwhile.
struct ShortTokens {
    config: std::path::PathBuf,
    original: Vec<u8>,
    dir: std::path::PathBuf,
}

fn restart_token_service(dir: &Path) {
    let out = Command::new(project_root().join("scripts/stack"))
        .arg("restart")
        .arg(dir)
        .arg("token-service")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "restart token-service: {}",
        stderr(&out)
    );
}

impl ShortTokens {
    fn start(p: &Prod) -> ShortTokens {
        let config = p.s.dir.join("token-service.json");
        let original = std::fs::read(&config).expect("read token-service.json");
        let mut json: Value = serde_json::from_slice(&original).unwrap();
        json["token_ttl_seconds"] =
            (SHORT_TOKEN_LIFETIME_SECONDS - SERVER_EXP_LEEWAY_SECONDS).into();
        std::fs::write(&config, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
        let guard = ShortTokens {
            config,
            original,
            dir: p.s.dir.clone(),
        };
        restart_token_service(&guard.dir);
        guard
    }
}

impl Drop for ShortTokens {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.config, &self.original);
        restart_token_service(&self.dir);
    }
}

/// Bearer tokens of `seen` refused by the server (401) that the client then replaced with a
/// new token the server took for the same request.
fn reanswered_expired_tokens(seen: &[(crate::hostile::Request, u16)]) -> Vec<String> {
    let bearer = |r: &crate::hostile::Request| {
        r.header("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::to_string)
    };
    seen.iter()
        .enumerate()
        .filter_map(|(i, (r, status))| {
            let old = bearer(r).filter(|_| *status == 401)?;
            seen[i + 1..]
                .iter()
                .find(|(later, s)| {
                    later.method == r.method
                        && later.path == r.path
                        && (200..300).contains(s)
                        && bearer(later).is_some_and(|t| t != old)
                })
                .map(|(later, _)| format!("{} {}", later.method, later.path))
        })
        .collect()
}

/// Tokens that expire mid-run: the token service issues tokens the servers take for 3 s, and a
/// proxy in front of notary-server holds the put's POST and the fresh reader's first targets
/// GET for 5 s, so each goes out with an expired token. The server answers 401 with a new
/// challenge; manifesto answers it with a new token and the operation succeeds (the registry's
/// tokens expire during the same runs too).
#[test]
fn a_token_that_expires_mid_run_is_renewed_by_answering_the_new_challenge() {
    let _g = exclusive();
    let rt = proxy_runtime();
    let sc = scene("prod-ttl");
    let _short = ShortTokens::start(&sc.p);
    let held_post = std::sync::atomic::AtomicBool::new(false);
    let held_targets = std::sync::atomic::AtomicBool::new(false);
    let hold = Duration::from_secs(5);
    let pause = move |_: usize, r: &crate::hostile::Request| {
        let first = |flag: &std::sync::atomic::AtomicBool| {
            !flag.swap(true, std::sync::atomic::Ordering::SeqCst)
        };
        let bearer = r
            .header("authorization")
            .is_some_and(|a| a.starts_with("Bearer "));
        let held = (r.method == "POST" && first(&held_post))
            || (r.method == "GET" && is_targets_file(&r.path) && first(&held_targets));
        if bearer && held { hold } else { Duration::ZERO }
    };
    let mut upstream = Upstream::tls(&sc.p.s.notary_url, Path::new(&sc.p.ca));
    upstream.pause = Some(std::sync::Arc::new(pause));
    let proxy = rt.block_on(tampering_proxy_to(upstream, |_, status, body| {
        Reply::Full(status, vec![], body)
    }));

    let approvals = sc.content("approvals");
    let file = content_file(&sc.owner, &approvals);
    let out = sc.run_via(
        &sc.owner,
        &proxy.url,
        &["put", &sc.image, "approvals", file.to_str().unwrap()],
    );
    assert_eq!(
        code(&out),
        0,
        "put with a token expiring mid-run: {}",
        stderr(&out)
    );
    let renewed = reanswered_expired_tokens(&proxy.seen());
    assert!(
        renewed.iter().any(|r| r.starts_with("POST ")),
        "the POST went out with an expired token and was retried with a new one: {renewed:?} in {:?}",
        proxy.seen()
    );

    let reader = TestEnv::new();
    let out = sc.run_via(&reader, &proxy.url, &["get", &sc.image, "approvals"]);
    assert_eq!(
        code(&out),
        0,
        "get with a token expiring mid-run: {}",
        stderr(&out)
    );
    assert_eq!(out.stdout, approvals);
    let renewed = reanswered_expired_tokens(&proxy.seen());
    assert!(
        renewed
            .iter()
            .any(|r| r.starts_with("GET ") && r.contains("/_trust/tuf/targets.")),
        "the targets GET went out with an expired token and was retried with a new one: {renewed:?}"
    );
}
