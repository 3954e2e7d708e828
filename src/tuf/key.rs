//! Public keys as Notary lists them, their key ids, and the verification material inside them.
//!
//! A key id is the sha256 of the canonical `{"keytype":T,"keyval":{"private":null,"public":P}}`
//! (the Notary wire format's key-id rule). Certificate keys (`*-x509`) also have a "public-key"
//! id computed over the bare SubjectPublicKeyInfo, which is how the Go client names private-key
//! files. Unknown key types are refused when metadata is parsed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};
use x509_cert::der::Decode;
use x509_cert::der::asn1::ObjectIdentifier;
use x509_cert::spki::SubjectPublicKeyInfoRef;

use super::canonical;
use super::certificate::{CertificateError, CertificateInfo};
use super::names::KeyId;

const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// The five key types Notary verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyType {
    #[serde(rename = "ecdsa")]
    Ecdsa,
    #[serde(rename = "ecdsa-x509")]
    EcdsaX509,
    #[serde(rename = "ed25519")]
    Ed25519,
    #[serde(rename = "rsa")]
    Rsa,
    #[serde(rename = "rsa-x509")]
    RsaX509,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Ecdsa => "ecdsa",
            KeyType::EcdsaX509 => "ecdsa-x509",
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa => "rsa",
            KeyType::RsaX509 => "rsa-x509",
        }
    }

    pub fn is_x509(self) -> bool {
        matches!(self, KeyType::EcdsaX509 | KeyType::RsaX509)
    }
}

/// `keyval`: Notary always writes `"private": null` for listed keys; a listed key carrying private
/// material is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVal {
    /// The decoded `public` bytes: DER SPKI, raw ed25519 key, or PEM certificate text.
    pub public: Vec<u8>,
}

impl Serialize for KeyVal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        json!({"private": null, "public": STANDARD.encode(&self.public)}).serialize(s)
    }
}

impl<'de> Deserialize<'de> for KeyVal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            #[serde(default)]
            private: Option<Value>,
            public: String,
        }
        let raw = Raw::deserialize(d)?;
        if raw.private.is_some() {
            return Err(serde::de::Error::custom("keyval.private must be null"));
        }
        let public = STANDARD.decode(&raw.public).map_err(|e| {
            serde::de::Error::custom(format_args!("keyval.public is not base64: {e}"))
        })?;
        Ok(KeyVal { public })
    }
}

/// A public key entry of `keys` / `delegations.keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKey {
    pub keytype: KeyType,
    pub keyval: KeyVal,
}

/// What a key can verify with, after its bytes have been decoded. Two listed keys with equal
/// material are one key, however they are wrapped (a bare SPKI and a certificate of it have
/// different key ids): thresholds count distinct material (SECURITY-TESTS scenario 46, "one
/// key, two forms").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyMaterial {
    /// Uncompressed SEC1 point on P-256.
    EcdsaP256(Vec<u8>),
    /// Uncompressed SEC1 point on P-384 (Notary still hashes with SHA-256).
    EcdsaP384(Vec<u8>),
    Ed25519(Vec<u8>),
    /// PKCS#1 RSAPublicKey DER, as ring wants it.
    Rsa(Vec<u8>),
}

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{keytype} key is not a valid SubjectPublicKeyInfo")]
    Spki {
        keytype: &'static str,
        #[source]
        source: x509_cert::der::Error,
    },
    #[error("{keytype} key holds an unsupported algorithm or curve")]
    Algorithm { keytype: &'static str },
    #[error("ed25519 key is {0} bytes, expected 32")]
    Ed25519Length(usize),
    #[error("{keytype} key's certificate is unusable")]
    Certificate {
        keytype: &'static str,
        #[source]
        source: CertificateError,
    },
}

impl KeyError {
    pub fn failure(&self) -> crate::failure::Failure {
        crate::failure::Failure::Untrusted
    }
}

fn key_id_of(keytype: &str, public: &[u8]) -> KeyId {
    let body =
        json!({"keytype": keytype, "keyval": {"private": null, "public": STANDARD.encode(public)}});
    let bytes = canonical::encode(&body).expect("strings and null are always canonical");
    KeyId::from_digest(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref())
}

impl PublicKey {
    pub fn new(keytype: KeyType, public: Vec<u8>) -> Self {
        PublicKey {
            keytype,
            keyval: KeyVal { public },
        }
    }

    /// The id used in `keys`, `keyids` and `signatures[].keyid` (for certificates: over the PEM).
    pub fn key_id(&self) -> KeyId {
        key_id_of(self.keytype.as_str(), &self.keyval.public)
    }

    /// The id of the bare public key: for `*-x509` keys the id of the `ecdsa`/`rsa` key over the
    /// certificate's SPKI (the Go client's private-key file name); otherwise [`key_id`].
    ///
    /// [`key_id`]: PublicKey::key_id
    pub fn public_key_id(&self) -> Result<KeyId, KeyError> {
        match self.keytype {
            KeyType::EcdsaX509 => Ok(key_id_of(
                "ecdsa",
                &self.certificate()?.expect("x509").spki_der,
            )),
            KeyType::RsaX509 => Ok(key_id_of(
                "rsa",
                &self.certificate()?.expect("x509").spki_der,
            )),
            _ => Ok(self.key_id()),
        }
    }

    /// The certificate of an `*-x509` key; `None` for bare keys.
    pub fn certificate(&self) -> Result<Option<CertificateInfo>, KeyError> {
        if !self.keytype.is_x509() {
            return Ok(None);
        }
        CertificateInfo::from_pem(&self.keyval.public)
            .map(Some)
            .map_err(|source| KeyError::Certificate {
                keytype: self.keytype.as_str(),
                source,
            })
    }

