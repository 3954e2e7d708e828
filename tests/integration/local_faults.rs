//! Local faults through the real binary and the real servers: where `get -O` writes (a FIFO or a
//! device is written into, never replaced), a damaged trust cache (scenario 28: a damaged root is
//! local state, exit 8, other damaged roles are fetched again), and an oversized `put`
//! (scenario 29: refused with exit 2 before any upload).

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use crate::go_notary::GoNotary;
use crate::harness::{code, ok, stderr, stdout};
use crate::scene::{APPROVAL, published, snapshot_dir};

fn assert_refused(out: &std::process::Output, expected: i32) -> String {
    assert_eq!(code(out), expected, "exit code; stderr: {}", stderr(out));
    assert!(out.stdout.is_empty(), "nothing on stdout: {}", stdout(out));
    stderr(out)
}

fn mkfifo(path: &Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success(), "mkfifo {}", path.display());
}

#[test]
fn get_into_a_fifo_writes_through_it_and_leaves_the_fifo_in_place() {
    let p = published("out-fifo");
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("approvals.fifo");
    mkfifo(&fifo);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(&fifo).unwrap())
    };
    let out = ok(
        p.get(&p.reader, &["-O", fifo.to_str().unwrap()]),
        "get -O fifo",
    );
    assert_eq!(
        reader.join().unwrap(),
        APPROVAL,
        "the FIFO reader got the bytes"
    );
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo(),
        "the FIFO was not replaced by a regular file"
    );
    assert!(stdout(&out).contains("wrote approvals"), "{}", stdout(&out));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file next to the FIFO");
}

#[test]
fn get_into_a_character_device_writes_into_it_and_never_replaces_dev_null() {
    let p = published("out-chardev");
    let is_null_device = || {
        std::fs::symlink_metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    };
    assert!(is_null_device());
    // Through a symlink first: if the node were replaced, only the link in the temp dir would go.
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("sink");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    ok(
        p.get(&p.reader, &["-O", link.to_str().unwrap()]),
        "get -O link-to-dev-null",
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the symlink was written through, not replaced"
    );
    assert!(is_null_device(), "/dev/null is still a character device");
    // Proven not to replace a device: now the device itself.
    ok(p.get(&p.reader, &["-O", "/dev/null"]), "get -O /dev/null");
    assert!(is_null_device(), "/dev/null is still a character device");
    let temp_in_dev = std::fs::read_dir("/dev")
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with(".tmp"));
    assert!(!temp_in_dev, "no temporary file was made in /dev");
}

#[test]
fn get_into_a_directory_is_refused_with_exit_2_before_anything_is_fetched() {
    let p = published("out-dir");
    let target = tempfile::tempdir().unwrap();
    let cache_before = snapshot_dir(&p.reader.trust_dir());
    let out = p.get(&p.reader, &["-O", target.path().to_str().unwrap()]);
    let err = assert_refused(&out, 2);
    assert!(err.contains("directory"), "{err}");
    assert_eq!(std::fs::read_dir(target.path()).unwrap().count(), 0);
    assert!(snapshot_dir(&p.reader.trust_dir()) == cache_before);
}

#[test]
fn get_into_a_regular_file_still_replaces_it_atomically() {
    let p = published("out-file");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("approvals.json");
    std::fs::write(&file, b"old contents that are longer than the new ones").unwrap();
    ok(
        p.get(&p.reader, &["-O", file.to_str().unwrap()]),
        "get -O file",
    );
    assert_eq!(std::fs::read(&file).unwrap(), APPROVAL);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );
}

/// Scenario 28: a cached root cut short (a crash of some other tool, a bad disk) cannot be
/// parsed: that is the local file, not the server, so exit 8 naming the file and the way back.
#[test]
fn a_truncated_cached_root_is_local_state_exit_8_naming_the_file_and_the_way_back() {
    let p = published("corrupt-root");
    let root = p.metadata_dir(&p.reader).join("root.json");
    let bytes = std::fs::read(&root).unwrap();
    std::fs::write(&root, &bytes[..bytes.len() / 2]).unwrap();
    let before = snapshot_dir(&p.reader.trust_dir());
    let err = assert_refused(&p.get(&p.reader, &[]), 8);
    assert!(
        err.contains(&root.display().to_string()),
        "names the file: {err}"
    );
    let gun_dir = p.reader.trust_dir().join("tuf").join(&p.gun);
    assert!(
        err.contains(&format!("remove {}", gun_dir.display())),
        "names the way back: {err}"
    );
    assert!(
        snapshot_dir(&p.reader.trust_dir()) == before,
        "cache untouched"
    );
    // The way back works: the server's root is trusted again on first use.
    std::fs::remove_dir_all(&gun_dir).unwrap();
    let again = ok(p.get(&p.reader, &[]), "get after removing the cache");
    assert_eq!(again.stdout, APPROVAL);
}

