//! The unencrypted inside of a key file: PKCS#8 `PrivateKeyInfo` and SEC1 `ECPrivateKey`.
//!
//! We write the standard layouts (PKCS#8 v1 holding an RFC 5915 `ECPrivateKey` with its public
//! key, or an RFC 8410 Ed25519 seed) that OpenSSL reads. We read those and also the Go notary
//! client's layouts (PROTOCOL.md §7, crates.md §5): ECDSA with version 1 and no `publicKey`;
//! ed25519 under OID 1.3.6.1.4.1.11591.15.1 with a raw `pub‖seed‖pub` (96 bytes) or `seed‖pub`
//! (64 bytes) payload. RSA keys (PKCS#8, or PKCS#1 `RSA PRIVATE KEY` as `notary key import` takes
//! them) are kept as their PKCS#8 DER, which ring reads.

use zeroize::Zeroizing;

use super::der::{self, Reader};
use super::error::KeyFormatError;

/// DER of OID 1.2.840.10045.2.1 (id-ecPublicKey), content only.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// 1.2.840.10045.3.1.7 (prime256v1 / P-256).
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// 1.3.101.112 (Ed25519, RFC 8410).
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
/// 1.3.6.1.4.1.11591.15.1 (GnuPG's Ed25519 OID, used by the Go notary client).
const OID_ED25519_NOTARY: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0xda, 0x47, 0x0f, 0x01];
/// 1.2.840.113549.1.1.1 (rsaEncryption).
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// P-256 scalars and Ed25519 seeds are 32 bytes; uncompressed P-256 points 65.
pub(crate) const SCALAR_LEN: usize = 32;
pub(crate) const P256_POINT_LEN: usize = 65;
pub(crate) const ED25519_LEN: usize = 32;

/// The secret half of a key, with whatever public half the file carried.
pub(crate) enum KeySecret {
    EcdsaP256 {
        scalar: Zeroizing<Vec<u8>>,
        /// Uncompressed SEC1 point; `None` when the file did not include it.
        point: Option<Vec<u8>>,
    },
    Ed25519 {
        seed: Zeroizing<Vec<u8>>,
        public: Option<Vec<u8>>,
    },
    /// The whole PKCS#8 `PrivateKeyInfo` of an RSA key.
    Rsa { pkcs8: Zeroizing<Vec<u8>> },
}

fn bad(what: &'static str) -> KeyFormatError {
    KeyFormatError::Der(what)
}

/// Reads a PKCS#8 `PrivateKeyInfo`/`OneAsymmetricKey`, leniently (see the module docs).
pub(crate) fn parse_private_key_info(input: &[u8]) -> Result<KeySecret, KeyFormatError> {
    let mut outer = Reader::new(input);
    let body = outer.expect(der::TAG_SEQUENCE, "PrivateKeyInfo is not a SEQUENCE")?;
    let mut r = Reader::new(body);
    // Version 0 (v1) or 1 (v2); the Go client writes 1 without a public key, which we accept.
    if r.small_uint("PrivateKeyInfo version")? > 1 {
        return Err(bad("unknown PrivateKeyInfo version"));
    }
    let alg = r.expect(der::TAG_SEQUENCE, "AlgorithmIdentifier is not a SEQUENCE")?;
    let private = r.expect(der::TAG_OCTET_STRING, "privateKey is not an OCTET STRING")?;
    let _attributes = r.optional(der::TAG_CONTEXT_0)?;
    let public = r.optional(der::TAG_CONTEXT_1_PRIMITIVE)?;
    let mut alg = Reader::new(alg);
    let oid = alg.expect(der::TAG_OID, "algorithm is not an OID")?;
    match oid {
        OID_EC_PUBLIC_KEY => {
            match alg.optional(der::TAG_OID)? {
                Some(OID_P256) => {}
                Some(_) => {
                    return Err(KeyFormatError::Algorithm(
                        "ECDSA on a curve other than P-256",
                    ));
                }
                None => return Err(bad("EC key without a named curve")),
            }
            parse_ec_private_key(private)
        }
        OID_ED25519 => {
            // RFC 8410: CurvePrivateKey ::= OCTET STRING (the 32-byte seed), wrapped again.
            let seed = Reader::new(private).expect(der::TAG_OCTET_STRING, "Ed25519 key")?;
            if seed.len() != ED25519_LEN {
                return Err(bad("Ed25519 seed is not 32 bytes"));
            }
            let public = match public {
                Some([0, rest @ ..]) if rest.len() == ED25519_LEN => Some(rest.to_vec()),
                Some(_) => return Err(bad("Ed25519 public key")),
                None => None,
            };
            Ok(KeySecret::Ed25519 {
                seed: Zeroizing::new(seed.to_vec()),
                public,
            })
        }
        OID_ED25519_NOTARY => {
            // Raw bytes, no inner OCTET STRING: pub‖seed‖pub (notary's data.ED25519PrivateKey)
            // or seed‖pub (Go's ed25519.PrivateKey).
            let (seed, public, public_again) = match private.len() {
                96 => (&private[32..64], &private[..32], &private[64..]),
                64 => (&private[..32], &private[32..], &private[32..]),
                _ => return Err(bad("notary Ed25519 key is neither 64 nor 96 bytes")),
            };
            if public != public_again {
                return Err(KeyFormatError::Inconsistent);
            }
            Ok(KeySecret::Ed25519 {
                seed: Zeroizing::new(seed.to_vec()),
                public: Some(public.to_vec()),
            })
        }
        OID_RSA => Ok(KeySecret::Rsa {
            pkcs8: Zeroizing::new(input.to_vec()),
        }),
        _ => Err(KeyFormatError::Algorithm("unknown algorithm OID")),
    }
}

