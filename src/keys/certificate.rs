//! Root certificates: the self-signed X.509 wrapper Notary requires around a root key.
//!
//! Notary accepts as root keys only `*-x509` certificates whose CN is the GUN and that are valid
//! now (PROTOCOL.md §4.5). We make the same shape as the Go client: P-256, ecdsa-with-SHA256,
//! KeyUsage digitalSignature + keyEncipherment (critical), ExtKeyUsage codeSigning,
//! BasicConstraints CA:FALSE, ten years. The same key gives a different certificate, and so a
//! different certificate key id, for each GUN; its private-key file keeps the bare key's id.

use chrono::{DateTime, Datelike, Timelike, Utc};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, PublicKeyData, SignatureAlgorithm,
};

use super::der;
use super::error::KeyStoreError;
use super::signer::{KeyAlgorithm, SigningKey};
use crate::tuf::key::{KeyType, PublicKey};

/// Years a root certificate is valid (Notary's default for root).
pub const ROOT_CERTIFICATE_YEARS: i32 = 10;

/// Lets rcgen sign the certificate with our key, so the secret is never copied into rcgen.
struct CertSigner<'a> {
    key: &'a SigningKey,
    /// The uncompressed point (what rcgen calls the public key's DER bytes).
    point: &'a [u8],
}

impl PublicKeyData for CertSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.point
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for CertSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let (_, raw) = self
            .key
            .sign(msg)
            .map_err(|_| rcgen::Error::RingUnspecified)?;
        // X.509 wants an ECDSA-Sig-Value (DER), Notary metadata the raw r‖s.
        Ok(raw_ecdsa_to_der(&raw))
    }
}

fn der_integer(bytes: &[u8]) -> Vec<u8> {
    let trimmed = match bytes.iter().position(|b| *b != 0) {
        Some(i) => &bytes[i..],
        None => &bytes[bytes.len() - 1..],
    };
    if trimmed[0] & 0x80 != 0 {
        der::tlv(der::TAG_INTEGER, &[&[0], trimmed]).to_vec()
    } else {
        der::tlv(der::TAG_INTEGER, &[trimmed]).to_vec()
    }
}

fn raw_ecdsa_to_der(raw: &[u8]) -> Vec<u8> {
    let (r, s) = raw.split_at(raw.len() / 2);
    der::tlv(der::TAG_SEQUENCE, &[&der_integer(r), &der_integer(s)]).to_vec()
}

/// A self-signed root certificate for `key` with CN = `gun`, valid from `now` for `years`, as PEM.
pub fn root_certificate(
    key: &SigningKey,
    gun: &str,
    now: DateTime<Utc>,
    years: i32,
) -> Result<String, KeyStoreError> {
    if key.algorithm() != KeyAlgorithm::Ecdsa {
        return Err(KeyStoreError::RootKeyAlgorithm);
    }
    let spki = &key.public_key().keyval.public;
    let signer = CertSigner {
        key,
        // The P-256 SPKI is a fixed 26-byte header followed by the 65-byte point.
        point: &spki[spki.len() - 65..],
    };
    let err = |source| KeyStoreError::Certificate {
        gun: gun.to_string(),
        source,
    };
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, gun);
    params.distinguished_name = name;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    params.is_ca = IsCa::ExplicitNoCa;
    let until_year = now.year() + years;
    // 29 February does not exist in most years: end on the 28th instead.
    let until_day = if now.month() == 2 && now.day() == 29 {
        28
    } else {
        now.day()
    };
    // rcgen takes `time` values; the date and time of day are set field by field.
    // chrono's month, day, hour, minute and second are always small: the conversion cannot fail.
    let small = |v: u32| u8::try_from(v).expect("a calendar field fits a byte");
    macro_rules! at {
        ($year:expr, $day:expr) => {
            rcgen::date_time_ymd($year, small(now.month()), small($day))
                .replace_hour(small(now.hour()))
                .and_then(|t| t.replace_minute(small(now.minute())))
                .and_then(|t| t.replace_second(small(now.second())))
                .expect("a chrono time of day is always in range")
        };
    }
    params.not_before = at!(now.year(), now.day());
    params.not_after = at!(until_year, until_day);
    let cert = params.self_signed(&signer).map_err(err)?;
    Ok(cert.pem())
}

