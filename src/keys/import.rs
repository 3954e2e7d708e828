//! Importing private keys: PEM files (PKCS#8, SEC1, encrypted PKCS#8 — ours or the Go client's)
//! and whole Go notary / Docker Content Trust trust directories.
//!
//! Every imported key is re-encrypted in our format (SECURITY-TESTS §4: "re-encrypt imported
//! legacy Notary keys") and keeps its key id, so delegations and roles that list it still match.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::{KeyFormatError, KeyStoreError};
use super::passphrase::{Passphrase, Passphrases, RoleClass};
use super::pem::{self, PemBlock};
use super::signer::KeyAlgorithm;
use super::store::{self, Added, KeyStore};
use crate::tuf::names::{KeyId, RoleName};

/// `--role` / `--gun` given on the command line: they win over the files' headers.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub role: Option<RoleName>,
    pub gun: Option<String>,
}

/// One imported key.
#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    pub key_id: KeyId,
    pub role: RoleName,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gun: Option<String>,
    pub algorithm: KeyAlgorithm,
    pub from: PathBuf,
    pub path: PathBuf,
    pub status: Added,
}

/// A file that was not imported, and why (RSA keys, for instance).
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub from: PathBuf,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    pub imported: Vec<Imported>,
    pub skipped: Vec<Skipped>,
}

/// Imports keys into one store, asking each role class for its new passphrase once.
pub struct Importer<'a> {
    store: &'a KeyStore,
    passphrases: &'a mut Passphrases,
    new_passphrases: Vec<(RoleClass, Passphrase)>,
}

const KEY_LABELS: [&str; 4] = [
    "PRIVATE KEY",
    "EC PRIVATE KEY",
    "RSA PRIVATE KEY",
    "ENCRYPTED PRIVATE KEY",
];

impl<'a> Importer<'a> {
    pub fn new(store: &'a KeyStore, passphrases: &'a mut Passphrases) -> Importer<'a> {
        Importer {
            store,
            passphrases,
            new_passphrases: Vec::new(),
        }
    }

    /// `key import FILE`: every private key in the PEM file.
    pub fn import_file(
        &mut self,
        path: &Path,
        options: &ImportOptions,
        report: &mut ImportReport,
    ) -> Result<(), KeyStoreError> {
        let text = store::read_import_file(path)?;
        let blocks = pem::parse_all(&text).map_err(|source| KeyStoreError::BadImport {
            path: path.to_path_buf(),
            source,
        })?;
        let mut found = false;
        for block in blocks
            .iter()
            .filter(|b| KEY_LABELS.contains(&b.label.as_str()))
        {
            found = true;
            self.import_block(block, path, options, report)?;
        }
        if !found {
            return Err(KeyStoreError::BadImport {
                path: path.to_path_buf(),
                source: KeyFormatError::Pem("no private key block"),
            });
        }
        Ok(())
    }

    /// `key import --docker-trust DIR`: every `*.key` under `DIR/private` (the flat 0.7 layout and
    /// the older `root_keys/`, `tuf_keys/<gun>/` subdirectories). Key files there must be private
    /// to their owner, as in our own store.
    pub fn import_trust_dir(
        &mut self,
        dir: &Path,
        report: &mut ImportReport,
    ) -> Result<(), KeyStoreError> {
        let private = dir.join("private");
        let mut files = Vec::new();
        collect_key_files(&private, &mut files, 0)?;
        files.sort();
        if files.is_empty() {
            tracing::warn!("no key files under {}", private.display());
        }
        for path in files {
            let text = store::read_private_file(&path)?;
            let block = pem::parse_first(&text).map_err(|source| KeyStoreError::BadImport {
                path: path.clone(),
                source,
            })?;
            let before = report.imported.len();
            match self.import_block(&block, &path, &ImportOptions::default(), report) {
                Err(KeyStoreError::BadImport {
                    path,
                    source: KeyFormatError::Algorithm(why),
                }) => {
                    tracing::warn!("skipping {}: {why}", path.display());
                    report.skipped.push(Skipped {
                        from: path,
                        reason: why.to_string(),
                    });
                    continue;
                }
                other => other?,
            }
            // The Go client names key files by their public-key id; a file whose key has another
            // id was renamed or swapped.
            if let (Some(imported), Some(stem)) = (
                report.imported.get(before),
                path.file_stem().and_then(|s| s.to_str()),
            ) && let Ok(named) = KeyId::parse(stem.split('_').next().unwrap_or(stem))
                && named != imported.key_id
            {
                return Err(KeyStoreError::IdMismatch {
                    path,
                    actual: imported.key_id.to_string(),
                });
            }
        }
        Ok(())
    }

    fn import_block(
        &mut self,
        block: &PemBlock,
        from: &Path,
        options: &ImportOptions,
        report: &mut ImportReport,
    ) -> Result<(), KeyStoreError> {
        let role = match (&options.role, block.header("role")) {
            (Some(role), _) => role.clone(),
            (None, Some(role)) => RoleName::parse(role).map_err(KeyStoreError::Role)?,
            (None, None) => {
                return Err(KeyStoreError::MissingRole {
                    path: from.to_path_buf(),
                });
            }
        };
        let gun = options
            .gun
            .clone()
            .or_else(|| block.header("gun").map(str::to_string));
        if gun.is_none() && matches!(role.as_str(), "targets" | "snapshot" | "timestamp") {
            return Err(KeyStoreError::MissingGun {
                path: from.to_path_buf(),
                role: role.to_string(),
            });
        }
        let key = store::open_block(block, &role, from, self.passphrases, true)?;
        let class = RoleClass::of(&role);
        let index = match self.new_passphrases.iter().position(|(c, _)| *c == class) {
            Some(i) => i,
            None => {
                let p = self.passphrases.for_new_key(&role, key.key_id().as_str())?;
                self.new_passphrases.push((class, p));
                self.new_passphrases.len() - 1
            }
        };
        let (path, status) =
            self.store
                .add(&key, &role, gun.as_deref(), &self.new_passphrases[index].1)?;
        tracing::info!(key_id = %key.key_id(), role = %role, from = %from.display(), "imported key");
        report.imported.push(Imported {
            key_id: key.key_id().clone(),
            role,
            gun,
            algorithm: key.algorithm(),
            from: from.to_path_buf(),
            path,
            status,
        });
        Ok(())
    }
}