    /// Decodes the key for verification; the algorithm must fit the declared key type.
    pub fn material(&self) -> Result<KeyMaterial, KeyError> {
        let keytype = self.keytype.as_str();
        let spki_der = match self.keytype {
            KeyType::Ed25519 => {
                let raw = &self.keyval.public;
                return if raw.len() == 32 {
                    Ok(KeyMaterial::Ed25519(raw.clone()))
                } else {
                    Err(KeyError::Ed25519Length(raw.len()))
                };
            }
            KeyType::Ecdsa | KeyType::Rsa => self.keyval.public.clone(),
            KeyType::EcdsaX509 | KeyType::RsaX509 => self.certificate()?.expect("x509").spki_der,
        };
        let spki = SubjectPublicKeyInfoRef::from_der(&spki_der)
            .map_err(|source| KeyError::Spki { keytype, source })?;
        let (alg, params) = spki
            .algorithm
            .oids()
            .map_err(|source| KeyError::Spki { keytype, source })?;
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or(KeyError::Algorithm { keytype })?
            .to_vec();
        match (self.keytype, alg, params) {
            (KeyType::Ecdsa | KeyType::EcdsaX509, ID_EC_PUBLIC_KEY, Some(SECP256R1)) => {
                Ok(KeyMaterial::EcdsaP256(bits))
            }
            (KeyType::Ecdsa | KeyType::EcdsaX509, ID_EC_PUBLIC_KEY, Some(SECP384R1)) => {
                Ok(KeyMaterial::EcdsaP384(bits))
            }
            (KeyType::Rsa | KeyType::RsaX509, RSA_ENCRYPTION, _) => Ok(KeyMaterial::Rsa(bits)),
            _ => Err(KeyError::Algorithm { keytype }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuf::envelope::SignedEnvelope;
    use crate::tuf::metadata::{Metadata, Root, Targets};

    fn all_listed_keys() -> Vec<(String, KeyId, PublicKey)> {
        let mut out = Vec::new();
        for (name, bytes) in crate::tuf::test_support::all_fixtures() {
            if name.ends_with(".key.json") {
                continue;
            }
            let env = SignedEnvelope::parse(bytes, 1 << 20).unwrap();
            let keys = match env.type_name() {
                Some("Root") => Root::from_signed(&env.signed).unwrap().keys,
                Some("Targets") => Targets::from_signed(&env.signed).unwrap().delegations.keys,
                _ => continue,
            };
            out.extend(keys.into_iter().map(|(id, k)| (name.to_string(), id, k)));
        }
        out
    }

    #[test]
    fn every_listed_key_id_recomputes_and_decodes() {
        let keys = all_listed_keys();
        assert!(keys.len() > 20);
        for (file, id, key) in keys {
            assert_eq!(key.key_id(), id, "{file}");
            key.material()
                .unwrap_or_else(|e| panic!("{file} {id}: {e:?}"));
        }
    }

    #[test]
    fn server_key_body_in_non_canonical_order_hashes_to_its_id() {
        let v: Value =
            serde_json::from_slice(include_bytes!("../../fixtures/notary/timestamp.key.json"))
                .unwrap();
        let key: PublicKey = serde_json::from_value(v).unwrap();
        assert!(key.key_id().as_str().starts_with("545c616d"));
        assert!(key.key_id().as_str().ends_with("a18"));
    }

    #[test]
    fn certificate_keys_have_a_separate_public_key_id() {
        let keys = all_listed_keys();
        let find = |prefix: &str| {
            keys.iter()
                .find(|(_, id, _)| id.as_str().starts_with(prefix))
                .unwrap()
                .2
                .clone()
        };
        let root = find("5d08e4ed");
        assert!(
            root.public_key_id()
                .unwrap()
                .as_str()
                .starts_with("2ad0a001aab44fe6")
        );
        let cert = root.certificate().unwrap().unwrap();
        assert_eq!(
            cert.common_name.as_deref(),
            Some("127.0.0.1:5000/myorg/app")
        );
        let qa2 = find("ef9be957");
        assert!(
            qa2.public_key_id()
                .unwrap()
                .as_str()
                .starts_with("6ebb782581b0f965")
        );
        let bare = find("3cf89cfd");
        assert_eq!(bare.public_key_id().unwrap(), bare.key_id());
    }

    #[test]
    fn unknown_key_types_and_private_material_are_refused() {
        for body in [
            r#"{"keytype":"dsa","keyval":{"private":null,"public":"AAAA"}}"#,
            r#"{"keytype":"ed25519","keyval":{"private":"AAAA","public":"AAAA"}}"#,
            r#"{"keytype":"ECDSA","keyval":{"private":null,"public":"AAAA"}}"#,
        ] {
            let err = serde_json::from_str::<PublicKey>(body).unwrap_err();
            assert!(
                err.is_data(),
                "{body}: refused as a bad key entry, not bad JSON: {err}"
            );
        }
    }

    #[test]
    fn key_type_that_does_not_fit_the_key_is_refused() {
        let keys = all_listed_keys();
        let ec = keys
            .iter()
            .find(|(_, _, k)| k.keytype == KeyType::Ecdsa)
            .unwrap()
            .2
            .clone();
        let as_rsa = PublicKey::new(KeyType::Rsa, ec.keyval.public.clone());
        assert!(matches!(as_rsa.material(), Err(KeyError::Algorithm { .. })));
        let as_ed = PublicKey::new(KeyType::Ed25519, ec.keyval.public);
        assert!(matches!(as_ed.material(), Err(KeyError::Ed25519Length(91))));
    }
}