/// Reads a SEC1 / RFC 5915 `ECPrivateKey` (the body of `EC PRIVATE KEY` files and of EC PKCS#8).
pub(crate) fn parse_ec_private_key(input: &[u8]) -> Result<KeySecret, KeyFormatError> {
    let body = Reader::new(input).expect(der::TAG_SEQUENCE, "ECPrivateKey is not a SEQUENCE")?;
    let mut r = Reader::new(body);
    if r.small_uint("ECPrivateKey version")? != 1 {
        return Err(bad("ECPrivateKey version is not 1"));
    }
    let d = r.expect(der::TAG_OCTET_STRING, "ECPrivateKey privateKey")?;
    if let Some(params) = r.optional(der::TAG_CONTEXT_0)?
        && Reader::new(params).expect(der::TAG_OID, "EC parameters")? != OID_P256
    {
        return Err(KeyFormatError::Algorithm(
            "ECDSA on a curve other than P-256",
        ));
    }
    let point = match r.optional(der::TAG_CONTEXT_1)? {
        Some(inner) => match Reader::new(inner).expect(der::TAG_BIT_STRING, "EC public key")? {
            [0, point @ ..] if point.len() == P256_POINT_LEN => Some(point.to_vec()),
            _ => return Err(bad("EC public key is not an uncompressed P-256 point")),
        },
        None => None,
    };
    // Older encoders dropped leading zero bytes of the scalar; ring wants exactly 32.
    if d.is_empty() || d.len() > SCALAR_LEN {
        return Err(bad("EC private scalar has the wrong size"));
    }
    let mut scalar = Zeroizing::new(vec![0u8; SCALAR_LEN]);
    scalar[SCALAR_LEN - d.len()..].copy_from_slice(d);
    Ok(KeySecret::EcdsaP256 { scalar, point })
}

/// PKCS#8 v1 holding an RFC 5915 `ECPrivateKey` with the public key: what ring and OpenSSL write.
pub(crate) fn ecdsa_pkcs8(scalar: &[u8], point: &[u8]) -> Zeroizing<Vec<u8>> {
    let version1 = [der::TAG_INTEGER, 1, 1];
    let d = der::tlv(der::TAG_OCTET_STRING, &[scalar]);
    let bits = der::tlv(der::TAG_BIT_STRING, &[&[0], point]);
    let public = der::tlv(der::TAG_CONTEXT_1, &[&bits]);
    let ec_private_key = der::tlv(der::TAG_SEQUENCE, &[&version1, &d, &public]);
    let wrapped = der::tlv(der::TAG_OCTET_STRING, &[&ec_private_key]);
    let alg = algorithm_identifier(OID_EC_PUBLIC_KEY, Some(OID_P256));
    der::tlv(
        der::TAG_SEQUENCE,
        &[&[der::TAG_INTEGER, 1, 0], &alg, &wrapped],
    )
}

/// The `rsaEncryption` AlgorithmIdentifier: the OID with NULL parameters (RFC 8017 A.1).
fn rsa_algorithm_identifier() -> Zeroizing<Vec<u8>> {
    let oid = der::tlv(der::TAG_OID, &[OID_RSA]);
    der::tlv(der::TAG_SEQUENCE, &[&oid, &[0x05, 0x00]])
}