fn collect_key_files(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    depth: usize,
) -> Result<(), KeyStoreError> {
    // GUNs nest (`tuf_keys/host:port/org/app/`), but never very deep.
    if depth > 8 {
        return Ok(());
    }
    let entries = std::fs::read_dir(dir).map_err(KeyStoreError::io(dir))?;
    for entry in entries {
        let entry = entry.map_err(KeyStoreError::io(dir))?;
        let file_type = entry.file_type().map_err(KeyStoreError::io(entry.path()))?;
        let path = entry.path();
        if file_type.is_dir() {
            collect_key_files(&path, out, depth + 1)?;
        } else if file_type.is_file() && path.extension().is_some_and(|e| e == "key") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::passphrase::testing::env_only;
    use crate::keys::signer::SigningKey;
    use base64::Engine as _;
    use std::os::unix::fs::PermissionsExt;

    const GO_PASS: &str = "go-delegation-Pa55phrase";
    const OUR_PASS: &str = "our-new-passphrase";

    /// A Go-format key file: PBES2 PBKDF2-HMAC-SHA1 (2048 rounds, 8-byte salt) + AES-256-CBC over
    /// the given inner PKCS#8, as `tuf/utils/pkcs8.go` writes it.
    fn go_key_file(inner: &[u8], passphrase: &str, headers: &[(&str, &str)]) -> String {
        use pkcs8::der::Encode;
        use pkcs8::pkcs5::pbes2;
        let params = pbes2::Parameters {
            kdf: pbes2::Pbkdf2Params {
                salt: pbes2::Salt::new([7u8; 8]).unwrap(),
                iteration_count: 2048,
                key_length: None,
                prf: pbes2::Pbkdf2Prf::HmacWithSha1,
            }
            .into(),
            encryption: pbes2::EncryptionScheme::Aes256Cbc { iv: [9u8; 16] },
        };
        let ct = params.encrypt(passphrase, inner).unwrap();
        let info = pkcs8::EncryptedPrivateKeyInfoRef {
            encryption_algorithm: params.into(),
            encrypted_data: pkcs8::der::asn1::OctetStringRef::new(&ct).unwrap(),
        };
        pem::encode("ENCRYPTED PRIVATE KEY", headers, &info.to_der().unwrap())
    }

    /// Go's ECDSA inner layout: PrivateKeyInfo version 1 without publicKey, SEC1 payload.
    fn go_ecdsa_inner(key: &SigningKey) -> Vec<u8> {
        let pkcs8 = key.to_pkcs8();
        let mut r = crate::keys::der::Reader::new(&pkcs8);
        let body = r.expect(0x30, "").unwrap();
        let mut r = crate::keys::der::Reader::new(body);
        r.next().unwrap();
        let (_, alg) = r.next().unwrap();
        let (_, private) = r.next().unwrap();
        let alg = crate::keys::der::tlv(0x30, &[alg]);
        let private = crate::keys::der::tlv(0x04, &[private]);
        crate::keys::der::tlv(0x30, &[&[2, 1, 1], &alg, &private]).to_vec()
    }

    /// Go's ed25519 inner layout: GnuPG OID, raw pub‖seed‖pub.
    fn go_ed25519_inner(seed: &[u8], public: &[u8]) -> Vec<u8> {
        let oid = crate::keys::der::tlv(
            0x06,
            &[&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xda, 0x47, 0x0f, 0x01]],
        );
        let alg = crate::keys::der::tlv(0x30, &[&oid]);
        let private = crate::keys::der::tlv(0x04, &[public, seed, public]);
        crate::keys::der::tlv(0x30, &[&[2, 1, 0], &alg, &private]).to_vec()
    }

    fn setup() -> (tempfile::TempDir, KeyStore, Passphrases) {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path().join("trust"));
        let p = env_only(&[
            ("NOTARY_DELEGATION_PASSPHRASE", GO_PASS),
            ("NOTARY_TARGETS_PASSPHRASE", GO_PASS),
            ("MANIFESTO_DELEGATION_PASSPHRASE", OUR_PASS),
            ("MANIFESTO_TARGETS_PASSPHRASE", OUR_PASS),
        ]);
        (dir, store, p)
    }

    #[test]
    fn go_format_ecdsa_and_ed25519_keys_import_with_their_ids() {
        let (dir, store, mut p) = setup();
        let ec = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
        let ed = SigningKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let ed_seed = {
            let pk = ed.to_pkcs8();
            pk[pk.len() - 32..].to_vec()
        };
        let trust = dir.path().join("go-trust");
        let private = trust.join("private");
        std::fs::create_dir_all(&private).unwrap();
        let files = [
            (
                ec.key_id(),
                go_key_file(&go_ecdsa_inner(&ec), GO_PASS, &[("role", "targets/qa")]),
            ),
            (
                ed.key_id(),
                go_key_file(
                    &go_ed25519_inner(&ed_seed, &ed.public_key().keyval.public),
                    GO_PASS,
                    &[("role", "targets"), ("gun", "127.0.0.1:5000/org/app")],
                ),
            ),
        ];
        for (id, text) in &files {
            let path = private.join(format!("{id}.key"));
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let mut report = ImportReport::default();
        Importer::new(&store, &mut p)
            .import_trust_dir(&trust, &mut report)
            .unwrap();
        assert_eq!(report.imported.len(), 2);
        let mut p2 = env_only(&[
            ("MANIFESTO_DELEGATION_PASSPHRASE", OUR_PASS),
            ("MANIFESTO_TARGETS_PASSPHRASE", OUR_PASS),
        ]);
        for key in [&ec, &ed] {
            let loaded = store.load(key.key_id(), &mut p2).unwrap();
            assert_eq!(loaded.public_key(), key.public_key());
        }
        let listed = store.list().unwrap();
        let targets = listed.iter().find(|k| k.role == "targets").unwrap();
        assert_eq!(targets.gun.as_deref(), Some("127.0.0.1:5000/org/app"));
        assert_eq!(targets.algorithm, Some(KeyAlgorithm::Ed25519));
    }

    #[test]
    fn plain_pkcs8_and_sec1_files_need_a_role_and_import() {
        let (dir, store, mut p) = setup();
        let key = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
        let pkcs8 = key.to_pkcs8();
        let path = dir.path().join("plain.pem");
        std::fs::write(&path, pem::encode("PRIVATE KEY", &[], &pkcs8)).unwrap();
        let mut report = ImportReport::default();
        let err = Importer::new(&store, &mut p)
            .import_file(&path, &ImportOptions::default(), &mut report)
            .unwrap_err();
        assert!(matches!(err, KeyStoreError::MissingRole { .. }));
        let options = ImportOptions {
            role: Some(RoleName::parse("targets/release").unwrap()),
            gun: None,
        };
        Importer::new(&store, &mut p)
            .import_file(&path, &options, &mut report)
            .unwrap();
        assert_eq!(report.imported[0].key_id, *key.key_id());

        // SEC1, as `openssl ecparam -genkey` writes it (with an EC PARAMETERS block first).
        let key2 = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
        let sec1 = {
            let pk = key2.to_pkcs8();
            let mut r = crate::keys::der::Reader::new(&pk);
            let mut r = crate::keys::der::Reader::new(r.expect(0x30, "").unwrap());
            r.next().unwrap();
            r.next().unwrap();
            r.expect(0x04, "").unwrap().to_vec()
        };
        let text = format!(
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{}",
            pem::encode("EC PRIVATE KEY", &[], &sec1)
        );
        let path2 = dir.path().join("sec1.pem");
        std::fs::write(&path2, text).unwrap();
        Importer::new(&store, &mut p)
            .import_file(&path2, &options, &mut report)
            .unwrap();
        assert_eq!(report.imported[1].key_id, *key2.key_id());
        let _ = base64::engine::general_purpose::STANDARD.encode([0u8]);
    }

    #[test]
    fn repository_keys_without_a_gun_are_refused() {
        let (dir, store, mut p) = setup();
        let key = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
        let path = dir.path().join("t.pem");
        std::fs::write(
            &path,
            pem::encode("PRIVATE KEY", &[("role", "targets")], &key.to_pkcs8()),
        )
        .unwrap();
        let err = Importer::new(&store, &mut p)
            .import_file(
                &path,
                &ImportOptions::default(),
                &mut ImportReport::default(),
            )
            .unwrap_err();
        assert!(matches!(err, KeyStoreError::MissingGun { .. }));
    }
}
