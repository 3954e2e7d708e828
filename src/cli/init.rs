//! `manifesto init REPO`: create the repository's trust data on the Notary server.
//!
//! The root key is reused when the store has one (as the Go client does), else generated; a new
//! targets key is made for the repository. Both are stored encrypted before anything is sent.

use chrono::Utc;

use super::Context;
use crate::error::Error;
use crate::keys::certificate::root_certificate_key;
use crate::keys::passphrase::Passphrases;
use crate::keys::signer::{KeyAlgorithm, SigningKey};
use crate::keys::store::KeyStore;
use crate::keys::signing::RoleSigner;
use crate::notary::init::{NewRepositoryKeys, initialise};
use crate::registry::reference::RepositoryRef;
use crate::tuf::names::RoleName;

pub async fn run(ctx: &Context, repo: &str) -> Result<(), Error> {
    let repo = RepositoryRef::parse(repo)?;
    let gun = repo.gun();
    let store = KeyStore::new(&ctx.settings.trust_dir);
    let mut passphrases = Passphrases::from_environment();
    let root_role = RoleName::root();
    let root_key = match store.find(&root_role, None)?.first() {
        Some(existing) => store.load(&existing.key_id, &mut passphrases)?,
        None => {
            let key = SigningKey::generate(KeyAlgorithm::Ecdsa)?;
            let pass = passphrases.for_new_key(&root_role, "the new root key")?;
            store.add(&key, &root_role, None, &pass)?;
            ctx.output
                .note(format!("generated root key {}", key.key_id()));
            key
        }
    };
    let targets_role = RoleName::targets();
    let targets_key = SigningKey::generate(KeyAlgorithm::Ecdsa)?;
    let pass = passphrases.for_new_key(&targets_role, &format!("the targets key of {gun}"))?;
    store.add(&targets_key, &targets_role, Some(&gun), &pass)?;
    let now = Utc::now();
    let certificate = root_certificate_key(&root_key, &gun, now)?;
    let root_signer = RoleSigner {
        listed: certificate.key_id(),
        key: root_key,
    };
    let targets_public = targets_key.public_key().clone();
    let targets_signer = RoleSigner {
        listed: targets_key.key_id().clone(),
        key: targets_key,
    };
    let report = initialise(
        &ctx.settings,
        &repo,
        NewRepositoryKeys {
            root: &root_signer,
            root_certificate: certificate,
            targets: &targets_signer,
            targets_public,
        },
        now,
    )
    .await?;
    ctx.output.emit(&report, |w| {
        writeln!(w, "initialised {} on {}", report.gun, report.server)?;
        writeln!(
            w,
            "  root       {} (certificate, CN={})",
            report.root_key_id, report.gun
        )?;
        writeln!(w, "  targets    {}", report.targets_key_id)?;
        writeln!(
            w,
            "  snapshot   {} (held by the server)",
            report.snapshot_key_id
        )?;
        writeln!(
            w,
            "  timestamp  {} (held by the server)",
            report.timestamp_key_id
        )
    })
}