/// A PKCS#1 `RSAPrivateKey` (the body of an `RSA PRIVATE KEY` file) wrapped as PKCS#8 v1.
pub(crate) fn rsa_pkcs8_from_pkcs1(pkcs1: &[u8]) -> Result<KeySecret, KeyFormatError> {
    Reader::new(pkcs1).expect(der::TAG_SEQUENCE, "RSAPrivateKey is not a SEQUENCE")?;
    let wrapped = der::tlv(der::TAG_OCTET_STRING, &[pkcs1]);
    let alg = rsa_algorithm_identifier();
    Ok(KeySecret::Rsa {
        pkcs8: der::tlv(
            der::TAG_SEQUENCE,
            &[&[der::TAG_INTEGER, 1, 0], &alg, &wrapped],
        ),
    })
}

/// DER SubjectPublicKeyInfo of an RSA key given as a PKCS#1 `RSAPublicKey` (the `rsa` key's
/// `public` in Notary metadata, as the Go client's `x509.MarshalPKIXPublicKey` writes it).
pub(crate) fn rsa_spki(pkcs1_public: &[u8]) -> Vec<u8> {
    let alg = rsa_algorithm_identifier();
    let bits = der::tlv(der::TAG_BIT_STRING, &[&[0], pkcs1_public]);
    der::tlv(der::TAG_SEQUENCE, &[&alg, &bits]).to_vec()
}

/// PKCS#8 v1 holding an RFC 8410 Ed25519 seed.
pub(crate) fn ed25519_pkcs8(seed: &[u8]) -> Zeroizing<Vec<u8>> {
    let inner = der::tlv(der::TAG_OCTET_STRING, &[seed]);
    let wrapped = der::tlv(der::TAG_OCTET_STRING, &[&inner]);
    let alg = algorithm_identifier(OID_ED25519, None);
    der::tlv(
        der::TAG_SEQUENCE,
        &[&[der::TAG_INTEGER, 1, 0], &alg, &wrapped],
    )
}

fn algorithm_identifier(oid: &[u8], param: Option<&[u8]>) -> Zeroizing<Vec<u8>> {
    let oid = der::tlv(der::TAG_OID, &[oid]);
    match param {
        Some(p) => der::tlv(der::TAG_SEQUENCE, &[&oid, &der::tlv(der::TAG_OID, &[p])]),
        None => der::tlv(der::TAG_SEQUENCE, &[&oid]),
    }
}

/// DER SubjectPublicKeyInfo of a P-256 point (the `ecdsa` key's `public` in Notary metadata).
pub(crate) fn p256_spki(point: &[u8]) -> Vec<u8> {
    let alg = algorithm_identifier(OID_EC_PUBLIC_KEY, Some(OID_P256));
    let bits = der::tlv(der::TAG_BIT_STRING, &[&[0], point]);
    der::tlv(der::TAG_SEQUENCE, &[&alg, &bits]).to_vec()
}

/// DER SubjectPublicKeyInfo of an Ed25519 key (RFC 8410), for `PUBLIC KEY` PEM files.
pub(crate) fn ed25519_spki(public: &[u8]) -> Vec<u8> {
    let alg = algorithm_identifier(OID_ED25519, None);
    let bits = der::tlv(der::TAG_BIT_STRING, &[&[0], public]);
    der::tlv(der::TAG_SEQUENCE, &[&alg, &bits]).to_vec()
}