/// The `ecdsa-x509` root key Notary lists for `gun`: the certificate PEM as the public value.
pub fn root_certificate_key(
    key: &SigningKey,
    gun: &str,
    now: DateTime<Utc>,
) -> Result<PublicKey, KeyStoreError> {
    let pem = root_certificate(key, gun, now, ROOT_CERTIFICATE_YEARS)?;
    Ok(PublicKey::new(KeyType::EcdsaX509, pem.into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuf::certificate::CertificateInfo;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-27T22:15:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn root_certificate_names_the_gun_and_keeps_the_bare_key_id() {
        let key = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
        let gun = "127.0.0.1:5000/myorg/app";
        let cert_key = root_certificate_key(&key, gun, now()).unwrap();
        let info = cert_key.certificate().unwrap().unwrap();
        assert_eq!(info.common_name.as_deref(), Some(gun));
        assert_eq!(info.not_before, now());
        assert_eq!(info.not_after.to_rfc3339(), "2036-11-27T22:15:00+00:00");
        assert!(info.is_valid_at(now()));
        assert_eq!(cert_key.public_key_id().unwrap(), *key.key_id());
        assert_ne!(cert_key.key_id(), *key.key_id());
        assert_eq!(info.spki_der, key.public_key().keyval.public);
        // Same key, another GUN: another certificate id, same bare id.
        let other = root_certificate_key(&key, "example.com/other", now()).unwrap();
        assert_ne!(other.key_id(), cert_key.key_id());
        assert_eq!(other.public_key_id().unwrap(), *key.key_id());
        assert!(
            String::from_utf8(cert_key.keyval.public.clone())
                .unwrap()
                .ends_with("-----END CERTIFICATE-----\n")
        );
        let _ = CertificateInfo::from_pem(&cert_key.keyval.public).unwrap();
    }

    #[test]
    fn root_certificate_has_the_go_client_extensions_and_a_valid_self_signature() {
        use x509_cert::der::DecodePem;
        let key = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
        let pem = root_certificate(&key, "example.com/app", now(), 10).unwrap();
        let cert = x509_cert::Certificate::from_pem(pem.as_bytes()).unwrap();
        let tbs = cert.tbs_certificate();
        let exts = tbs.extensions().unwrap();
        let find = |oid: &str| {
            exts.iter()
                .find(|e| e.extn_id.to_string() == oid)
                .unwrap_or_else(|| panic!("extension {oid}"))
        };
        let key_usage = find("2.5.29.15");
        assert!(key_usage.critical);
        // BIT STRING with digitalSignature (bit 0) and keyEncipherment (bit 2): 0b1010_0000.
        assert_eq!(key_usage.extn_value.as_bytes()[3], 0xa0);
        let eku = find("2.5.29.37");
        assert!(
            eku.extn_value
                .as_bytes()
                .ends_with(&[0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03])
        );
        let bc = find("2.5.29.19");
        assert_eq!(bc.extn_value.as_bytes(), &[0x30, 0x00], "CA:FALSE");
        assert_eq!(
            cert.signature_algorithm().oid.to_string(),
            "1.2.840.10045.4.3.2"
        );
        // The self-signature verifies with the certified key.
        use x509_cert::der::Encode;
        let tbs_der = tbs.to_der().unwrap();
        let point = &key.public_key().keyval.public[26..];
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point)
            .verify(&tbs_der, cert.signature().raw_bytes())
            .unwrap();
    }

    #[test]
    fn ed25519_keys_cannot_be_root_keys() {
        let key = SigningKey::generate(KeyAlgorithm::Ed25519).unwrap();
        assert!(matches!(
            root_certificate(&key, "g/x", now(), 10),
            Err(KeyStoreError::RootKeyAlgorithm)
        ));
    }

    #[test]
    fn raw_signatures_become_der_integers_without_sign_problems() {
        let mut raw = [0u8; 64];
        raw[0] = 0x80;
        raw[63] = 1;
        let der = raw_ecdsa_to_der(&raw);
        assert_eq!(&der[..5], &[0x30, 0x26, 0x02, 0x21, 0x00]);
        assert_eq!(&der[der.len() - 3..], &[0x02, 0x01, 0x01]);
    }
}
