//! What the signer and the store share: the signing algorithms and public keys as standard
//! `PUBLIC KEY` PEM (SubjectPublicKeyInfo). Kept apart so `signer` and `store` each depend on
//! this module, never on each other.

use serde::Serialize;

use super::error::KeyFormatError;
use super::pem;
use super::private_key_info::{self as pki, SpkiKey};
use crate::tuf::key::{KeyType, PublicKey};

/// The algorithms manifesto signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyAlgorithm {
    /// ECDSA on P-256 with SHA-256 (what the Go client generates).
    Ecdsa,
    Ed25519,
    /// RSA (2048 to 4096 bits) with RSA-PSS over SHA-256, as the Go client signs with RSA keys;
    /// imported only, never generated.
    Rsa,
}

impl KeyAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Ecdsa => "ecdsa",
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::Rsa => "rsa",
        }
    }

    /// The `method` of signatures made with this algorithm.
    pub fn signature_method(self) -> &'static str {
        match self {
            KeyAlgorithm::Ecdsa => "ecdsa",
            KeyAlgorithm::Ed25519 => "eddsa",
            KeyAlgorithm::Rsa => "rsapss",
        }
    }
}

/// The SubjectPublicKeyInfo for a `PUBLIC KEY` PEM of a Notary key.
pub(crate) fn public_spki(key: &PublicKey) -> Vec<u8> {
    match key.keytype {
        KeyType::Ed25519 => pki::ed25519_spki(&key.keyval.public),
        _ => key.keyval.public.clone(),
    }
}

/// A standard `PUBLIC KEY` PEM (no headers) of a Notary `ecdsa` or `ed25519` key.
pub fn public_key_pem(key: &PublicKey) -> String {
    pem::encode("PUBLIC KEY", &[], &public_spki(key))
}

/// A Notary public key from a SubjectPublicKeyInfo (P-256 → `ecdsa`, Ed25519 → `ed25519`,
/// RSA → `rsa`).
pub(crate) fn public_key_from_spki(
    spki: &[u8],
) -> Result<(KeyAlgorithm, PublicKey), KeyFormatError> {
    Ok(match pki::parse_spki(spki)? {
        SpkiKey::P256(point) => (
            KeyAlgorithm::Ecdsa,
            PublicKey::new(KeyType::Ecdsa, pki::p256_spki(point)),
        ),
        SpkiKey::Ed25519(raw) => (
            KeyAlgorithm::Ed25519,
            PublicKey::new(KeyType::Ed25519, raw.to_vec()),
        ),
        SpkiKey::Rsa(spki) => (
            KeyAlgorithm::Rsa,
            PublicKey::new(KeyType::Rsa, spki.to_vec()),
        ),
    })
}
