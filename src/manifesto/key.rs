//! The key flows: generate, import and export signing keys of the trust dir's key store.
//!
//! Keys are stored encrypted in `<trust-dir>/private` (see `keys::store`); the passphrases come
//! from the caller's [`Passphrases`] (environment variables or a terminal prompt in the CLI).
//! Rotating a repository's key is a signed update: `manifesto::rotate`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Error;
use crate::keys::{
    ImportOptions, ImportReport, Importer, KeyAlgorithm, KeyStore, KeyStoreError, Passphrases,
    SigningKey,
};
use crate::tuf::names::{KeyId, RoleName};

/// What `key generate` makes.
pub struct GenerateRequest {
    pub role: RoleName,
    /// The repository (GUN) a repository key belongs to; required for targets, snapshot and
    /// timestamp keys.
    pub gun: Option<String>,
    pub algorithm: KeyAlgorithm,
    /// Where to write the public half as PEM, if anywhere.
    pub public_out: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct Generated {
    pub key_id: KeyId,
    pub algorithm: KeyAlgorithm,
    pub role: RoleName,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gun: Option<String>,
    pub path: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key_file: Option<PathBuf>,
}

/// A new key for `req.role`, encrypted into `store`.
pub fn generate(
    store: &KeyStore,
    req: GenerateRequest,
    passphrases: &mut Passphrases,
) -> Result<Generated, Error> {
    let GenerateRequest {
        role,
        gun,
        algorithm,
        public_out,
    } = req;
    if gun.is_none() && matches!(role.as_str(), "targets" | "snapshot" | "timestamp") {
        return Err(Error::KeyNeedsGun { role });
    }
    // Notary roots are certificates over P-256 keys.
    if role == RoleName::root() && algorithm != KeyAlgorithm::Ecdsa {
        return Err(KeyStoreError::RootKeyAlgorithm.into());
    }
    let key = SigningKey::generate(algorithm)?;
    let passphrase = passphrases.for_new_key(&role, key.key_id().as_str())?;
    let (path, _) = store.add(&key, &role, gun.as_deref(), &passphrase)?;
    if let Some(out) = &public_out {
        write_public(out, &key.public_key_pem())?;
    }
    Ok(Generated {
        key_id: key.key_id().clone(),
        algorithm,
        role,
        gun,
        path,
        public_key_file: public_out,
    })
}

/// Import the keys of a Docker or notary trust dir (`docker_trust`), then each of `files`.
pub fn import(
    store: &KeyStore,
    docker_trust: Option<&Path>,
    files: &[PathBuf],
    options: &ImportOptions,
    passphrases: &mut Passphrases,
) -> Result<ImportReport, Error> {
    let mut importer = Importer::new(store, passphrases);
    let mut report = ImportReport::default();
    if let Some(dir) = docker_trust {
        importer.import_trust_dir(dir, &mut report)?;
    }
    for file in files {
        importer.import_file(file, options, &mut report)?;
    }
    Ok(report)
}

/// The public half of key `id` as PEM: from its public file, or (a key copied in by hand, with
/// no public file) by decrypting the private key.
pub fn public_key_pem(
    store: &KeyStore,
    id: &KeyId,
    passphrases: &mut Passphrases,
) -> Result<String, Error> {
    match store.public_key(id) {
        Ok((_, public)) => Ok(crate::keys::public::public_key_pem(&public)),
        Err(_) if store.contains(id) => Ok(store.load(id, passphrases)?.public_key_pem()),
        Err(_) => Err(KeyStoreError::NotFound {
            id: id.to_string(),
            dir: store.private_dir(),
        }
        .into()),
    }
}

/// Write a public key file.
pub fn write_public(path: &Path, pem: &str) -> Result<(), Error> {
    std::fs::write(path, pem).map_err(|source| {
        Error::Keys(KeyStoreError::Io {
            path: path.to_path_buf(),
            source,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::passphrase::testing::env_only;

    fn passphrases() -> Passphrases {
        env_only(&[
            ("MANIFESTO_TARGETS_PASSPHRASE", "key-flow-passphrase"),
            ("MANIFESTO_ROOT_PASSPHRASE", "key-flow-passphrase"),
        ])
    }

    fn request(role: &str, gun: Option<&str>, algorithm: KeyAlgorithm) -> GenerateRequest {
        GenerateRequest {
            role: RoleName::parse(role).unwrap(),
            gun: gun.map(str::to_owned),
            algorithm,
            public_out: None,
        }
    }

    #[test]
    fn a_generated_key_is_stored_and_its_public_half_exported() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path().join("trust"));
        let mut req = request("targets", Some("example.com/app"), KeyAlgorithm::Ecdsa);
        let out = dir.path().join("targets.pub");
        req.public_out = Some(out.clone());
        let generated = generate(&store, req, &mut passphrases()).unwrap();
        assert!(store.contains(&generated.key_id));
        let exported = public_key_pem(&store, &generated.key_id, &mut passphrases()).unwrap();
        assert_eq!(std::fs::read_to_string(out).unwrap(), exported);
    }

    #[test]
    fn a_repository_key_without_its_repository_is_a_usage_error_and_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path().join("trust"));
        let err = generate(
            &store,
            request("targets", None, KeyAlgorithm::Ecdsa),
            &mut passphrases(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::KeyNeedsGun { .. }), "{err:?}");
        assert_eq!(err.failure().exit_code(), 2);
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn an_ed25519_root_key_is_refused_notary_roots_are_p256_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path().join("trust"));
        let err = generate(
            &store,
            request("root", None, KeyAlgorithm::Ed25519),
            &mut passphrases(),
        )
        .unwrap_err();
        assert_eq!(err.failure().exit_code(), 2, "{err:?}");
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn exporting_a_key_the_store_does_not_hold_is_not_found_with_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path().join("trust"));
        let id = KeyId::parse(&"ab".repeat(32)).unwrap();
        let err = public_key_pem(&store, &id, &mut passphrases()).unwrap_err();
        assert!(
            matches!(&err, Error::Keys(KeyStoreError::NotFound { .. })),
            "{err:?}"
        );
    }
}
