//! The X.509 certificates that wrap `ecdsa-x509` / `rsa-x509` keys.
//!
//! Notary uses a certificate only as a key container with a name and a lifetime: root keys must be
//! certificates whose CN is the GUN and that are valid now (the Notary wire format's root rules).
//! Chains and certificate signatures play no part in trust, so none are checked here.

use chrono::{DateTime, Utc};
use x509_cert::Certificate;
use x509_cert::der::{DecodePem, Encode};

/// Why a certificate key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("certificate is not a PEM-encoded X.509 certificate")]
    Parse(#[source] x509_cert::der::Error),
    #[error("certificate has an unreadable subject common name")]
    CommonName(#[source] x509_cert::der::Error),
    #[error("certificate public key cannot be re-encoded")]
    PublicKey(#[source] x509_cert::der::Error),
}

impl CertificateError {
    pub fn failure(&self) -> crate::failure::Failure {
        crate::failure::Failure::Untrusted
    }
}

/// What Notary reads from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Subject CN; `None` when absent.
    pub common_name: Option<String>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    /// DER SubjectPublicKeyInfo of the certified key.
    pub spki_der: Vec<u8>,
}

impl CertificateInfo {
    /// Reads the PEM text stored (base64-wrapped) in an `*-x509` key.
    pub fn from_pem(pem: &[u8]) -> Result<Self, CertificateError> {
        let cert = Certificate::from_pem(pem).map_err(CertificateError::Parse)?;
        let tbs = cert.tbs_certificate();
        let common_name = tbs
            .subject()
            .common_name()
            .map_err(CertificateError::CommonName)?
            .map(|cn| cn.value().into_owned());
        let validity = tbs.validity();
        let to_chrono = |t: x509_cert::time::Time| {
            let d = t.to_unix_duration();
            i64::try_from(d.as_secs())
                .ok()
                .and_then(|secs| DateTime::<Utc>::from_timestamp(secs, d.subsec_nanos()))
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        };
        let spki_der = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(CertificateError::PublicKey)?;
        Ok(CertificateInfo {
            common_name,
            not_before: to_chrono(validity.not_before),
            not_after: to_chrono(validity.not_after),
            spki_der,
        })
    }

    /// Valid at `now` (both bounds inclusive, as RFC 5280 defines them).
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}
