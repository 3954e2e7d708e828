//! The key store: encrypted private keys under `<trust-dir>/private/<keyid>.key`.
//!
//! The layout and file format are the Go notary client's (PROTOCOL.md §7): flat, named by the
//! public-key id, PEM with `role:`/`gun:` headers. Only the encryption differs (scrypt instead of
//! 2048 rounds of PBKDF2-SHA1, see [`super::encrypted`]); Go-written files dropped into the
//! directory are still read. Files are created 0600 in 0700 directories and written atomically;
//! a key file that other users can access is refused (SECURITY-TESTS §4). The public half of each
//! key is kept next to it, under `public/<keyid>.pem`, so listing and exporting need no passphrase.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use pkcs8::EncryptedPrivateKeyInfoRef;
use pkcs8::der::Decode;
use serde::Serialize;
use zeroize::Zeroizing;

use super::encrypted::{self, DecryptError};
use super::error::{KeyFormatError, KeyStoreError};
use super::passphrase::{KeyOrigin, Passphrase, Passphrases};
use super::pem::{self, PemBlock};
use super::private_key_info as pki;
use super::public::{KeyAlgorithm, public_key_from_spki, public_spki};
use super::signer::SigningKey;
use crate::tuf::key::PublicKey;
use crate::tuf::names::{KeyId, RoleName};

/// A key file in the store, as `key list` shows it (nothing here is secret).
#[derive(Debug, Clone, Serialize)]
pub struct StoredKey {
    pub key_id: KeyId,
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gun: Option<String>,
    /// `None` when the public half is not on file (a key copied in by hand).
    pub algorithm: Option<KeyAlgorithm>,
    pub path: PathBuf,
}

/// Whether a key was written or was already in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Added {
    New,
    AlreadyPresent,
}

/// The private keys of one trust directory.
#[derive(Debug, Clone)]
pub struct KeyStore {
    trust_dir: PathBuf,
}

/// Group and other permission bits: any of them on a key file is refused.
const NOT_OWNER_BITS: u32 = 0o077;

impl KeyStore {
    pub fn new(trust_dir: impl Into<PathBuf>) -> KeyStore {
        KeyStore {
            trust_dir: trust_dir.into(),
        }
    }

    pub fn private_dir(&self) -> PathBuf {
        self.trust_dir.join("private")
    }

    fn public_dir(&self) -> PathBuf {
        self.trust_dir.join("public")
    }

    /// Where the private key `id` lives.
    pub fn key_path(&self, id: &KeyId) -> PathBuf {
        self.private_dir().join(format!("{id}.key"))
    }

    fn public_path(&self, id: &KeyId) -> PathBuf {
        self.public_dir().join(format!("{id}.pem"))
    }

    pub fn contains(&self, id: &KeyId) -> bool {
        self.key_path(id).exists()
    }

    /// Encrypts `key` for `role` (and `gun`, for repository keys) and stores it.
    pub fn add(
        &self,
        key: &SigningKey,
        role: &RoleName,
        gun: Option<&str>,
        passphrase: &Passphrase,
    ) -> Result<(PathBuf, Added), KeyStoreError> {
        let path = self.key_path(key.key_id());
        if path.exists() {
            return Ok((path, Added::AlreadyPresent));
        }
        let encrypted = encrypted::encrypt(&key.to_pkcs8(), passphrase.as_bytes())?;
        let mut headers = vec![("role", role.as_str())];
        if let Some(gun) = gun {
            headers.push(("gun", gun));
        }
        let text = pem::encode("ENCRYPTED PRIVATE KEY", &headers, &encrypted);
        ensure_private_dir(&self.trust_dir)?;
        ensure_private_dir(&self.private_dir())?;
        write_atomic(&path, text.as_bytes(), 0o600)?;
        ensure_private_dir(&self.public_dir())?;
        let public = pem::encode("PUBLIC KEY", &headers, &public_spki(key.public_key()));
        write_atomic(&self.public_path(key.key_id()), public.as_bytes(), 0o644)?;
        tracing::debug!(key_id = %key.key_id(), role = %role, path = %path.display(), "stored key");
        Ok((path, Added::New))
    }

