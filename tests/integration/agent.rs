//! The key agent against the real servers: a put signs through it with no passphrase, a key is
//! forgotten at its lifetime, and the attacks on it (a socket in an open directory, another
//! user at the socket, an agent that signs with some other key) publish nothing.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use crate::harness::{TestEnv, code, ok, stderr, stdout};
use crate::scene::{APPROVAL, Published, published};

/// A running agent, stopped by PID when dropped.
struct Agent {
    socket: PathBuf,
    pid: u32,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.pid.to_string())
            .status();
    }
}

/// A directory only this user may enter, for a socket.
fn private_dir(env: &TestEnv, name: &str) -> PathBuf {
    let dir = env.home.path().join(name);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

/// `agent start --socket DIR/agent.sock -o json` as `env`, asserted to succeed.
fn start_agent(env: &TestEnv, lifetime: &str) -> Agent {
    let socket = private_dir(env, "agent").join("agent.sock");
    let out = ok(
        env.cmd()
            .args(["-o", "json", "agent", "start", "--lifetime", lifetime])
            .arg("--socket")
            .arg(&socket)
            .output()
            .unwrap(),
        "agent start",
    );
    let started: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(started["socket"], socket.to_str().unwrap());
    Agent {
        socket,
        pid: u32::try_from(started["pid"].as_u64().unwrap()).unwrap(),
    }
}

/// `agent add ARGS` as `env`, with its passphrases, asserted to succeed.
fn agent_add(env: &TestEnv, socket: &Path, args: &[&str]) -> std::process::Output {
    ok(
        env.signer_cmd()
            .env("MANIFESTO_AGENT_SOCK", socket)
            .args(["agent", "add"])
            .args(args)
            .output()
            .unwrap(),
        "agent add",
    )
}

/// The owner's `put` of `content` without any passphrase in the environment.
fn put_without_passphrase(p: &Published, socket: &Path, content: &[u8]) -> std::process::Output {
    p.owner
        .cmd()
        .env("MANIFESTO_AGENT_SOCK", socket)
        .args([
            "--server",
            &p.stack.notary_url,
            "put",
            &p.image,
            "approvals",
            "-",
        ])
        .write_stdin(content.to_vec())
        .output()
        .unwrap()
}

fn agent_list(env: &TestEnv, socket: &Path) -> serde_json::Value {
    let out = ok(
        env.cmd()
            .env("MANIFESTO_AGENT_SOCK", socket)
            .args(["-o", "json", "agent", "list"])
            .output()
            .unwrap(),
        "agent list",
    );
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["items"].clone()
}

/// The owner's targets key id, from `key list`.
fn targets_key_id(env: &TestEnv) -> String {
    let out = ok(
        env.cmd()
            .args(["-o", "json", "key", "list"])
            .output()
            .unwrap(),
        "key list",
    );
    let keys: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "targets")
        .expect("a targets key")["key_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_put_signs_through_the_agent_without_a_passphrase_and_a_reader_verifies_it() {
    let p = published("agent-put");
    let agent = start_agent(&p.owner, "5m");
    let added = agent_add(&p.owner, &agent.socket, &[]);
    let key_id = targets_key_id(&p.owner);
    assert!(stdout(&added).contains(&key_id), "{}", stdout(&added));
    let held = agent_list(&p.owner, &agent.socket);
    assert_eq!(held.as_array().unwrap().len(), 1, "{held}");
    assert_eq!(held[0]["key_id"], key_id.as_str());
    assert_eq!(held[0]["role"], "targets");

    ok(
        put_without_passphrase(&p, &agent.socket, b"{\"status\":\"via-agent\"}"),
        "put through the agent",
    );
    let got = ok(p.get(&p.reader, &[]), "get");
    assert_eq!(got.stdout, b"{\"status\":\"via-agent\"}");

    // Stopped, it forgets the key: the same put now needs the passphrase (exit 8, named).
    ok(
        p.owner
            .cmd()
            .env("MANIFESTO_AGENT_SOCK", &agent.socket)
            .args(["agent", "stop"])
            .output()
            .unwrap(),
        "agent stop",
    );
    for _ in 0..100 {
        if !agent.socket.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!agent.socket.exists(), "the socket is removed on stop");
    let refused = put_without_passphrase(&p, &agent.socket, b"{\"status\":\"no-agent\"}");
    assert_eq!(code(&refused), 8, "{}", stderr(&refused));
    assert!(stdout(&refused).is_empty());
    assert!(
        stderr(&refused).contains("MANIFESTO_TARGETS_PASSPHRASE"),
        "{}",
        stderr(&refused)
    );
    let got = ok(p.get(&p.reader, &[]), "get after the refused put");
    assert_eq!(got.stdout, b"{\"status\":\"via-agent\"}");
}

#[test]
fn a_key_added_for_one_second_is_forgotten_and_the_next_put_needs_the_passphrase_exit_8() {
    let p = published("agent-lifetime");
    let agent = start_agent(&p.owner, "5m");
    agent_add(&p.owner, &agent.socket, &["--lifetime", "1s"]);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let held = agent_list(&p.owner, &agent.socket);
    assert_eq!(held, serde_json::json!([]), "the key is forgotten");
    let refused = put_without_passphrase(&p, &agent.socket, b"{\"status\":\"late\"}");
    assert_eq!(code(&refused), 8, "{}", stderr(&refused));
    assert!(stdout(&refused).is_empty());
    let got = ok(p.get(&p.reader, &[]), "get");
    assert_eq!(got.stdout, APPROVAL);
}

#[test]
fn an_agent_socket_in_a_directory_others_can_enter_is_refused_exit_8() {
    let env = TestEnv::new();
    let dir = env.home.path().join("open");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = env
        .cmd()
        .args(["agent", "start", "--socket"])
        .arg(dir.join("agent.sock"))
        .output()
        .unwrap();
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "no shell lines to eval");
    assert!(stderr(&out).contains("chmod 700"), "{}", stderr(&out));
    assert!(!dir.join("agent.sock").exists());
}

