//! Attacks on the sharded layout (docs/layout.md) against the real servers and binary. A
//! delegate holds only its own key, and signs through the library what the CLI and the Go
//! client refuse to make.

use chrono::Utc;
use manifesto::keys::signing::role_signers;
use manifesto::manifesto::shard;
use manifesto::notary::publish::{UpdatePart, publish_with_retry};
use manifesto::registry::Digest;
use manifesto::tuf::build;
use manifesto::tuf::names::RoleName;
use manifesto::tuf::sign::{Signer, sign_file};

use crate::harness::{code, ok, stderr, stdout, test_passphrases};
use crate::scene::{Published, published, snapshot_dir};

const QA_APPROVAL: &[u8] = b"{\"status\":\"approved\",\"by\":\"qa\"}";

fn image_digest(p: &Published) -> Digest {
    let out = ok(
        p.owner
            .cmd()
            .args(["resolve", &p.image, "-o", "json"])
            .output()
            .unwrap(),
        "resolve",
    );
    let resolved: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    Digest::parse(resolved["image_digest"].as_str().unwrap()).unwrap()
}

/// `targets/qa`, delegated `approvals` only, whose key the owner's trust dir holds, puts one
/// approval so that its own file and its bin of the image exist.
fn qa_signs_an_approval(p: &Published) {
    let pem = p.owner.home.path().join("qa.pem");
    let server = p.stack.notary_url.as_str();
    ok(
        p.owner
            .signer_cmd()
            .args(["key", "generate", "--role", "targets/qa", "--public-out"])
            .arg(&pem)
            .output()
            .unwrap(),
        "key generate",
    );
    ok(
        p.owner
            .signer_cmd()
            .args(["--server", server, "delegate", "add", &p.gun, "qa", "--key"])
            .arg(&pem)
            .args(["--type", "approvals"])
            .output()
            .unwrap(),
        "delegate add",
    );
    ok(
        p.owner
            .signer_cmd()
            .args(["--server", server, "put", "--role", "targets/qa"])
            .args([&p.image, "approvals", "-"])
            .write_stdin(QA_APPROVAL.to_vec())
            .output()
            .unwrap(),
        "put as qa",
    );
}

/// A published image whose approval qa has signed too, and the image's digest (set up on a
/// blocking thread: the CLI runs synchronously).
async fn qa_scene(label: &'static str) -> (Published, Digest) {
    tokio::task::spawn_blocking(move || {
        let p = published(label);
        qa_signs_an_approval(&p);
        let digest = image_digest(&p);
        (p, digest)
    })
    .await
    .unwrap()
}

/// `get IMAGE approvals --signed-by targets/qa` as `env`.
fn qa_get(env: &crate::harness::TestEnv, p: &Published, image: &str) -> std::process::Output {
    env.cmd()
        .args(["--server", &p.stack.notary_url, "get", image, "approvals"])
        .args(["--signed-by", "targets/qa"])
        .output()
        .unwrap()
}

/// The reader gets qa's approval, verifies and remembers qa's bin; returns its cache directory.
fn reader_remembers_qa(p: &Published) -> std::path::PathBuf {
    let got = ok(
        qa_get(&p.reader, p, &p.image),
        "qa's approval, verified and remembered",
    );
    assert_eq!(got.stdout, QA_APPROVAL);
    let cache = p.reader.trust_dir().join("tuf").join(&p.gun);
    assert!(
        snapshot_dir(&cache).keys().any(|k| k.ends_with(".memo")),
        "the reader remembers qa's bin"
    );
    cache
}

/// The files of a trust cache, but for `clock.json` (a refused read may still note the time).
fn cache_files(cache: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = snapshot_dir(cache);
    files.retain(|k, _| !k.ends_with("clock.json"));
    files
}

/// `files` signed with qa's key from the owner's store, as parts of one update.
#[allow(clippy::result_large_err)] // the library's error, as the publish closure returns it
fn signed_by_qa<const N: usize>(
    state: &manifesto::tuf::trusted::TrustedState,
    store: &manifesto::keys::KeyStore,
    passphrases: &mut manifesto::keys::Passphrases,
    files: [(RoleName, manifesto::tuf::metadata::Targets); N],
) -> Result<Vec<UpdatePart>, manifesto::Error> {
    let qa = RoleName::parse("targets/qa").unwrap();
    let signers = role_signers(state, &qa, store, passphrases)?;
    let signers: Vec<&dyn Signer> = signers.iter().map(|s| s as &dyn Signer).collect();
    files
        .into_iter()
        .map(|(role, file)| {
            Ok(UpdatePart {
                role,
                bytes: sign_file(&file, &signers)?,
            })
        })
        .collect()
}

