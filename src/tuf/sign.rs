//! Signing metadata for upload: the canonical bytes signed by each key, then the file written
//! exactly as the Go client writes it (the server re-encodes uploads with Go's encoder and hashes
//! its own encoding, so any other byte layout silently breaks the repository).

use super::envelope::Signature;
use super::metadata::Metadata;
use super::names::KeyId;
use super::write::{self, WriteError};

/// A key failed to produce a signature (the system's randomness failed, for ECDSA; the key
/// agent did not answer, or answered with a signature that does not verify).
#[derive(Debug, thiserror::Error)]
#[error("key {key_id} could not sign: {reason}")]
pub struct SignFailed {
    pub key_id: KeyId,
    pub reason: String,
    /// What kind of failure this is: a bug, or local state (the agent) to fix.
    pub failure: crate::failure::Failure,
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Sign(#[from] SignFailed),
}

impl SignError {
    pub fn failure(&self) -> crate::failure::Failure {
        match self {
            SignError::Write(e) => e.failure(),
            SignError::Sign(e) => e.failure,
        }
    }
}

/// A private key able to sign for a role. Implemented by the key store; tests use ring keys.
pub trait Signer {
    /// The id the role lists for this key: for a key listed as an x509 certificate, the
    /// certificate's id, not the bare public key's.
    fn listed_key_id(&self) -> KeyId;
    /// `(method, signature)` over `message`: `ecdsa` with raw r‖s, or `eddsa`.
    fn sign(&self, message: &[u8]) -> Result<(String, Vec<u8>), SignFailed>;
}

/// Sign `meta` with every signer (one signature each) and return the file bytes to upload.
pub fn sign_file<T: Metadata>(meta: &T, signers: &[&dyn Signer]) -> Result<Vec<u8>, SignError> {
    let signed = write::signed_value(meta)?;
    let message = write::signing_bytes(&signed)?;
    let mut signatures = Vec::with_capacity(signers.len());
    for s in signers {
        let (method, sig) = s.sign(&message)?;
        signatures.push(Signature {
            keyid: s.listed_key_id(),
            method,
            sig,
        });
    }
    Ok(write::file_bytes(&signed, &signatures)?)
}