/// An attacker who can point `MANIFESTO_AGENT_SOCK` at their own socket answers that it holds
/// the owner's key and signs with another one: the put checks every signature against the key
/// the role lists, so it publishes nothing and says which agent lied.
#[test]
fn an_agent_signing_with_another_key_gets_nothing_published_exit_8() {
    let p = published("agent-liar");
    let key_id = targets_key_id(&p.owner);
    let socket = private_dir(&p.owner, "liar").join("agent.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let other =
        manifesto::keys::SigningKey::generate(manifesto::keys::KeyAlgorithm::Ecdsa).unwrap();
    let liar = std::thread::spawn(move || {
        let mut signed = 0;
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            let request: serde_json::Value = serde_json::from_str(&line).unwrap();
            let answer = match request["op"].as_str().unwrap() {
                "list" => serde_json::json!({"answer": "keys", "keys": [{
                    "key_id": key_id, "role": "targets", "expires_at": "2099-01-01T00:00:00Z"}]}),
                "sign" => {
                    signed += 1;
                    let (method, sig) = other.sign(b"anything").unwrap();
                    use base64::Engine;
                    serde_json::json!({"answer": "signed", "method": method,
                        "signature": base64::engine::general_purpose::STANDARD.encode(sig)})
                }
                "stop" => break,
                op => panic!("unexpected request {op}"),
            };
            writeln!(stream, "{answer}").unwrap();
        }
        signed
    });
    let refused = put_without_passphrase(&p, &socket, b"{\"status\":\"forged\"}");
    assert_eq!(code(&refused), 8, "{}", stderr(&refused));
    assert!(stdout(&refused).is_empty());
    assert!(
        stderr(&refused).contains("did not make"),
        "{}",
        stderr(&refused)
    );
    let got = ok(p.get(&p.reader, &[]), "get");
    assert_eq!(got.stdout, APPROVAL, "nothing was published");
    // Stop the liar thread.
    let mut s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    writeln!(s, "{}", serde_json::json!({"op": "stop"})).unwrap();
    assert!(
        liar.join().unwrap() >= 1,
        "the put did ask the liar to sign"
    );
}

/// Another user who reaches the socket (its directory opened after the agent started) is
/// answered nothing: the agent checks the peer's uid on every connection. Needs root to run a
/// client as another user.
#[test]
fn another_user_at_the_agent_socket_gets_no_answer_and_no_signature() {
    if !is_root() {
        eprintln!("skipped: needs root to run a client as another user");
        return;
    }
    let p = published("agent-peer");
    let agent = start_agent(&p.owner, "5m");
    agent_add(&p.owner, &agent.socket, &[]);
    // The mistake the peer check guards against: the socket made reachable for everyone.
    for d in [p.owner.home.path(), agent.socket.parent().unwrap()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    std::fs::set_permissions(&agent.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    // A copy of the binary the other user may run.
    let bin_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(bin_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = bin_dir.path().join("manifesto");
    std::fs::copy(assert_cmd::cargo::cargo_bin("manifesto"), &bin).unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["agent", "list"])
        .env_clear()
        .env("HOME", "/nonexistent")
        .env("MANIFESTO_AGENT_SOCK", &agent.socket)
        .output()
        .unwrap();
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    // The owner is still served.
    assert_eq!(
        agent_list(&p.owner, &agent.socket)
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
}
