//! A private signing key in memory, and the signatures Notary accepts from it.
//!
//! ECDSA P-256 signs SHA-256 digests with a raw 64-byte `r‖s` (method `ecdsa`); Ed25519 signs the
//! message itself (method `eddsa`) — PROTOCOL.md §5.1. Imported RSA keys sign with RSA-PSS over
//! SHA-256, salt as long as the hash (method `rsapss`), as the Go client's RSA signer does. The secret scalar or seed is kept in
//! zeroizing memory (ring's own key schedule cannot be wiped; it lives as long as this value).

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PSS_SHA256,
    RsaKeyPair,
};
use zeroize::Zeroizing;

use super::error::{KeyFormatError, KeyStoreError};
use super::private_key_info::{self as pki, KeySecret};
pub use super::public::KeyAlgorithm;
use crate::tuf::envelope::Signature;
use crate::tuf::key::{KeyType, PublicKey};
use crate::tuf::names::KeyId;

enum Pair {
    Ecdsa {
        pair: EcdsaKeyPair,
        scalar: Zeroizing<Vec<u8>>,
    },
    Ed25519 {
        pair: Ed25519KeyPair,
        seed: Zeroizing<Vec<u8>>,
    },
    Rsa {
        pair: RsaKeyPair,
        pkcs8: Zeroizing<Vec<u8>>,
    },
}