/// As qa: its bin of the image's label now also claims `scan/sha256:<label>` (qa's own file
/// re-delegates it so), and signs a `scan` for the image whose bytes are qa's approval, a blob
/// the registry holds. Returns what the server answered.
async fn qa_widens_its_bin_to_scan(p: &Published, digest: &Digest) -> Result<(), String> {
    let (settings, repo, store) = p.library();
    let mut passphrases = test_passphrases();
    let qa = RoleName::parse("targets/qa").unwrap();
    let bin = shard::bin_for(&qa, digest);
    let label = shard::label(digest).to_owned();
    let scan = format!("scan/{digest}");
    let approval = format!("approvals/{digest}");
    publish_with_retry::<_, manifesto::Error>(&settings, &repo, async |updater| {
        updater
            .load_chain(&bin)
            .await
            .map_err(manifesto::Error::Update)?;
        let state = updater.state();
        let own = state.targets_role(&qa).expect("qa's file").get().clone();
        let held = state.targets_role(&bin).expect("qa's bin").get().clone();
        let own = build::next_targets(Some(&own), Utc::now(), |t| {
            let entry = t
                .delegations
                .roles
                .iter_mut()
                .find(|d| d.name == bin)
                .expect("qa delegates its bin");
            entry.paths.push(format!("scan/sha256:{label}"));
            entry.paths.sort();
        })?;
        let held = build::next_targets(Some(&held), Utc::now(), |t| {
            let meta = t.targets[&approval].clone();
            t.targets.insert(scan.clone(), meta);
        })?;
        signed_by_qa(
            state,
            &store,
            &mut passphrases,
            [(qa.clone(), own), (bin.clone(), held)],
        )
        .map(Some)
    })
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// A delegate may sign `approvals` only. It re-delegates its own bin with `scan/` paths and
/// signs a scan there with its own key (the server stores both files). A reader descends into a
/// delegation only for names inside the paths its parent grants it (narrowed at every level),
/// so the bin's wider paths are never consulted: the scan is not signed for it (exit 9, nothing
/// on stdout, the cache as it was, cold and from the bin's memo), the delegate's approval still
/// is, and `list` shows no scan. (With path checks disabled, `list` shows qa's scan.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delegate_widening_its_bin_to_another_type_signs_nothing_there_exit_9() {
    let (p, digest) = qa_scene("bin-widen").await;
    qa_widens_its_bin_to_scan(&p, &digest)
        .await
        .expect("the server stores what the delegate's own key signs");
    tokio::task::spawn_blocking(move || {
        let server = p.stack.notary_url.as_str();
        // Warm the reader on the new files, then play the read.
        let listed = ok(
            p.reader
                .cmd()
                .args(["--server", server, "-o", "json", "list", &p.image])
                .output()
                .unwrap(),
            "list",
        );
        let rows = stdout(&listed);
        assert!(!rows.contains("\"scan\""), "{rows}");
        assert!(rows.contains("\"approvals\""), "{rows}");
        let cache = p.reader.trust_dir().join("tuf").join(&p.gun);
        let before = cache_files(&cache);
        for _ in 0..2 {
            let out = p
                .reader
                .cmd()
                .args(["--server", server, "get", &p.image, "scan"])
                .output()
                .unwrap();
            assert_eq!(code(&out), 9, "{}", stderr(&out));
            assert!(stdout(&out).is_empty(), "{}", stdout(&out));
        }
        assert_eq!(
            before,
            cache_files(&cache),
            "a refused read leaves the trust cache as it was"
        );
        let got = ok(
            p.reader
                .cmd()
                .args(["--server", server, "get", &p.image, "approvals"])
                .args(["--signed-by", "targets/qa"])
                .output()
                .unwrap(),
            "qa's approval",
        );
        assert_eq!(got.stdout, QA_APPROVAL);
    })
    .await
    .unwrap();
}

