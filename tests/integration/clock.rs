//! The client's clock, faked with libfaketime (Debian package `faketime`, installed by
//! `scripts/stack install`): freeze (scenario 9) and a clock stepped back (scenario 13), and the
//! helper the expiry and max-age tests use instead of publishing short lifetimes and sleeping.

use std::path::PathBuf;

use crate::harness::{code, ok, stderr, stdout};
use crate::scene::{APPROVAL, Published, published, snapshot_dir};

/// `libfaketime.so.1`, wherever the distribution put it.
pub fn libfaketime() -> PathBuf {
    let candidates = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .chain([PathBuf::from("/usr/lib/faketime/libfaketime.so.1")]);
    for path in candidates {
        if path.is_file() {
            return path;
        }
    }
    panic!(
        "libfaketime.so.1 not found under /usr/lib: run scripts/stack install (it installs the faketime package)"
    );
}

/// Run `cmd` with its wall clock moved by `offset` (libfaketime syntax: "+20d", "-600", in
/// seconds without a suffix). Monotonic clocks stay real so tokio timers and deadlines behave.
pub fn at_clock<'a>(cmd: &'a mut assert_cmd::Command, offset: &str) -> &'a mut assert_cmd::Command {
    cmd.env("LD_PRELOAD", libfaketime())
        .env("FAKETIME", offset)
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
}

fn get_at(p: &Published, offset: Option<&str>) -> std::process::Output {
    let mut cmd = p.reader.cmd();
    cmd.args(p.get_args());
    if let Some(offset) = offset {
        at_clock(&mut cmd, offset);
    }
    cmd.output().unwrap()
}

#[test]
fn the_faked_clock_reaches_the_binary() {
    // Guards the other tests: were libfaketime not applied, they would test the real clock.
    let p = published("clock-probe");
    let out = ok(get_at(&p, Some("+2d")), "get two days on");
    assert_eq!(out.stdout, APPROVAL);
    let clock = p
        .reader
        .trust_dir()
        .join("tuf")
        .join(&p.gun)
        .join("clock.json");
    let seen: serde_json::Value = serde_json::from_slice(&std::fs::read(clock).unwrap()).unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(seen["verified_at"].as_str().unwrap()).unwrap();
    assert!(
        at > chrono::Utc::now() + chrono::Duration::days(1),
        "the binary saw the faked time: {at}"
    );
}

/// Scenario 9 (freeze): the server keeps serving the metadata the client trusts, unchanged, past
/// the timestamp's expiry (Notary signs it for 14 days). Twenty days on it is expired: exit 4,
/// nothing printed, the cache as it was.
#[test]
fn metadata_replayed_past_its_expiry_is_a_freeze_refused_exit_4() {
    let p = published("clock-freeze");
    let before = snapshot_dir(&p.reader.trust_dir());
    let out = get_at(&p, Some("+20d"));
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    assert!(stderr(&out).contains("expired"), "{}", stderr(&out));
    assert!(
        snapshot_dir(&p.reader.trust_dir()) == before,
        "cache untouched"
    );
}

/// Scenario 13: a clock stepped back behind the last verified update would make expired
/// metadata look fresh. Two days back is refused with exit 4 naming the clock and the way out;
/// ten minutes back (an NTP correction) is within the one-hour tolerance.
#[test]
fn a_clock_stepped_back_behind_the_last_update_is_refused_exit_4_and_small_steps_are_tolerated() {
    let p = published("clock-back");
    ok(get_at(&p, Some("+172800")), "get two days on");
    let before = snapshot_dir(&p.reader.trust_dir());
    let out = get_at(&p, None);
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("clock") && err.contains("behind"), "{err}");
    assert!(err.contains("clock.json"), "names the way out: {err}");
    assert!(
        snapshot_dir(&p.reader.trust_dir()) == before,
        "cache untouched"
    );
    // Ten minutes behind the last update: tolerated.
    let got = ok(get_at(&p, Some("+172200")), "get ten minutes behind");
    assert_eq!(got.stdout, APPROVAL);
}