/// A private key able to sign Notary metadata. `Debug` never shows the secret.
pub struct SigningKey {
    pair: Pair,
    public: PublicKey,
    id: KeyId,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm())
            .field("key_id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl SigningKey {
    /// A new random key.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<SigningKey, KeyStoreError> {
        let rng = SystemRandom::new();
        match algorithm {
            KeyAlgorithm::Ecdsa => {
                // ring only generates EC keys as PKCS#8; take the scalar and point out of it.
                let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| KeyStoreError::Random)?;
                let secret =
                    pki::parse_private_key_info(doc.as_ref()).map_err(|_| KeyStoreError::Random)?;
                SigningKey::from_secret(secret).map_err(|_| KeyStoreError::Random)
            }
            KeyAlgorithm::Ed25519 => {
                let mut seed = Zeroizing::new(vec![0u8; pki::ED25519_LEN]);
                rng.fill(&mut seed).map_err(|_| KeyStoreError::Random)?;
                SigningKey::from_secret(KeySecret::Ed25519 { seed, public: None })
                    .map_err(|_| KeyStoreError::Random)
            }
            KeyAlgorithm::Rsa => Err(KeyStoreError::RsaGeneration),
        }
    }

    /// Test-only: the key of a PKCS#8 document (a generated test repository's key).
    #[cfg(test)]
    pub(crate) fn from_pkcs8_for_tests(der: &[u8]) -> SigningKey {
        SigningKey::from_secret(pki::parse_private_key_info(der).expect("a PKCS#8 key"))
            .expect("a usable key")
    }

    /// Builds the ring key pair, checking that a public half carried by the file matches.
    pub(crate) fn from_secret(secret: KeySecret) -> Result<SigningKey, KeyFormatError> {
        match secret {
            KeySecret::EcdsaP256 { scalar, point } => {
                let point = point.ok_or(KeyFormatError::Der(
                    "EC private key without its public key is not supported",
                ))?;
                let pair = EcdsaKeyPair::from_private_key_and_public_key(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &scalar,
                    &point,
                    &SystemRandom::new(),
                )
                .map_err(|_| KeyFormatError::Inconsistent)?;
                let public = PublicKey::new(KeyType::Ecdsa, pki::p256_spki(&point));
                Ok(SigningKey::with_public(
                    Pair::Ecdsa { pair, scalar },
                    public,
                ))
            }
            KeySecret::Ed25519 { seed, public } => {
                let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
                    .map_err(|_| KeyFormatError::Inconsistent)?;
                let derived = pair.public_key().as_ref().to_vec();
                if public.is_some_and(|p| p != derived) {
                    return Err(KeyFormatError::Inconsistent);
                }
                let public = PublicKey::new(KeyType::Ed25519, derived);
                Ok(SigningKey::with_public(
                    Pair::Ed25519 { pair, seed },
                    public,
                ))
            }
            KeySecret::Rsa { pkcs8 } => {
                // ring refuses inconsistent keys and sizes outside 2048..=4096 bits.
                let pair = RsaKeyPair::from_pkcs8(&pkcs8).map_err(|_| {
                    KeyFormatError::Algorithm("an RSA key ring cannot use (2048 to 4096 bits)")
                })?;
                let public = PublicKey::new(KeyType::Rsa, pki::rsa_spki(pair.public().as_ref()));
                Ok(SigningKey::with_public(Pair::Rsa { pair, pkcs8 }, public))
            }
        }
    }

    fn with_public(pair: Pair, public: PublicKey) -> SigningKey {
        let id = public.key_id();
        SigningKey { pair, public, id }
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.pair {
            Pair::Ecdsa { .. } => KeyAlgorithm::Ecdsa,
            Pair::Ed25519 { .. } => KeyAlgorithm::Ed25519,
            Pair::Rsa { .. } => KeyAlgorithm::Rsa,
        }
    }

    /// The public key as Notary lists it: `ecdsa` with a DER SPKI, or `ed25519` with 32 raw bytes.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The key id of [`SigningKey::public_key`]; also the name of the key file.
    pub fn key_id(&self) -> &KeyId {
        &self.id
    }

    /// Signs `message`: returns the signature `method` and the raw signature bytes.
    pub fn sign(&self, message: &[u8]) -> Result<(&'static str, Vec<u8>), KeyStoreError> {
        let sig = match &self.pair {
            Pair::Ecdsa { pair, .. } => pair
                .sign(&SystemRandom::new(), message)
                .map_err(|_| KeyStoreError::Sign)?
                .as_ref()
                .to_vec(),
            Pair::Ed25519 { pair, .. } => pair.sign(message).as_ref().to_vec(),
            Pair::Rsa { pair, .. } => {
                let mut sig = vec![0u8; pair.public().modulus_len()];
                pair.sign(&RSA_PSS_SHA256, &SystemRandom::new(), message, &mut sig)
                    .map_err(|_| KeyStoreError::Sign)?;
                sig
            }
        };
        Ok((self.algorithm().signature_method(), sig))
    }

    /// A signature entry for metadata. `keyid` is the id the role lists: this key's own id, or
    /// for a root key the id of its certificate (see [`super::certificate`]).
    pub fn signature(&self, keyid: KeyId, message: &[u8]) -> Result<Signature, KeyStoreError> {
        let (method, sig) = self.sign(message)?;
        Ok(Signature {
            keyid,
            method: method.to_string(),
            sig,
        })
    }

    /// The standard PKCS#8 DER of this key (what gets encrypted into the key file).
    pub(crate) fn to_pkcs8(&self) -> Zeroizing<Vec<u8>> {
        match &self.pair {
            Pair::Ecdsa { pair, scalar } => pki::ecdsa_pkcs8(scalar, pair.public_key().as_ref()),
            Pair::Ed25519 { seed, .. } => pki::ed25519_pkcs8(seed),
            Pair::Rsa { pkcs8, .. } => pkcs8.clone(),
        }
    }

    /// The public key as a standard `PUBLIC KEY` PEM (SubjectPublicKeyInfo), as `delegate add`
    /// and OpenSSL read it.
    pub fn public_key_pem(&self) -> String {
        super::public::public_key_pem(&self.public)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuf::key::KeyMaterial;
    use ring::signature::{ECDSA_P256_SHA256_FIXED, ED25519, UnparsedPublicKey};

    /// Verifies the way src/tuf/verify.rs does: by the listed key's material.
    fn verifies(public: &PublicKey, method: &str, message: &[u8], sig: &[u8]) -> bool {
        match (public.material().unwrap(), method) {
            (KeyMaterial::EcdsaP256(point), "ecdsa") => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, sig)
                    .is_ok()
            }
            (KeyMaterial::Ed25519(raw), "eddsa") => UnparsedPublicKey::new(&ED25519, raw)
                .verify(message, sig)
                .is_ok(),
            _ => false,
        }
    }

    #[test]
    fn generated_keys_sign_what_their_public_key_verifies() {
        for alg in [KeyAlgorithm::Ecdsa, KeyAlgorithm::Ed25519] {
            let key = SigningKey::generate(alg).unwrap();
            let (method, sig) = key.sign(b"signed bytes").unwrap();
            assert_eq!(sig.len(), 64, "{alg:?}: raw r||s or ed25519 signature");
            assert!(verifies(key.public_key(), method, b"signed bytes", &sig));
            assert!(!verifies(key.public_key(), method, b"other bytes", &sig));
            assert_eq!(key.key_id(), &key.public_key().key_id());
        }
    }

    /// End to end through the TUF verifier: a real targets file re-signed by our key verifies
    /// against an authority listing our public key (or, for a root key, its certificate).
    #[test]
    fn signatures_verify_through_the_tuf_verifier() {
        use crate::tuf::envelope::SignedEnvelope;
        use crate::tuf::metadata::Targets;
        use crate::tuf::names::RoleName;
        use crate::tuf::verify::{Authority, verify};
        use std::collections::BTreeMap;

        let fixture = include_bytes!("../../fixtures/notary/targets.json");
        let env = SignedEnvelope::parse(fixture, 1 << 20).unwrap();
        let message = crate::tuf::canonical::encode(&env.signed).unwrap();
        let root = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
        let cert = super::super::certificate::root_certificate_key(
            &root,
            "example.com/app",
            chrono::Utc::now(),
        )
        .unwrap();
        let cases = [
            (SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap(), None),
            (SigningKey::generate(KeyAlgorithm::Ed25519).unwrap(), None),
            (root, Some(cert)),
        ];
        for (key, listed_as) in cases {
            let listed = listed_as.unwrap_or_else(|| key.public_key().clone());
            let id = listed.key_id();
            let mut signed = env.clone();
            signed.signatures = vec![key.signature(id.clone(), &message).unwrap()];
            let keys = BTreeMap::from([(id.clone(), listed)]);
            let authority =
                Authority::new(RoleName::targets(), &keys, std::slice::from_ref(&id), 1);
            let verified = verify::<Targets>(&signed, &authority)
                .unwrap_or_else(|e| panic!("{:?}: {e}", key.algorithm()));
            assert!(verified.signed_by().contains(&id));
            // Another key's signature under the same id does not count.
            let other = SigningKey::generate(key.algorithm()).unwrap();
            signed.signatures = vec![other.signature(id.clone(), &message).unwrap()];
            assert!(verify::<Targets>(&signed, &authority).is_err());
        }
    }

    fn fixture_block(bytes: &[u8]) -> super::super::pem::PemBlock {
        super::super::pem::parse_all(bytes).unwrap().remove(0)
    }

    /// The same OpenSSL RSA key as PKCS#8 and as PKCS#1 (`RSA PRIVATE KEY`) is one key: its
    /// Notary public key is the SPKI OpenSSL writes, it signs RSA-PSS (`rsapss`) that the TUF
    /// verifier accepts, and it survives the PKCS#8 round trip of the key store.
    #[test]
    fn an_imported_rsa_key_signs_rsa_pss_that_the_tuf_verifier_accepts() {
        use crate::tuf::envelope::SignedEnvelope;
        use crate::tuf::metadata::Targets;
        use crate::tuf::names::RoleName;
        use crate::tuf::verify::{Authority, verify};
        use std::collections::BTreeMap;

        let pkcs8 = fixture_block(include_bytes!("../../fixtures/keys/rsa-2048.pkcs8.pem"));
        let pkcs1 = fixture_block(include_bytes!("../../fixtures/keys/rsa-2048.pkcs1.pem"));
        let public = fixture_block(include_bytes!("../../fixtures/keys/rsa-2048.pub.pem"));
        let a = SigningKey::from_secret(pki::parse_private_key_info(&pkcs8.der).unwrap()).unwrap();
        let b = SigningKey::from_secret(pki::rsa_pkcs8_from_pkcs1(&pkcs1.der).unwrap()).unwrap();
        assert_eq!(a.algorithm(), KeyAlgorithm::Rsa);
        assert_eq!(a.key_id(), b.key_id());
        assert_eq!(a.public_key().keytype, KeyType::Rsa);
        assert_eq!(a.public_key().keyval.public, public.der.as_slice());
        let again =
            SigningKey::from_secret(pki::parse_private_key_info(&b.to_pkcs8()).unwrap()).unwrap();
        assert_eq!(again.key_id(), a.key_id());

        let fixture = include_bytes!("../../fixtures/notary/targets.json");
        let mut env = SignedEnvelope::parse(fixture, 1 << 20).unwrap();
        let message = crate::tuf::canonical::encode(&env.signed).unwrap();
        let id = a.key_id().clone();
        let sig = b.signature(id.clone(), &message).unwrap();
        assert_eq!(sig.method, "rsapss");
        assert_eq!(sig.sig.len(), 256);
        env.signatures = vec![sig];
        let keys = BTreeMap::from([(id.clone(), a.public_key().clone())]);
        let authority = Authority::new(RoleName::targets(), &keys, std::slice::from_ref(&id), 1);
        verify::<Targets>(&env, &authority).unwrap();
        // Not a signature over other bytes.
        let other = b.signature(id.clone(), b"other bytes").unwrap();
        env.signatures = vec![other];
        assert!(verify::<Targets>(&env, &authority).is_err());
        assert!(matches!(
            SigningKey::generate(KeyAlgorithm::Rsa),
            Err(KeyStoreError::RsaGeneration)
        ));
    }

    #[test]
    fn ecdsa_public_key_is_a_91_byte_spki_and_ed25519_is_raw() {
        let ec = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
        assert_eq!(ec.public_key().keytype, KeyType::Ecdsa);
        assert_eq!(ec.public_key().keyval.public.len(), 91);
        let ed = SigningKey::generate(KeyAlgorithm::Ed25519).unwrap();
        assert_eq!(ed.public_key().keytype, KeyType::Ed25519);
        assert_eq!(ed.public_key().keyval.public.len(), 32);
    }

    #[test]
    fn pkcs8_round_trip_keeps_the_key_id() {
        for alg in [KeyAlgorithm::Ecdsa, KeyAlgorithm::Ed25519] {
            let key = SigningKey::generate(alg).unwrap();
            let der = key.to_pkcs8();
            let again =
                SigningKey::from_secret(pki::parse_private_key_info(&der).unwrap()).unwrap();
            assert_eq!(again.key_id(), key.key_id());
        }
    }

    #[test]
    fn ring_reads_our_pkcs8_as_a_standard_key() {
        let ec = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
        EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &ec.to_pkcs8(),
            &SystemRandom::new(),
        )
        .unwrap();
        let ed = SigningKey::generate(KeyAlgorithm::Ed25519).unwrap();
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(&ed.to_pkcs8()).unwrap();
    }

    #[test]
    fn debug_output_redacts_the_secret() {
        let key = SigningKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("<redacted>"));
        let Pair::Ed25519 { seed, .. } = &key.pair else {
            unreachable!()
        };
        assert!(!shown.contains(&hex::encode(seed.as_slice())));
        assert!(!shown.contains(&format!("{:?}", seed.as_slice())));
    }

    #[test]
    fn mismatched_public_half_is_refused() {
        let a = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
        let b = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
        let Pair::Ecdsa { scalar, .. } = &a.pair else {
            unreachable!()
        };
        let point = b.public_key().keyval.public[26..].to_vec();
        let mixed = KeySecret::EcdsaP256 {
            scalar: scalar.clone(),
            point: Some(point),
        };
        assert!(matches!(
            SigningKey::from_secret(mixed),
            Err(KeyFormatError::Inconsistent)
        ));
    }
}