/// A reader has verified and remembered qa's bin of the image. The owner rotates qa's key and
/// the new key signs another image; the old bin stays byte-identical on the server. The warm
/// reader answers exactly as a reader with no cache (the old approval is not qa's any more),
/// prints nothing, and keeps its cache as it was. (qa's re-signed file no longer reaches the old
/// bin, so this shows a warm cache adds nothing after a re-key; a bin delegated to new keys
/// while its bytes stay the same, where the memo itself must refuse, is played in
/// `tuf::remembered_tests`.)
#[test]
fn after_a_delegate_key_rotation_a_warm_reader_answers_as_one_with_no_cache() {
    let p = published("memo-rekey");
    qa_signs_an_approval(&p);
    let server = p.stack.notary_url.as_str();
    let cache = reader_remembers_qa(&p);

    let go = crate::go_notary::GoNotary::new(p.stack);
    let bin = shard::bin_for(&RoleName::parse("targets/qa").unwrap(), &image_digest(&p));
    let bin_before = go.fetch_raw(&p.gun, bin.as_str());
    let new_pem = p.owner.home.path().join("qa-new.pem");
    ok(
        p.owner
            .signer_cmd()
            .args(["key", "generate", "--role", "targets/qa", "--public-out"])
            .arg(&new_pem)
            .output()
            .unwrap(),
        "a new qa key",
    );
    ok(
        p.owner
            .signer_cmd()
            .args([
                "--server", server, "delegate", "rotate", &p.gun, "qa", "--key",
            ])
            .arg(&new_pem)
            .output()
            .unwrap(),
        "delegate rotate",
    );
    // Another image in another bin (an image with the same label would change the old bin).
    let repo = p.gun.split_once('/').unwrap().1;
    let label = shard::label(&image_digest(&p)).to_owned();
    let other = (2..)
        .map(|n| format!("v{n}"))
        .find(|tag| {
            let digest = Digest::parse(&p.stack.push_image(repo, tag)).unwrap();
            shard::label(&digest) != label
        })
        .map(|tag| format!("{}:{tag}", p.gun))
        .unwrap();
    ok(
        p.owner
            .signer_cmd()
            .args(["--server", server, "put", "--role", "targets/qa"])
            .args([&other, "approvals", "-"])
            .write_stdin(QA_APPROVAL.to_vec())
            .output()
            .unwrap(),
        "the new key signs another image",
    );

    assert_eq!(
        go.fetch_raw(&p.gun, bin.as_str()),
        bin_before,
        "the remembered bin is byte-identical on the server"
    );
    let fresh = crate::harness::TestEnv::new();
    let expected = qa_get(&fresh, &p, &p.image);
    assert_ne!(code(&expected), 0, "{}", stdout(&expected));
    let before = cache_files(&cache);
    let out = qa_get(&p.reader, &p, &p.image);
    assert_eq!(code(&out), code(&expected), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert_eq!(
        before,
        cache_files(&cache),
        "a refused read leaves the trust cache as it was"
    );
    // The new key's approval of the other image is qa's.
    let got = ok(
        qa_get(&p.reader, &p, &other),
        "qa's approval under the new key",
    );
    assert_eq!(got.stdout, QA_APPROVAL);
}

/// As qa: its own file now delegates its bin of the image to a key nobody holds, and the bin
/// itself is left as it is (still signed by qa's key, byte for byte).
async fn qa_rekeys_its_bin_leaving_the_bin_as_it_is(p: &Published, digest: &Digest) {
    let (settings, repo, store) = p.library();
    let mut passphrases = test_passphrases();
    let qa = RoleName::parse("targets/qa").unwrap();
    let bin = shard::bin_for(&qa, digest);
    let stranger =
        manifesto::keys::SigningKey::generate(manifesto::keys::KeyAlgorithm::Ecdsa).unwrap();
    publish_with_retry::<_, manifesto::Error>(&settings, &repo, async |updater| {
        updater
            .load_chain(&bin)
            .await
            .map_err(manifesto::Error::Update)?;
        let state = updater.state();
        let own = state.targets_role(&qa).expect("qa's file").get().clone();
        let own = build::next_targets(Some(&own), Utc::now(), |t| {
            t.delegations
                .keys
                .insert(stranger.key_id().clone(), stranger.public_key().clone());
            let entry = t
                .delegations
                .roles
                .iter_mut()
                .find(|d| d.name == bin)
                .expect("qa delegates its bin");
            entry.keyids = vec![stranger.key_id().clone()];
        })?;
        signed_by_qa(state, &store, &mut passphrases, [(qa.clone(), own)]).map(Some)
    })
    .await
    .expect("the server stores what qa's own key signs");
}

/// A reader has verified qa's bin of the image and remembers it. qa's own file then delegates
/// that bin to another key while the bin stays byte-identical: the memo was made under the old
/// authority, so the warm reader must verify the bin again and refuse it, exactly as a reader
/// with no cache does (nothing on stdout, its cache as it was). With the memo's authority check
/// removed, the warm reader would answer qa's approval from the memo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bin_delegated_to_another_key_is_not_taken_from_its_memo() {
    let (p, digest) = qa_scene("memo-authority").await;
    let p = tokio::task::spawn_blocking(move || {
        reader_remembers_qa(&p);
        p
    })
    .await
    .unwrap();
    let go = crate::go_notary::GoNotary::new(p.stack);
    let qa = RoleName::parse("targets/qa").unwrap();
    let bin = shard::bin_for(&qa, &digest);
    let bin_before = go.fetch_raw(&p.gun, bin.as_str());
    qa_rekeys_its_bin_leaving_the_bin_as_it_is(&p, &digest).await;
    tokio::task::spawn_blocking(move || {
        assert_eq!(
            go.fetch_raw(&p.gun, bin.as_str()),
            bin_before,
            "the remembered bin is byte-identical on the server"
        );
        let fresh = crate::harness::TestEnv::new();
        let expected = qa_get(&fresh, &p, &p.image);
        assert_ne!(code(&expected), 0, "{}", stdout(&expected));
        let cache = p.reader.trust_dir().join("tuf").join(&p.gun);
        // The first read after the change takes the new qa file; the second reads warm.
        for _ in 0..2 {
            let out = qa_get(&p.reader, &p, &p.image);
            assert_eq!(code(&out), code(&expected), "{}", stderr(&out));
            assert!(stdout(&out).is_empty(), "{}", stdout(&out));
        }
        let before = cache_files(&cache);
        let out = qa_get(&p.reader, &p, &p.image);
        assert_eq!(code(&out), code(&expected), "{}", stderr(&out));
        assert_eq!(
            before,
            cache_files(&cache),
            "a refused read leaves the trust cache as it was"
        );
    })
    .await
    .unwrap();
}

