//! Scenario 18: versions at the integer edges. The Go server keeps versions as Go `int`; the
//! audits' "fast-forward to i32::MAX" would wrap a 32-bit counter. The owner's own targets key
//! signs a targets file at the edge (through the library, as a compromised or buggy writer
//! would), then the real binary publishes on top of it.

use chrono::Utc;
use manifesto::config::Settings;
use manifesto::keys::KeyStore;
use manifesto::keys::passphrase::Passphrases;
use manifesto::keys::signing::role_signers;
use manifesto::notary::publish::{UpdatePart, publish_with_retry};
use manifesto::registry::ImageRef;
use manifesto::tuf::build;
use manifesto::tuf::metadata::Version;
use manifesto::tuf::names::RoleName;
use manifesto::tuf::sign::{Signer, sign_file};
use zeroize::Zeroizing;

use crate::go_notary::GoNotary;
use crate::harness::{NoTerminal, TARGETS_PASS, code, ok, stderr, stdout};
use crate::scene::{Published, published};

/// Sign and publish the owner's targets, unchanged but at `version`.
async fn publish_targets_at(p: &Published, version: u64) {
    let settings = Settings::resolve(
        Some(p.owner.trust_dir()),
        Some(p.stack.notary_url.clone()),
        None,
    )
    .unwrap();
    let repo = ImageRef::parse(&p.image).unwrap().repository_ref();
    let store = KeyStore::new(p.owner.trust_dir());
    let mut passphrases = Passphrases::new(
        |name| {
            (name == "MANIFESTO_TARGETS_PASSPHRASE").then(|| Zeroizing::new(TARGETS_PASS.into()))
        },
        NoTerminal,
    );
    let targets = RoleName::targets();
    publish_with_retry::<_, manifesto::Error>(&settings, &repo, async |updater| {
        let state = updater.state();
        let current = state.targets_role(&targets).map(|t| t.get().clone());
        let mut next = build::next_targets(current.as_ref(), Utc::now(), |_| {})?;
        next.version = Version::new(version).expect("a version the client accepts");
        let signers = role_signers(state, &targets, &store, &mut passphrases)?;
        let signers: Vec<&dyn Signer> = signers.iter().map(|s| s as &dyn Signer).collect();
        Ok(Some(vec![UpdatePart {
            role: targets.clone(),
            bytes: sign_file(&next, &signers)?,
        }]))
    })
    .await
    .expect("the crafted targets is published");
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
        assert_eq!(go.served_version(&p.gun, "targets"), i32::MAX as u64);
        let content = b"{\"status\":\"approved\",\"after\":\"i32::MAX\"}";
        ok(p.put(content), "put on top of i32::MAX");
        assert_eq!(
            go.served_version(&p.gun, "targets"),
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
        let out = p.put(b"{\"status\":\"approved\",\"after\":\"ceiling\"}");
        assert_eq!(code(&out), 3, "{}", stderr(&out));
        assert!(
            stderr(&out).contains("highest a client accepts"),
            "{}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty(), "{}", stdout(&out));
        assert_eq!(
            go.served_version(&p.gun, "targets"),
            ceiling,
            "never wrapped"
        );
        // Readers still verify the repository at the ceiling.
        ok(p.get(&p.reader, &[]), "get at the ceiling");
    })
    .await
    .unwrap();
}
