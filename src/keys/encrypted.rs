//! Keys encrypted at rest: PKCS#8 `EncryptedPrivateKeyInfo` with PBES2.
//!
//! We write scrypt + AES-256-CBC with a 16-byte salt (SECURITY-TESTS §4 asks for a memory-hard
//! KDF; scrypt is the one PBES2 defines, so OpenSSL and every PKCS#8 tool can still read the file).
//! We read that and the Go notary client's PBKDF2-HMAC-SHA1 (2048 iterations) files, with upper
//! bounds on the KDF cost so a crafted file cannot make us spend minutes or gigabytes.

use pkcs8::EncryptedPrivateKeyInfoRef;
use pkcs8::der::asn1::OctetStringRef;
use pkcs8::der::{Decode, Encode};
use pkcs8::pkcs5::{self, pbes2};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::error::{KeyFormatError, KeyStoreError};

/// scrypt cost: N = 2^14, r = 8 (16 MiB), p = 4. OpenSSL 3 refuses to derive more than 32 MiB
/// (N = 2^15 with r = 8 needs 32 MiB + 1 KiB and fails in `openssl pkcs8`: measured), so the extra
/// work comes from p = 4, which OpenSSL computes sequentially in the same 16 MiB: the CPU cost of
/// N = 2^16 per guess.
pub const SCRYPT_LOG_N: u8 = 14;
pub const SCRYPT_R: u32 = 8;
pub const SCRYPT_P: u32 = 4;
const SALT_LEN: usize = 16;

/// Reading bounds: PBKDF2 iterations, and scrypt memory (128·r·N bytes) and work (N·r·p).
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
const MAX_SCRYPT_MEMORY: u64 = 256 << 20;
const MAX_SCRYPT_WORK: u64 = 1 << 26;

/// Encrypts a PKCS#8 `PrivateKeyInfo` under `passphrase`; returns the `EncryptedPrivateKeyInfo`
/// DER (not secret).
pub(crate) fn encrypt(pkcs8_der: &[u8], passphrase: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; SALT_LEN];
    let mut iv = [0u8; 16];
    rng.fill(&mut salt).map_err(|_| KeyStoreError::Random)?;
    rng.fill(&mut iv).map_err(|_| KeyStoreError::Random)?;
    let cost = pkcs5::scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P)
        .expect("constant scrypt parameters are valid");
    let params = pbes2::Parameters::generate_scrypt_aes256cbc(cost, &salt, iv)
        .map_err(|e| KeyStoreError::Encrypt(e.into()))?;
    let ciphertext = params
        .encrypt(passphrase, pkcs8_der)
        .map_err(|e| KeyStoreError::Encrypt(e.into()))?;
    let info = EncryptedPrivateKeyInfoRef {
        encryption_algorithm: params.into(),
        encrypted_data: OctetStringRef::new(&ciphertext)
            .map_err(|e| KeyStoreError::Encrypt(e.into()))?,
    };
    info.to_der().map_err(|e| KeyStoreError::Encrypt(e.into()))
}

/// Why an encrypted key did not open.
#[derive(Debug)]
pub(crate) enum DecryptError {
    /// The file is not an encrypted key we can read (or its KDF cost is out of bounds).
    Format(KeyFormatError),
    /// Decryption failed: a wrong passphrase (or a damaged ciphertext, which looks the same).
    WrongPassphrase,
}

/// The KDF and cipher of an encrypted key, checked against our bounds before any work is done.
pub(crate) fn check_parameters(epki_der: &[u8]) -> Result<(), KeyFormatError> {
    let info = EncryptedPrivateKeyInfoRef::from_der(epki_der)
        .map_err(|_| KeyFormatError::Der("not a PKCS#8 EncryptedPrivateKeyInfo"))?;
    let params = info
        .encryption_algorithm
        .pbes2()
        .ok_or(KeyFormatError::Algorithm("PBES1 key encryption"))?;
    if let Some(p) = params.kdf.pbkdf2() {
        if p.iteration_count > MAX_PBKDF2_ITERATIONS {
            return Err(KeyFormatError::KdfBounds("too many PBKDF2 iterations"));
        }
    } else if let Some(s) = params.kdf.scrypt() {
        let (n, r, p) = (
            s.cost_parameter,
            u64::from(s.block_size),
            u64::from(s.parallelization),
        );
        if n.saturating_mul(r).saturating_mul(128) > MAX_SCRYPT_MEMORY
            || n.saturating_mul(r).saturating_mul(p) > MAX_SCRYPT_WORK
        {
            return Err(KeyFormatError::KdfBounds("scrypt cost too high"));
        }
    }
    Ok(())
}

/// Decrypts an `EncryptedPrivateKeyInfo` DER into the inner PKCS#8 DER.
pub(crate) fn decrypt(
    epki_der: &[u8],
    passphrase: &[u8],
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    check_parameters(epki_der).map_err(DecryptError::Format)?;
    let info = EncryptedPrivateKeyInfoRef::from_der(epki_der)
        .map_err(|_| DecryptError::Format(KeyFormatError::Der("EncryptedPrivateKeyInfo")))?;
    match info
        .encryption_algorithm
        .decrypt(passphrase, info.encrypted_data.as_bytes())
    {
        Ok(plain) => Ok(Zeroizing::new(plain)),
        Err(pkcs5::Error::DecryptFailed) => Err(DecryptError::WrongPassphrase),
        Err(e) => Err(DecryptError::Format(KeyFormatError::Encryption(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_keys_use_scrypt_with_a_16_byte_salt_and_aes_256_cbc() {
        let der = encrypt(b"\x30\x03\x02\x01\x00", b"correct horse").unwrap();
        let info = EncryptedPrivateKeyInfoRef::from_der(&der).unwrap();
        let params = info.encryption_algorithm.pbes2().unwrap();
        let scrypt = params.kdf.scrypt().expect("scrypt");
        assert_eq!(scrypt.cost_parameter, 1 << SCRYPT_LOG_N);
        assert_eq!(u32::from(scrypt.block_size), SCRYPT_R);
        assert_eq!(u32::from(scrypt.parallelization), SCRYPT_P);
        assert_eq!(scrypt.salt.as_ref().len(), 16);
        assert!(matches!(
            params.encryption,
            pbes2::EncryptionScheme::Aes256Cbc { .. }
        ));
        assert_eq!(
            decrypt(&der, b"correct horse").unwrap().as_slice(),
            b"\x30\x03\x02\x01\x00"
        );
        assert!(matches!(
            decrypt(&der, b"wrong horse!"),
            Err(DecryptError::WrongPassphrase) | Err(DecryptError::Format(_))
        ));
    }

    #[test]
    fn a_crafted_kdf_cost_is_refused_before_any_work() {
        let cost = pkcs5::scrypt::Params::new(24, 8, 1).unwrap();
        let params = pbes2::Parameters::generate_scrypt_aes256cbc(cost, &[0; 16], [0; 16]).unwrap();
        let info = EncryptedPrivateKeyInfoRef {
            encryption_algorithm: params.into(),
            encrypted_data: OctetStringRef::new(&[0u8; 32]).unwrap(),
        };
        let der = info.to_der().unwrap();
        assert!(matches!(
            decrypt(&der, b"whatever"),
            Err(DecryptError::Format(KeyFormatError::KdfBounds(_)))
        ));
    }
}
