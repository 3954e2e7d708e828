//! Signing metadata for upload: the canonical bytes signed by each key, then the file written
//! exactly as the Go client writes it (the server re-encodes uploads with Go's encoder and hashes
//! its own encoding, so any other byte layout silently breaks the repository).

use super::envelope::Signature;
use super::metadata::Metadata;
use super::names::KeyId;
use super::write::{self, WriteError};

/// A private key able to sign for a role. Implemented by the key store; tests use ring keys.
pub trait Signer {
    /// The id the role lists for this key: for a key listed as an x509 certificate, the
    /// certificate's id, not the bare public key's.
    fn listed_key_id(&self) -> KeyId;
    /// `(method, signature)` over `message`: `ecdsa` with raw r‖s, or `eddsa`.
    fn sign(&self, message: &[u8]) -> (String, Vec<u8>);
}

/// Sign `meta` with every signer (one signature each) and return the file bytes to upload.
pub fn sign_file<T: Metadata>(meta: &T, signers: &[&dyn Signer]) -> Result<Vec<u8>, WriteError> {
    let signed = write::signed_value(meta)?;
    let message = write::signing_bytes(&signed)?;
    let signatures: Vec<Signature> = signers
        .iter()
        .map(|s| {
            let (method, sig) = s.sign(&message);
            Signature {
                keyid: s.listed_key_id(),
                method,
                sig,
            }
        })
        .collect();
    write::file_bytes(&signed, &signatures)
}
