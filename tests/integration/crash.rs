//! Crashes and concurrency on one trust cache, through the real binary: a run killed with
//! SIGKILL while it persists (scenario 34), a lock holder killed (scenario 33), and parallel
//! `get` and `put` on one repository (scenario 32).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::harness::{TestEnv, code, ok, stderr};
use crate::scene::{APPROVAL, Published, published};

/// The binary as `env` runs it, as a `std::process::Command` (it is spawned and killed).
fn spawnable(env: &TestEnv) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("manifesto"));
    for var in [
        "MANIFESTO_SERVER",
        "DOCKER_CONTENT_TRUST_SERVER",
        "MANIFESTO_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", env.home.path())
        .env("MANIFESTO_TRUST_DIR", env.trust_dir())
        .env("DOCKER_CONFIG", env.docker_config_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A small xorshift generator: the delays only need to vary, not to be cryptographic.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64;
        Rng(nanos | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn version_of(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{} is torn ({e}): {:?}",
            path.display(),
            String::from_utf8_lossy(&bytes)
        )
    });
    v["signed"]["version"]
        .as_u64()
        .unwrap_or_else(|| panic!("{} has no version", path.display()))
}

/// Every cached role file parses (each is entirely old or entirely new), and the floors the
/// next run loads are never below a cached file's version. Returns the roles checked.
fn assert_cache_consistent(p: &Published, env: &TestEnv) -> BTreeMap<String, u64> {
    let meta = p.metadata_dir(env);
    let mut versions = BTreeMap::new();
    let mut todo = vec![(meta.clone(), String::new())];
    while let Some((dir, prefix)) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue; // the lock, and temporary files a killed run left (never read)
            }
            if e.file_type().unwrap().is_dir() {
                todo.push((e.path(), format!("{prefix}{name}/")));
            } else if let Some(role) = name.strip_suffix(".json") {
                versions.insert(format!("{prefix}{role}"), version_of(&e.path()));
            }
        }
    }
    let floors_path = env
        .trust_dir()
        .join("tuf")
        .join(&p.gun)
        .join("versions.json");
    let floors: serde_json::Value = match std::fs::read(&floors_path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("versions.json is torn ({e})"))
        }
        Err(_) => serde_json::json!({}),
    };
    for (role, version) in &versions {
        // The root's floor is its own version (the loader takes it from the file).
        let floor = match role.as_str() {
            "root" => continue,
            "timestamp" | "snapshot" => floors[role].as_u64(),
            _ => floors["targets"][role].as_u64(),
        }
        .unwrap_or(0);
        assert!(
            floor >= *version,
            "{role}.json is version {version} but its floor is {floor}: a crash lowered the rollback floor"
        );
    }
    versions
}

/// Sets the flag when dropped, so a failing assertion still stops the publisher thread (else
/// the scope would wait for it forever).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Keep putting new approvals as the owner until `stop`; returns every content published.
fn publisher(p: &Published, stop: &AtomicBool) -> Vec<Vec<u8>> {
    let mut published = vec![APPROVAL.to_vec()];
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let content = format!("{{\"status\":\"approved\",\"round\":{n}}}").into_bytes();
        ok(p.put(&content), "publisher put");
        published.push(content);
    }
    published
}

/// Scenario 34: `get` killed with SIGKILL at random points (many of them inside `persist`) while
/// the owner keeps publishing. After every kill the cache files each parse and the floors are
/// never below a cached file's version; a final `get` succeeds with the latest content.
#[test]
fn gets_killed_at_random_points_while_persisting_never_tear_a_file_or_lower_a_floor() {
    let p = published("crash-persist");
    let get = || {
        let mut cmd = spawnable(&p.reader);
        cmd.args(p.get_args());
        cmd
    };
    // How long one get takes here, so the kills spread over the whole run, persist included.
    let started = Instant::now();
    for _ in 0..3 {
        assert!(get().status().unwrap().success());
    }
    let typical = started.elapsed() / 3;
    let stop = AtomicBool::new(false);
    let (killed_mid_run, contents) = std::thread::scope(|scope| {
        let publishing = scope.spawn(|| publisher(&p, &stop));
        let stop_on_exit = StopOnDrop(&stop);
        let mut rng = Rng::seeded();
        let mut killed_mid_run = 0;
        let typical = u64::try_from(typical.as_micros()).expect("a run under 500,000 years");
        for run in 0..150 {
            // Every other kill lands near the end of the run, where persist writes the cache.
            let delay = if run % 2 == 0 {
                rng.below(typical * 6 / 5)
            } else {
                typical * 7 / 10 + rng.below(typical * 4 / 10)
            };
            let mut child = get().spawn().unwrap();
            std::thread::sleep(Duration::from_micros(delay));
            if child.try_wait().unwrap().is_none() {
                killed_mid_run += 1;
            }
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            assert_cache_consistent(&p, &p.reader);
        }
        drop(stop_on_exit);
        (killed_mid_run, publishing.join().unwrap())
    });
    eprintln!("{killed_mid_run} of 150 gets killed before they finished (typical run {typical:?})");
    assert!(
        killed_mid_run >= 50,
        "most runs were killed before they finished ({killed_mid_run} of 150)"
    );
    assert!(
        contents.len() > 1,
        "the owner published while the reader was killed"
    );
    let last = ok(get().output().unwrap(), "final get");
    assert_eq!(&last.stdout, contents.last().unwrap(), "the latest content");
    assert_cache_consistent(&p, &p.reader);
}