/// A parsed SubjectPublicKeyInfo.
pub(crate) enum SpkiKey<'a> {
    /// The uncompressed point of a P-256 key.
    P256(&'a [u8]),
    Ed25519(&'a [u8]),
    /// The whole SubjectPublicKeyInfo of an RSA key (Notary lists RSA keys that way).
    Rsa(&'a [u8]),
}

/// Reads a P-256, Ed25519 or RSA SubjectPublicKeyInfo.
pub(crate) fn parse_spki(input: &[u8]) -> Result<SpkiKey<'_>, KeyFormatError> {
    let body = Reader::new(input).expect(der::TAG_SEQUENCE, "SubjectPublicKeyInfo")?;
    let mut r = Reader::new(body);
    let mut alg = Reader::new(r.expect(der::TAG_SEQUENCE, "AlgorithmIdentifier")?);
    let bits = match r.expect(der::TAG_BIT_STRING, "subjectPublicKey")? {
        [0, rest @ ..] => rest,
        _ => return Err(bad("subjectPublicKey")),
    };
    match (
        alg.expect(der::TAG_OID, "algorithm")?,
        alg.optional(der::TAG_OID)?,
    ) {
        (OID_EC_PUBLIC_KEY, Some(OID_P256)) if bits.len() == P256_POINT_LEN => {
            Ok(SpkiKey::P256(bits))
        }
        (OID_ED25519, None) if bits.len() == ED25519_LEN => Ok(SpkiKey::Ed25519(bits)),
        (OID_RSA, None) => Ok(SpkiKey::Rsa(input)),
        _ => Err(KeyFormatError::Algorithm(
            "public key is neither ECDSA P-256, Ed25519 nor RSA",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notary_ed25519(payload: &[&[u8]]) -> Vec<u8> {
        let oid = der::tlv(der::TAG_OID, &[OID_ED25519_NOTARY]);
        let alg = der::tlv(der::TAG_SEQUENCE, &[&oid]);
        let private = der::tlv(der::TAG_OCTET_STRING, payload);
        der::tlv(der::TAG_SEQUENCE, &[&[2, 1, 0], &alg, &private]).to_vec()
    }

    #[test]
    fn notary_ed25519_layouts_of_96_and_64_bytes_are_read() {
        let (seed, public) = ([3u8; 32], [4u8; 32]);
        for der in [
            notary_ed25519(&[&public, &seed, &public]),
            notary_ed25519(&[&seed, &public]),
        ] {
            match parse_private_key_info(&der).unwrap() {
                KeySecret::Ed25519 { seed: s, public: p } => {
                    assert_eq!(s.as_slice(), &seed);
                    assert_eq!(p.as_deref(), Some(&public[..]));
                }
                KeySecret::EcdsaP256 { .. } | KeySecret::Rsa { .. } => panic!("wrong key type"),
            }
        }
        // The two public copies of the 96-byte layout must agree.
        let other = [5u8; 32];
        assert!(matches!(
            parse_private_key_info(&notary_ed25519(&[&public, &seed, &other])),
            Err(KeyFormatError::Inconsistent)
        ));
        assert!(parse_private_key_info(&notary_ed25519(&[&seed])).is_err());
    }

    #[test]
    fn rsa_and_other_curves_are_named_not_misread() {
        let oid = der::tlv(der::TAG_OID, &[OID_RSA]);
        let alg = der::tlv(der::TAG_SEQUENCE, &[&oid, &[0x05, 0x00]]);
        let private = der::tlv(der::TAG_OCTET_STRING, &[&[0x30, 0x00]]);
        let rsa = der::tlv(der::TAG_SEQUENCE, &[&[2, 1, 0], &alg, &private]);
        // RSA is read as RSA (ring checks the key itself when it is used).
        assert!(matches!(
            parse_private_key_info(&rsa),
            Ok(KeySecret::Rsa { pkcs8 }) if pkcs8.as_slice() == rsa.as_slice()
        ));
        let p384 = [0x2b, 0x81, 0x04, 0x00, 0x22];
        let alg = algorithm_identifier(OID_EC_PUBLIC_KEY, Some(&p384));
        let ec = der::tlv(der::TAG_SEQUENCE, &[&[2, 1, 0], &alg, &private]);
        assert!(matches!(
            parse_private_key_info(&ec),
            Err(KeyFormatError::Algorithm(_))
        ));
    }

    #[test]
    fn short_scalars_from_old_encoders_are_left_padded() {
        let point = [4u8; P256_POINT_LEN];
        let d = der::tlv(der::TAG_OCTET_STRING, &[&[0x11; 31]]);
        let bits = der::tlv(der::TAG_BIT_STRING, &[&[0], &point]);
        let public = der::tlv(der::TAG_CONTEXT_1, &[&bits]);
        let sec1 = der::tlv(der::TAG_SEQUENCE, &[&[2, 1, 1], &d, &public]);
        match parse_ec_private_key(&sec1).unwrap() {
            KeySecret::EcdsaP256 { scalar, point: p } => {
                assert_eq!(scalar[0], 0);
                assert_eq!(&scalar[1..], &[0x11; 31]);
                assert_eq!(p.as_deref(), Some(&point[..]));
            }
            KeySecret::Ed25519 { .. } | KeySecret::Rsa { .. } => panic!("wrong key type"),
        }
    }
}