/// A local attacker rewrites, in place and at the same length, the reader's cached copy of
/// qa's bin so that qa's approval names another blob (`rejected` for `approved`: same length,
/// other hashes). A warm read checks every piece of the cached file it reads against its memo,
/// so it refuses the changed piece, fetches the bin again and answers the approval qa signed;
/// the cached copy is the server's again afterwards. Without the piece check the reader would
/// look for the attacker's blob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_bin_rewritten_in_place_is_fetched_again_and_the_signed_approval_answers() {
    use base64::Engine as _;
    use std::os::unix::fs::FileExt as _;
    let (p, digest) = qa_scene("memo-in-place").await;
    tokio::task::spawn_blocking(move || {
        let cache = reader_remembers_qa(&p);
        let qa = RoleName::parse("targets/qa").unwrap();
        let bin = shard::bin_for(&qa, &digest);
        let path = cache.join("metadata").join(format!("{bin}.json"));
        let signed = std::fs::read(&path).unwrap();
        let evil: &[u8] = b"{\"status\":\"rejected\",\"by\":\"qa\"}";
        assert_eq!(evil.len(), QA_APPROVAL.len());
        let b64 = |alg, bytes: &[u8]| {
            base64::engine::general_purpose::STANDARD.encode(ring::digest::digest(alg, bytes))
        };
        let mut changed = String::from_utf8(signed.clone()).unwrap();
        for alg in [&ring::digest::SHA256, &ring::digest::SHA512] {
            let (good, bad) = (b64(alg, QA_APPROVAL), b64(alg, evil));
            assert!(changed.contains(&good), "the bin lists qa's approval");
            changed = changed.replace(&good, &bad);
        }
        assert_eq!(changed.len(), signed.len());
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(changed.as_bytes(), 0).unwrap();
        drop(file);

        let got = ok(
            qa_get(&p.reader, &p, &p.image),
            "the warm read after the rewrite",
        );
        assert_eq!(got.stdout, QA_APPROVAL, "the approval qa signed");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            signed,
            "the cached copy is the server's again"
        );
        let again = ok(qa_get(&p.reader, &p, &p.image), "and warm once more");
        assert_eq!(again.stdout, QA_APPROVAL);
    })
    .await
    .unwrap();
}