/// A server that accepts connections and never answers: a run talking to it holds the cache
/// lock until it is killed.
fn silent_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    url
}

fn lock_is_held(lock: &Path) -> bool {
    lock.exists()
        && !Command::new("flock")
            .args(["-n", "-E", "75"])
            .arg(lock)
            .arg("true")
            .status()
            .unwrap()
            .success()
}

/// Scenario 33: the per-GUN lock is an OS file lock, so a holder killed with SIGKILL leaves no
/// stale lock: the next run proceeds at once (not after the 60 s lock timeout).
#[test]
fn a_lock_holder_killed_with_sigkill_does_not_block_the_next_run() {
    let p = published("crash-lock");
    let silent = silent_server();
    let lock = p.metadata_dir(&p.reader).join(".lock");
    let mut holder = spawnable(&p.reader)
        .args(["--server", &silent, "get", &p.image, "approvals"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(8);
    while !lock_is_held(&lock) {
        assert!(
            holder.try_wait().unwrap().is_none(),
            "the holder ended before it took the lock"
        );
        assert!(Instant::now() < deadline, "the holder never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    holder.kill().unwrap(); // SIGKILL
    holder.wait().unwrap();
    let started = Instant::now();
    let got = ok(p.get(&p.reader, &[]), "get after the holder was killed");
    assert_eq!(got.stdout, APPROVAL);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the next run did not wait for the lock: {:?}",
        started.elapsed()
    );
}

/// Scenario 32: `put`s by the owner while the owner (same cache, same lock) and another reader
/// `get` in parallel: every get exits 0 with exactly one of the published contents, and no cache
/// file is ever torn.
#[test]
fn parallel_gets_and_puts_on_one_repository_read_only_whole_published_contents() {
    let p = published("parallel");
    let stop = AtomicBool::new(false);
    let seen: Mutex<Vec<(i32, Vec<u8>, String)>> = Mutex::new(Vec::new());
    let contents = std::thread::scope(|scope| {
        let stop_on_exit = StopOnDrop(&stop);
        for env in [&p.owner, &p.reader] {
            let (stop, seen, p) = (&stop, &seen, &p);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let out = p.get(env, &[]);
                    seen.lock()
                        .unwrap()
                        .push((code(&out), out.stdout.clone(), stderr(&out)));
                }
            });
        }
        let mut published = vec![APPROVAL.to_vec()];
        for n in 1..=6 {
            let content = format!("{{\"status\":\"approved\",\"round\":{n}}}").into_bytes();
            ok(p.put(&content), "put");
            published.push(content);
        }
        drop(stop_on_exit);
        published
    });
    let seen = seen.into_inner().unwrap();
    assert!(
        seen.len() >= 4,
        "gets ran alongside the puts ({})",
        seen.len()
    );
    for (rc, out, err) in &seen {
        assert_eq!(*rc, 0, "a get during puts: {err}");
        assert!(
            contents.contains(out),
            "a get returned bytes that were never published: {:?}",
            String::from_utf8_lossy(out)
        );
    }
    for env in [&p.owner, &p.reader] {
        assert_cache_consistent(&p, env);
    }
    let last = ok(p.get(&p.reader, &[]), "final get");
    assert_eq!(&last.stdout, contents.last().unwrap());
}
