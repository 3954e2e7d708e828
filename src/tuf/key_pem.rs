//! Public keys given as PEM (for `delegate add --key`): a `PUBLIC KEY` (SPKI) becomes an
//! `ecdsa`, `ed25519` or `rsa` key, a `CERTIFICATE` an `ecdsa-x509` or `rsa-x509` key, exactly
//! as the Go client records them.

use x509_cert::der::Decode;
use x509_cert::spki::SubjectPublicKeyInfoRef;

use super::key::{KeyType, PublicKey};

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_ED25519: &str = "1.3.101.112";
const OID_RSA: &str = "1.2.840.113549.1.1.1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyPemError {
    #[error(
        "not a PEM file (expected '-----BEGIN PUBLIC KEY-----' or '-----BEGIN CERTIFICATE-----')"
    )]
    NotPem,
    #[error(
        "a PEM '{0}' is not a public key or certificate; pass the public half (see 'manifesto key generate --public-out')"
    )]
    WrongLabel(String),
    #[error("the public key is not valid DER SubjectPublicKeyInfo")]
    BadSpki,
    #[error("unsupported public key algorithm {0} (use ECDSA P-256, Ed25519 or RSA)")]
    Algorithm(String),
    #[error("the certificate cannot be read")]
    BadCertificate,
}

impl KeyPemError {
    pub fn failure(&self) -> crate::failure::Failure {
        crate::failure::Failure::Usage
    }
}

/// Parse one PEM public key or certificate. PEM headers (the Go client adds `role:`) are allowed.
pub fn public_key_from_pem(text: &[u8]) -> Result<PublicKey, KeyPemError> {
    let parsed = pem::parse(text).map_err(|_| KeyPemError::NotPem)?;
    match parsed.tag() {
        "PUBLIC KEY" => {
            let der = parsed.contents();
            let spki = SubjectPublicKeyInfoRef::from_der(der).map_err(|_| KeyPemError::BadSpki)?;
            match spki.algorithm.oid.to_string().as_str() {
                OID_EC_PUBLIC_KEY => Ok(PublicKey::new(KeyType::Ecdsa, der.to_vec())),
                OID_RSA => Ok(PublicKey::new(KeyType::Rsa, der.to_vec())),
                OID_ED25519 => {
                    let raw = spki.subject_public_key.raw_bytes();
                    if raw.len() != 32 {
                        return Err(KeyPemError::BadSpki);
                    }
                    Ok(PublicKey::new(KeyType::Ed25519, raw.to_vec()))
                }
                other => Err(KeyPemError::Algorithm(other.to_string())),
            }
        }
        "CERTIFICATE" => {
            // Notary lists the certificate itself: the PEM text, newline-terminated.
            let pem_text = pem::encode_config(
                &parsed,
                pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
            );
            let key = PublicKey::new(KeyType::EcdsaX509, pem_text.clone().into_bytes());
            let cert = key.certificate().map_err(|_| KeyPemError::BadCertificate)?;
            let spki = cert.ok_or(KeyPemError::BadCertificate)?.spki_der;
            let algorithm = SubjectPublicKeyInfoRef::from_der(&spki)
                .map_err(|_| KeyPemError::BadCertificate)?
                .algorithm
                .oid
                .to_string();
            match algorithm.as_str() {
                OID_EC_PUBLIC_KEY => Ok(key),
                OID_RSA => Ok(PublicKey::new(KeyType::RsaX509, pem_text.into_bytes())),
                other => Err(KeyPemError::Algorithm(other.to_string())),
            }
        }
        other => Err(KeyPemError::WrongLabel(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_keys(keytype: &str) -> (String, Vec<u8>) {
        let root: serde_json::Value =
            serde_json::from_slice(include_bytes!("../../fixtures/notary/root.json")).unwrap();
        let keys = root["signed"]["keys"].as_object().unwrap();
        let (id, key) = keys.iter().find(|(_, k)| k["keytype"] == keytype).unwrap();
        use base64::Engine as _;
        let public = base64::engine::general_purpose::STANDARD
            .decode(key["keyval"]["public"].as_str().unwrap())
            .unwrap();
        (id.clone(), public)
    }

    #[test]
    fn a_public_key_pem_with_a_go_role_header_is_the_same_ecdsa_key() {
        let (id, der) = fixture_keys("ecdsa");
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let pem_text = format!(
            "-----BEGIN PUBLIC KEY-----\nrole: targets/qa\n\n{b64}\n-----END PUBLIC KEY-----\n"
        );
        let key = public_key_from_pem(pem_text.as_bytes()).unwrap();
        assert_eq!(key.keytype, KeyType::Ecdsa);
        assert_eq!(key.key_id().as_str(), id);
    }

    #[test]
    fn private_keys_and_garbage_are_refused_with_a_reason() {
        assert_eq!(public_key_from_pem(b"hello"), Err(KeyPemError::NotPem));
        let private = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            public_key_from_pem(private.as_bytes()),
            Err(KeyPemError::WrongLabel(_))
        ));
    }

    #[test]
    fn a_root_certificate_from_the_fixtures_is_an_ecdsa_x509_key_with_the_same_id() {
        let (id, pem_text) = fixture_keys("ecdsa-x509");
        let key = public_key_from_pem(&pem_text).unwrap();
        assert_eq!(key.keytype, KeyType::EcdsaX509);
        assert_eq!(
            key.key_id().as_str(),
            id,
            "the same bytes give the same certificate id"
        );
    }
}