/// A cached root that parses but is another repository's root is not damage: it is not the root
/// this GUN trusts, so it stays a trust failure (exit 3).
#[test]
fn a_cached_root_that_parses_but_belongs_to_another_repository_is_untrusted_exit_3() {
    let p = published("foreign-root");
    let other = published("foreign-root-other");
    let foreign = std::fs::read(other.metadata_dir(&other.reader).join("root.json")).unwrap();
    std::fs::write(p.metadata_dir(&p.reader).join("root.json"), foreign).unwrap();
    let before = snapshot_dir(&p.reader.trust_dir());
    assert_refused(&p.get(&p.reader, &[]), 3);
    assert!(
        snapshot_dir(&p.reader.trust_dir()) == before,
        "cache untouched"
    );
}

/// Scenario 28: damaged cached timestamp, snapshot and targets are not trusted for anything; they
/// are fetched again, the get succeeds, and the cache is repaired with the server's files.
#[test]
fn damaged_cached_timestamp_snapshot_and_targets_are_refetched_and_repaired() {
    let p = published("corrupt-roles");
    let dir = p.metadata_dir(&p.reader);
    for role in ["timestamp", "snapshot", "targets"] {
        let path = dir.join(format!("{role}.json"));
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    }
    let got = ok(p.get(&p.reader, &[]), "get over a damaged cache");
    assert_eq!(got.stdout, APPROVAL);
    let go = GoNotary::new(p.stack);
    for role in ["timestamp", "snapshot", "targets"] {
        assert_eq!(
            std::fs::read(dir.join(format!("{role}.json"))).unwrap(),
            go.fetch_raw(&p.gun, role),
            "{role} repaired with the server's file"
        );
    }
}

#[test]
fn damaged_version_floors_are_local_state_exit_8_naming_the_file() {
    let p = published("corrupt-floors");
    let versions = p
        .reader
        .trust_dir()
        .join("tuf")
        .join(&p.gun)
        .join("versions.json");
    std::fs::write(&versions, b"{\"root\":1,\"timest").unwrap();
    let before = snapshot_dir(&p.reader.trust_dir());
    let err = assert_refused(&p.get(&p.reader, &[]), 8);
    assert!(err.contains(&versions.display().to_string()), "{err}");
    assert!(
        snapshot_dir(&p.reader.trust_dir()) == before,
        "cache untouched"
    );
}

/// Scenario 29: content beyond the documented cap (2 GiB) is refused with exit 2 before anything
/// is uploaded: no blob, no signed target, nothing new in the cache. A sparse file plays it.
#[test]
fn an_oversized_put_is_refused_with_exit_2_before_any_upload() {
    let p = published("oversized-put");
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("huge.bin");
    std::fs::File::create(&big)
        .unwrap()
        .set_len((2u64 << 30) + 1)
        .unwrap();
    let go = GoNotary::new(p.stack);
    let targets_before = go.fetch_raw(&p.gun, "targets");
    let cache_before = snapshot_dir(&p.owner.trust_dir());
    let out = p
        .owner
        .signer_cmd()
        .args(["--server", &p.stack.notary_url, "put", &p.image, "sbom"])
        .arg(&big)
        .output()
        .unwrap();
    let err = assert_refused(&out, 2);
    assert!(err.contains("2147483648"), "names the cap: {err}");
    assert_eq!(
        go.fetch_raw(&p.gun, "targets"),
        targets_before,
        "nothing signed"
    );
    assert!(
        snapshot_dir(&p.owner.trust_dir()) == cache_before,
        "cache untouched"
    );
}

/// Scenario 34's other half: the floors are derived on load from the cached files the root
/// still vouches for, so losing `versions.json` (a crash, an older manifesto, a cleanup script)
/// does not reopen rollback: a replayed older timestamp is still refused with exit 5.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_versions_json_the_cached_timestamp_still_sets_the_rollback_floor_exit_5() {
    let (p, old_timestamp) = tokio::task::spawn_blocking(|| {
        let p = published("floors-derived");
        let go = GoNotary::new(p.stack);
        let old = go.fetch_raw(&p.gun, "timestamp");
        ok(
            p.put(b"{\"status\":\"approved\",\"round\":2}"),
            "second put",
        );
        ok(
            p.get(&p.reader, &[]),
            "the reader trusts the newer timestamp",
        );
        std::fs::remove_file(
            p.reader
                .trust_dir()
                .join("tuf")
                .join(&p.gun)
                .join("versions.json"),
        )
        .unwrap();
        (p, old)
    })
    .await
    .unwrap();
    let old = std::sync::Arc::new(old_timestamp);
    let proxy = crate::hostile::tampering_proxy(&p.stack.notary_url, move |path, status, body| {
        if path.ends_with("/_trust/tuf/timestamp.json") {
            crate::hostile::Reply::Full(200, vec![], old.to_vec())
        } else {
            crate::hostile::Reply::Full(status, vec![], body)
        }
    })
    .await;
    tokio::task::spawn_blocking(move || {
        let before = snapshot_dir(&p.reader.trust_dir());
        let out = p
            .reader
            .cmd()
            .args(["--server", &proxy.url, "get", &p.image, "approvals"])
            .output()
            .unwrap();
        let err = assert_refused(&out, 5);
        assert!(err.contains("timestamp"), "{err}");
        assert!(
            snapshot_dir(&p.reader.trust_dir()) == before,
            "cache untouched"
        );
    })
    .await
    .unwrap();
}
