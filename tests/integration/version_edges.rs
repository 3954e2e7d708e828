//! Scenario 18: versions at the integer edges. The Go server keeps versions as Go `int`; the
//! audits' "fast-forward to i32::MAX" would wrap a 32-bit counter. The owner's own targets key
//! signs the bin that holds the image's entries at the edge (through the library, as a
//! compromised or buggy writer would), then the real binary publishes on top of it.

use chrono::Utc;
use manifesto::keys::signing::role_signers;
use manifesto::manifesto::shard;
use manifesto::notary::publish::{UpdatePart, publish_with_retry};
use manifesto::registry::Digest;
use manifesto::tuf::build;
use manifesto::tuf::metadata::Version;
use manifesto::tuf::names::RoleName;
use manifesto::tuf::sign::{Signer, sign_file};

use crate::go_notary::GoNotary;
use crate::harness::{code, ok, stderr, stdout, test_passphrases};
use crate::scene::{Published, published};

/// The owner's bin that holds the entries of the image of `p` (docs/layout.md).
fn owner_bin(p: &Published) -> RoleName {
    let out = p
        .owner
        .cmd()
        .args(["resolve", &p.image, "-o", "json"])
        .output()
        .unwrap();
    let resolved: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("resolve {}: {e}: {}", p.image, stderr(&out)));
    let digest = Digest::parse(resolved["image_digest"].as_str().unwrap()).unwrap();
    shard::bin_for(&RoleName::targets(), &digest)
}

/// Sign and publish the owner's bin of the image, unchanged but at `version`.
async fn publish_targets_at(p: &Published, version: u64) {
    let (settings, repo, store) = p.library();
    let mut passphrases = test_passphrases();
    let bin = owner_bin(p);
    publish_with_retry::<_, manifesto::Error>(&settings, &repo, async |updater| {
        updater
            .load_chain(&bin)
            .await
            .map_err(manifesto::Error::Update)?;
        let state = updater.state();
        let current = state.targets_role(&bin).map(|t| t.get().clone());
        let mut next = build::next_targets(current.as_ref(), Utc::now(), |_| {})?;
        next.version = Version::new(version).expect("a version the client accepts");
        // A bin is signed by the owner's targets keys, listed for it by its parent.
        let signers = role_signers(state, &bin, &store, &mut passphrases)?;
        let signers: Vec<&dyn Signer> = signers.iter().map(|s| s as &dyn Signer).collect();
        Ok(Some(vec![UpdatePart {
            role: bin.clone(),
            bytes: sign_file(&next, &signers)?,
        }]))
    })
    .await
    .expect("the crafted bin is published");
}

/// At i32::MAX the next publish is 2147483648: the client counts in u64 (never wraps to a
/// negative or to 0), the server stores it, and readers verify it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_on_a_targets_version_at_i32_max_signs_2147483648_without_wrapping() {
    let p = tokio::task::spawn_blocking(|| published("ver-i32max"))
        .await
        .unwrap();
    publish_targets_at(&p, i32::MAX as u64).await;
    let p = tokio::task::spawn_blocking(move || {
        let go = GoNotary::new(p.stack);
        let bin = owner_bin(&p);
        assert_eq!(go.served_version(&p.gun, bin.as_str()), i32::MAX as u64);
        let content = b"{\"status\":\"approved\",\"after\":\"i32::MAX\"}";
        ok(p.put(content), "put on top of i32::MAX");
        assert_eq!(
            go.served_version(&p.gun, bin.as_str()),
            i32::MAX as u64 + 1,
            "no wraparound"
        );
        let got = ok(p.get(&p.reader, &[]), "get at 2147483648");
        assert_eq!(got.stdout, content);
        p
    })
    .await
    .unwrap();
    drop(p);
}

/// At the client's own ceiling (2^53, `tuf::metadata::MAX_VERSION`: beyond it no honest history
/// exists) there is no next version. The publish fails at once with its own error (exit 3, not
/// "other writers kept changing it" after ten retries), prints nothing, signs nothing and never
/// wraps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_on_a_targets_version_at_the_client_ceiling_fails_exit_3_without_wrapping() {
    let p = tokio::task::spawn_blocking(|| published("ver-ceiling"))
        .await
        .unwrap();
    let ceiling = manifesto::tuf::metadata::MAX_VERSION;
    publish_targets_at(&p, ceiling).await;
    tokio::task::spawn_blocking(move || {
        let go = GoNotary::new(p.stack);
        let bin = owner_bin(&p);
        let out = p.put(b"{\"status\":\"approved\",\"after\":\"ceiling\"}");
        assert_eq!(code(&out), 3, "{}", stderr(&out));
        assert!(
            stderr(&out).contains("highest a client accepts"),
            "{}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty(), "{}", stdout(&out));
        assert_eq!(
            go.served_version(&p.gun, bin.as_str()),
            ceiling,
            "never wrapped"
        );
        // Readers still verify the repository at the ceiling.
        ok(p.get(&p.reader, &[]), "get at the ceiling");
    })
    .await
    .unwrap();
}