    /// Removes the key `id` this run has just added (private and public file), when what it
    /// was made for did not happen (a failed `init`). Never for keys the store held before.
    pub fn discard_new(&self, id: &KeyId) -> Result<(), KeyStoreError> {
        for path in [self.key_path(id), self.public_path(id)] {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(KeyStoreError::io(&path)(e)),
            }
        }
        tracing::debug!(key_id = %id, "discarded a key made for a failed operation");
        Ok(())
    }

    /// Every key file in the store, sorted by role, GUN and id. Unreadable files are reported as
    /// warnings and left out.
    pub fn list(&self) -> Result<Vec<StoredKey>, KeyStoreError> {
        let dir = self.private_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(KeyStoreError::io(&dir)(e)),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let path = entry.map_err(KeyStoreError::io(&dir))?.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".key"))
                .and_then(|n| KeyId::parse(n).ok())
            else {
                continue;
            };
            match self.read_key_file(&path) {
                Ok(block) => keys.push(StoredKey {
                    role: block.header("role").unwrap_or("?").to_string(),
                    gun: block.header("gun").map(str::to_string),
                    algorithm: self.public_key(&id).ok().map(|(alg, _)| alg),
                    key_id: id,
                    path,
                }),
                Err(e) => tracing::warn!("skipping {}: {e}", path.display()),
            }
        }
        keys.sort_by(|a, b| (&a.role, &a.gun, &a.key_id).cmp(&(&b.role, &b.gun, &b.key_id)));
        Ok(keys)
    }

    /// The stored keys of `role` (and `gun`, when given).
    pub fn find(
        &self,
        role: &RoleName,
        gun: Option<&str>,
    ) -> Result<Vec<StoredKey>, KeyStoreError> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|k| k.role == role.as_str() && (gun.is_none() || k.gun.as_deref() == gun))
            .collect())
    }

    /// The public half of `id` from `public/<id>.pem`, checked against the id.
    pub fn public_key(&self, id: &KeyId) -> Result<(KeyAlgorithm, PublicKey), KeyStoreError> {
        let path = self.public_path(id);
        let text = fs::read(&path).map_err(KeyStoreError::io(&path))?;
        let corrupt = |source| KeyStoreError::Corrupt {
            path: path.clone(),
            source,
        };
        let block = pem::parse_first(&text).map_err(corrupt)?;
        let (alg, public) = public_key_from_spki(&block.der).map_err(corrupt)?;
        if public.key_id() != *id {
            return Err(KeyStoreError::IdMismatch {
                path,
                actual: public.key_id().to_string(),
            });
        }
        Ok((alg, public))
    }

    /// Decrypts the key `id`, asking `passphrases` for its role's passphrase. The key must hash to
    /// the id its file is named by.
    pub fn load(
        &self,
        id: &KeyId,
        passphrases: &mut Passphrases,
    ) -> Result<SigningKey, KeyStoreError> {
        let path = self.key_path(id);
        let block = match self.read_key_file(&path) {
            Err(KeyStoreError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(KeyStoreError::NotFound {
                    id: id.to_string(),
                    dir: self.private_dir(),
                });
            }
            other => other?,
        };
        let role = block.header("role").ok_or_else(|| KeyStoreError::Corrupt {
            path: path.clone(),
            source: KeyFormatError::Pem("no role: header"),
        })?;
        let role = RoleName::parse(role).map_err(KeyStoreError::Role)?;
        let key = open_block(&block, &role, &path, passphrases, false)?;
        if key.key_id() != id {
            return Err(KeyStoreError::IdMismatch {
                path,
                actual: key.key_id().to_string(),
            });
        }
        tracing::debug!(key_id = %id, role = %role, "loaded key");
        Ok(key)
    }

    /// The private key behind a key listed in metadata: for an `*-x509` certificate key, the key
    /// stored under the certificate's public-key id.
    pub fn load_for(
        &self,
        listed: &PublicKey,
        passphrases: &mut Passphrases,
    ) -> Result<SigningKey, KeyStoreError> {
        let id = listed
            .public_key_id()
            .map_err(|_| KeyStoreError::NotFound {
                id: listed.key_id().to_string(),
                dir: self.private_dir(),
            })?;
        self.load(&id, passphrases)
    }

    /// Reads a store file, refusing it if other users can access it.
    fn read_key_file(&self, path: &Path) -> Result<PemBlock, KeyStoreError> {
        let text = read_private_file(path)?;
        pem::parse_first(&text).map_err(|source| KeyStoreError::Corrupt {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Decrypts (or just parses) one private-key PEM block. `import` decides which error a bad file
/// gets (the user's input, or our own store's state).
pub(crate) fn open_block(
    block: &PemBlock,
    role: &RoleName,
    path: &Path,
    passphrases: &mut Passphrases,
    import: bool,
) -> Result<SigningKey, KeyStoreError> {
    let bad = |source| {
        if import {
            KeyStoreError::BadImport {
                path: path.to_path_buf(),
                source,
            }
        } else {
            KeyStoreError::Corrupt {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let secret = match block.label.as_str() {
        "ENCRYPTED PRIVATE KEY" => {
            encrypted::check_parameters(&block.der).map_err(bad)?;
            let origin = if is_scrypt(&block.der) {
                KeyOrigin::Manifesto
            } else {
                KeyOrigin::GoNotary
            };
            let mut format_error = None;
            let key = passphrases.unlock(role, origin, path, |passphrase| {
                match encrypted::decrypt(&block.der, passphrase) {
                    // Garbage that happened to have valid padding is a wrong passphrase too.
                    Ok(plain) => Ok(pki::parse_private_key_info(&plain)
                        .ok()
                        .and_then(|s| SigningKey::from_secret(s).ok())),
                    Err(DecryptError::WrongPassphrase) => Ok(None),
                    Err(DecryptError::Format(e)) => {
                        format_error = Some(e);
                        Ok(None)
                    }
                }
            });
            if let Some(e) = format_error {
                return Err(bad(e));
            }
            return key;
        }
        "PRIVATE KEY" => pki::parse_private_key_info(&block.der).map_err(bad)?,
        "EC PRIVATE KEY" => {
            if block.header("Proc-Type").is_some() || block.header("DEK-Info").is_some() {
                return Err(bad(KeyFormatError::Algorithm(
                    "legacy PEM encryption (DEK-Info): convert with `openssl pkcs8 -topk8`",
                )));
            }
            pki::parse_ec_private_key(&block.der).map_err(bad)?
        }
        // PKCS#1, as `openssl genrsa` and the Go client's `notary key import` take it.
        "RSA PRIVATE KEY" => {
            if block.header("Proc-Type").is_some() || block.header("DEK-Info").is_some() {
                return Err(bad(KeyFormatError::Algorithm(
                    "legacy PEM encryption (DEK-Info): convert with `openssl pkcs8 -topk8`",
                )));
            }
            pki::rsa_pkcs8_from_pkcs1(&block.der).map_err(bad)?
        }
        other => return Err(bad(KeyFormatError::Label(other.to_string()))),
    };
    SigningKey::from_secret(secret).map_err(bad)
}

fn is_scrypt(epki_der: &[u8]) -> bool {
    EncryptedPrivateKeyInfoRef::from_der(epki_der)
        .ok()
        .and_then(|i| i.encryption_algorithm.pbes2().map(|p| p.kdf.is_scrypt()))
        .unwrap_or(false)
}

/// Reads a private-key file, refusing it when group or others have any access to it.
pub(crate) fn read_private_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
    let mut file = File::open(path).map_err(KeyStoreError::io(path))?;
    check_private_mode(&file, path)?;
    read_all(&mut file, path)
}

/// Reads a file named on the command line for import. Its mode is the user's business (OpenSSL
/// writes 0644 keys under a default umask), but an exposed key deserves a warning.
pub(crate) fn read_import_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
    let mut file = File::open(path).map_err(KeyStoreError::io(path))?;
    if let Err(KeyStoreError::Permissions { mode, .. }) = check_private_mode(&file, path) {
        tracing::warn!(
            "{} is accessible by other users (mode {mode:03o}); the key may have been exposed",
            path.display()
        );
    }
    read_all(&mut file, path)
}

fn check_private_mode(file: &File, path: &Path) -> Result<(), KeyStoreError> {
    let mode = file
        .metadata()
        .map_err(KeyStoreError::io(path))?
        .permissions()
        .mode();
    if mode & NOT_OWNER_BITS != 0 {
        return Err(KeyStoreError::Permissions {
            path: path.to_path_buf(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

fn read_all(file: &mut File, path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
    const MAX_KEY_FILE: u64 = 1 << 20;
    let len = file.metadata().map_err(KeyStoreError::io(path))?.len();
    if len > MAX_KEY_FILE {
        return Err(KeyStoreError::Corrupt {
            path: path.to_path_buf(),
            source: KeyFormatError::Pem("file is larger than any key file"),
        });
    }
    // Sized once so the secret is never reallocated (SECURITY-TESTS §4 "Memory").
    let mut buf = Zeroizing::new(Vec::with_capacity(usize::try_from(len).unwrap_or(0) + 1));
    file.take(MAX_KEY_FILE)
        .read_to_end(&mut buf)
        .map_err(KeyStoreError::io(path))?;
    Ok(buf)
}

/// Creates `dir` (and missing parents) with mode 0700.
fn ensure_private_dir(dir: &Path) -> Result<(), KeyStoreError> {
    crate::fs::create_private_dir(dir).map_err(KeyStoreError::io(dir))
}

/// Atomically replaces `path` by `bytes`, created with `mode`.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyStoreError> {
    crate::fs::write_atomic(path, bytes, mode).map_err(KeyStoreError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::passphrase::testing::{env_only, scripted};

    const PASS: &str = "store-test-passphrase";

    fn store() -> (tempfile::TempDir, KeyStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path().join("trust"));
        (dir, store)
    }

    fn passphrases() -> Passphrases {
        env_only(&[
            ("MANIFESTO_TARGETS_PASSPHRASE", PASS),
            ("MANIFESTO_DELEGATION_PASSPHRASE", PASS),
            ("MANIFESTO_ROOT_PASSPHRASE", PASS),
        ])
    }

    fn add(store: &KeyStore, alg: KeyAlgorithm, role: &str, gun: Option<&str>) -> SigningKey {
        let key = SigningKey::generate(alg).unwrap();
        let mut p = passphrases();
        let pass = p.for_new_key(&RoleName::parse(role).unwrap(), "k").unwrap();
        store
            .add(&key, &RoleName::parse(role).unwrap(), gun, &pass)
            .unwrap();
        key
    }

    #[test]
    fn stored_keys_are_0600_in_0700_dirs_and_load_back() {
        let (_d, store) = store();
        let key = add(
            &store,
            KeyAlgorithm::Ecdsa,
            "targets",
            Some("example.com/app"),
        );
        let path = store.key_path(key.key_id());
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&store.private_dir()), 0o700);
        assert_eq!(mode(&store.trust_dir), 0o700);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\ngun: example.com/app\nrole: targets\n\n"
        ));
        let loaded = store.load(key.key_id(), &mut passphrases()).unwrap();
        assert_eq!(loaded.key_id(), key.key_id());
        let listed = store.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].gun.as_deref(), Some("example.com/app"));
        assert_eq!(listed[0].algorithm, Some(KeyAlgorithm::Ecdsa));
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(store.private_dir()).unwrap().count(), 1);
    }

    #[test]
    fn key_file_readable_by_others_is_refused_with_the_chmod_hint() {
        let (_d, store) = store();
        let key = add(&store, KeyAlgorithm::Ed25519, "targets/qa", None);
        let path = store.key_path(key.key_id());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = store.load(key.key_id(), &mut passphrases()).unwrap_err();
        assert!(matches!(err, KeyStoreError::Permissions { .. }));
        assert!(
            err.to_string()
                .contains(&format!("chmod 600 {}", path.display()))
        );
        assert_eq!(err.failure().exit_code(), 8);
    }

    #[test]
    fn wrong_passphrase_leaves_the_file_unchanged() {
        let (_d, store) = store();
        let key = add(&store, KeyAlgorithm::Ecdsa, "targets", Some("g/x"));
        let path = store.key_path(key.key_id());
        let before = fs::read(&path).unwrap();
        let mut p = env_only(&[("MANIFESTO_TARGETS_PASSPHRASE", "not-the-passphrase")]);
        let err = store.load(key.key_id(), &mut p).unwrap_err();
        assert!(
            matches!(err, KeyStoreError::WrongPassphrase { .. }),
            "{err:?}"
        );
        let (mut p, asked) = scripted(&[], &["wrong-one-1", "wrong-one-2", "wrong-one-3"], true);
        assert!(store.load(key.key_id(), &mut p).is_err());
        assert_eq!(*asked.lock().unwrap(), 3);
        assert_eq!(fs::read(&path).unwrap(), before);
    }

    #[test]
    fn a_key_filed_under_another_id_is_refused() {
        let (_d, store) = store();
        let a = add(&store, KeyAlgorithm::Ecdsa, "targets/qa", None);
        let b = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
        fs::rename(store.key_path(a.key_id()), store.key_path(b.key_id())).unwrap();
        let err = store.load(b.key_id(), &mut passphrases()).unwrap_err();
        assert!(matches!(err, KeyStoreError::IdMismatch { .. }), "{err:?}");
        let missing = store.load(a.key_id(), &mut passphrases()).unwrap_err();
        assert!(matches!(missing, KeyStoreError::NotFound { .. }));
    }

    #[test]
    fn public_half_is_exported_without_a_passphrase() {
        let (_d, store) = store();
        for alg in [KeyAlgorithm::Ecdsa, KeyAlgorithm::Ed25519] {
            let key = add(&store, alg, "targets/qa", None);
            let (got_alg, public) = store.public_key(key.key_id()).unwrap();
            assert_eq!(got_alg, alg);
            assert_eq!(&public, key.public_key());
        }
    }
}
