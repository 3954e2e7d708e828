//! Signature and threshold checks: the only way to obtain a [`Verified`] value.
//!
//! Signatures cover the canonical JSON of `signed`. The verifier is chosen by the *trusted key's*
//! type, never by the signature's `method` (NCC 2015 finding 1): a method that does not fit the
//! key simply does not count. A threshold is met by distinct *public keys* that are listed for the
//! role, whose entry hashes to its id, and whose signature verifies: the same key listed twice
//! (bare and as a certificate, two ids) counts once, by its decoded key material
//! (SECURITY-TESTS scenario 46).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::ops::Deref;

use chrono::{DateTime, Utc};
use ring::signature::{self as sig, UnparsedPublicKey};

use super::canonical::{self, CanonicalError};
use super::envelope::{Signature, SignedEnvelope};
use super::key::{KeyMaterial, PublicKey};
use super::metadata::{Metadata, MetadataError, Root, Targets};
use super::names::{KeyId, RoleName};

/// Metadata whose signatures met its role's threshold. There is no public constructor.
#[derive(Debug, Clone)]
pub struct Verified<T> {
    value: T,
    signed_by: BTreeSet<KeyId>,
}

impl<T> Verified<T> {
    /// The distinct key ids whose signatures counted.
    pub fn signed_by(&self) -> &BTreeSet<KeyId> {
        &self.signed_by
    }
    pub fn get(&self) -> &T {
        &self.value
    }

    /// Metadata whose bytes were verified by an earlier run, as its memo records (the only
    /// caller is [`super::remembered`], which checks the memo against the bytes and authority).
    pub(super) fn recalled(value: T, signed_by: BTreeSet<KeyId>) -> Self {
        Verified { value, signed_by }
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// Why metadata did not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{role}: metadata is malformed")]
    Metadata {
        role: RoleName,
        #[source]
        source: MetadataError,
    },
    #[error("{role}: signed part has no canonical form")]
    Canonical {
        role: RoleName,
        #[source]
        source: CanonicalError,
    },
    /// Notary: "valid signatures did not meet threshold for <role>".
    #[error(
        "{role}: {valid} valid signature(s) from distinct trusted keys, threshold is {threshold}"
    )]
    Threshold {
        role: RoleName,
        valid: usize,
        threshold: u32,
    },
    /// A threshold of 0 would accept a file with no signature at all. The parser refuses it too;
    /// the verifier does not rely on that (TUF: a threshold is at least 1).
    #[error("{role}: threshold 0 is not allowed; a role needs at least one signature")]
    ZeroThreshold { role: RoleName },
}

impl VerifyError {
    pub fn failure(&self) -> crate::failure::Failure {
        crate::failure::Failure::Untrusted
    }
}

/// The keys and threshold that may sign one role.
#[derive(Debug, Clone)]
pub struct Authority {
    role: RoleName,
    keys: BTreeMap<KeyId, PublicKey>,
    threshold: u32,
}

impl Authority {
    /// Keys listed in `keyids` that are present in `keys` and whose material really hashes to
    /// their id (a key filed under someone else's id never counts).
    pub fn new(
        role: RoleName,
        keys: &BTreeMap<KeyId, PublicKey>,
        keyids: &[KeyId],
        threshold: u32,
    ) -> Self {
        let keys = keyids
            .iter()
            .filter_map(|id| {
                keys.get(id)
                    .filter(|k| &k.key_id() == id)
                    .map(|k| (id.clone(), k.clone()))
            })
            .collect();
        Authority {
            role,
            keys,
            threshold,
        }
    }

    /// The keys root assigns to `timestamp`, `snapshot` or `targets`.
    pub fn top_level(root: &Root, role: &RoleName) -> Option<Self> {
        if role == &RoleName::root() {
            return None; // root keys carry extra rules: see `root_keys`
        }
        let r = root.role(role)?;
        Some(Authority::new(
            role.clone(),
            &root.keys,
            &r.keyids,
            r.threshold,
        ))
    }

    /// Root's own keys, reduced to what Notary accepts for root: `*-x509` certificates whose CN is
    /// the GUN and, when `valid_at` is given, that are valid at that time.
    pub fn root_keys(root: &Root, gun: &str, valid_at: Option<DateTime<Utc>>) -> Self {
        let r = root
            .role(&RoleName::root())
            .expect("root metadata always names root");
        let mut a = Authority::new(RoleName::root(), &root.keys, &r.keyids, r.threshold);
        a.keys.retain(|_, k| match k.certificate() {
            Ok(Some(cert)) => {
                cert.common_name.as_deref() == Some(gun)
                    && valid_at.is_none_or(|now| cert.is_valid_at(now))
            }
            _ => false,
        });
        a
    }

    /// The keys `parent` delegates `role` to, if it does.
    pub fn delegated(parent: &Targets, role: &RoleName) -> Option<Self> {
        let d = parent.delegations.roles.iter().find(|d| &d.name == role)?;
        Some(Authority::new(
            role.clone(),
            &parent.delegations.keys,
            &d.keyids,
            d.threshold,
        ))
    }

    pub fn role(&self) -> &RoleName {
        &self.role
    }

    /// A hex sha256 of the role, its threshold and its key ids: equal fingerprints mean the
    /// same keys at the same threshold (a key id is the hash of its key), so a verification
    /// under one holds under the other.
    pub fn fingerprint(&self) -> String {
        let mut text = format!("{}\n{}\n", self.role, self.threshold);
        for id in self.keys.keys() {
            text.push_str(id.as_str());
            text.push('\n');
        }
        hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()))
    }
    pub fn threshold(&self) -> u32 {
        self.threshold
    }
    pub fn key_ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.keys()
    }

    /// Key ids of this authority with a valid signature over `message`, and how many distinct
    /// public keys they are: one key listed under two ids (bare and as a certificate) signing
    /// twice is still one signer.
    fn valid_signers(&self, signatures: &[Signature], message: &[u8]) -> (BTreeSet<KeyId>, usize) {
        let mut ids = BTreeSet::new();
        let mut materials = BTreeSet::new();
        for s in signatures {
            if ids.contains(&s.keyid) {
                continue; // a repeated key id counts once
            }
            if let Some(key) = self.keys.get(&s.keyid)
                && let Ok(material) = key.material()
                && signature_is_valid(&material, &s.method, message, &s.sig)
            {
                ids.insert(s.keyid.clone());
                materials.insert(material);
            }
        }
        (ids, materials.len())
    }
}

/// Verifies `env` as metadata of kind `T` signed by `authority`.
pub fn verify<T: Metadata>(
    env: &SignedEnvelope,
    authority: &Authority,
) -> Result<Verified<T>, VerifyError> {
    verify_by_all(env, &[authority])
}

/// Verifies `env` against several authorities at once, each of which must meet its own threshold
/// (a root rotation must satisfy both the old and the new root keys).
pub fn verify_by_all<T: Metadata>(
    env: &SignedEnvelope,
    authorities: &[&Authority],
) -> Result<Verified<T>, VerifyError> {
    let role = authorities
        .first()
        .expect("at least one authority")
        .role
        .clone();
    // `_type` and schema first: wrong-kind metadata is refused even if its signatures are good.
    let value = T::from_signed(&env.signed).map_err(|source| VerifyError::Metadata {
        role: role.clone(),
        source,
    })?;
    let message = canonical::encode(&env.signed).map_err(|source| VerifyError::Canonical {
        role: role.clone(),
        source,
    })?;
    let signed_by = thresholds_met(&env.signatures, &message, authorities)?;
    Ok(Verified { value, signed_by })
}

/// The key ids whose signatures over `message` count, once every authority's threshold is met.
fn thresholds_met(
    signatures: &[Signature],
    message: &[u8],
    authorities: &[&Authority],
) -> Result<BTreeSet<KeyId>, VerifyError> {
    let mut signed_by = BTreeSet::new();
    for authority in authorities {
        if authority.threshold == 0 {
            return Err(VerifyError::ZeroThreshold {
                role: authority.role.clone(),
            });
        }
        let (ids, distinct_keys) = authority.valid_signers(signatures, message);
        if distinct_keys < authority.threshold as usize {
            return Err(VerifyError::Threshold {
                role: authority.role.clone(),
                valid: distinct_keys,
                threshold: authority.threshold,
            });
        }
        signed_by.extend(ids);
    }
    Ok(signed_by)
}

/// A metadata file as the fast path reads it: `signed` kept as its text.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CanonicalFile<'a> {
    #[serde(borrow)]
    signed: &'a RawValue,
    #[serde(borrow)]
    signatures: Vec<FileSignature<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSignature<'a> {
    #[serde(borrow)]
    keyid: Cow<'a, str>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    sig: Cow<'a, str>,
}

/// `bytes` (a whole metadata file of at most `limit` bytes) verified as kind `T` by
/// `authorities` without building its JSON tree or re-encoding it, when its `signed` text is
/// already in canonical form ([`canonical::is_canonical`]): the signatures then cover that text
/// as it stands, and the typed value is read straight from it. For a sharded repository's
/// 290 KB bin this is the difference between parsing, re-encoding and dropping a tree of
/// thousands of nodes and one scan plus one typed parse.
///
/// `None` unless everything verifies: any file this path does not prove (whitespace, escapes,
/// unknown members, a signature entry with extra fields, a failed check) is for
/// [`verify_by_all`] after [`SignedEnvelope::parse`], which reports exactly what is wrong. So
/// what verifies, and every error, is the same either way (the `fast_path` tests compare them).
pub fn verify_canonical<T: Metadata>(
    bytes: &[u8],
    limit: usize,
    authorities: &[&Authority],
) -> Option<Verified<T>> {
    verify_canonical_with(bytes, limit, T::TYPE, authorities, |text| {
        let value: T = serde_json::from_str(text).ok()?;
        value.check().ok()?;
        Some(value)
    })
}

/// [`verify_canonical`] with the signed text read by `read` (which sees the text inside
/// `bytes`, so it may record where things sit in the file), for a kind read otherwise than by
/// its full typed parse: `read` answers `None` for anything it does not accept exactly as
/// the typed parse of kind `type_name` would.
pub fn verify_canonical_with<T>(
    bytes: &[u8],
    limit: usize,
    type_name: &str,
    authorities: &[&Authority],
    read: impl FnOnce(&str) -> Option<T>,
) -> Option<Verified<T>> {
    if bytes.len() > limit || authorities.is_empty() {
        return None;
    }
    let file: CanonicalFile = serde_json::from_slice(bytes).ok()?;
    let text = file.signed.get();
    // Members are sorted in canonical form, so `_type` leads unless a key sorts before it;
    // a file where one does is left to the full path.
    let rest = text.strip_prefix("{\"_type\":\"")?;
    if !rest.strip_prefix(type_name)?.starts_with("\",") || !canonical::is_canonical(text) {
        return None;
    }
    let mut signatures = Vec::with_capacity(file.signatures.len());
    for s in &file.signatures {
        signatures.push(Signature {
            keyid: KeyId::parse(&s.keyid).ok()?,
            method: s.method.clone().into_owned(),
            sig: STANDARD.decode(s.sig.as_bytes()).ok()?,
        });
    }
    if signatures.is_empty() {
        return None;
    }
    let value = read(text)?;
    let signed_by = thresholds_met(&signatures, text.as_bytes(), authorities).ok()?;
    Some(Verified { value, signed_by })
}

/// How a file's signatures stand against an authority whose threshold they did not meet:
/// signatures under key ids the authority does not list (a retired or replaced key, or a key
/// that never was the role's), and signatures under listed ids that do not verify (bytes or
/// signatures altered). Only the first kind describes a role left behind by a key change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureCensus {
    /// Distinct key ids that signed but are not listed for the role.
    pub unlisted: usize,
    /// Distinct listed key ids whose signature does not verify.
    pub invalid: usize,
}

/// Counts `env`'s signatures against `authority` (see [`SignatureCensus`]). A file whose
/// signed part has no canonical form has no valid signature at all: every listed one counts
/// as invalid.
pub fn census(env: &SignedEnvelope, authority: &Authority) -> SignatureCensus {
    let message = canonical::encode(&env.signed).ok();
    let mut unlisted = BTreeSet::new();
    let mut invalid = BTreeSet::new();
    for s in &env.signatures {
        match authority.keys.get(&s.keyid) {
            None => {
                unlisted.insert(&s.keyid);
            }
            Some(key) => {
                let valid = message.as_deref().is_some_and(|m| {
                    key.material()
                        .is_ok_and(|material| signature_is_valid(&material, &s.method, m, &s.sig))
                });
                if !valid {
                    invalid.insert(&s.keyid);
                }
            }
        }
    }
    SignatureCensus {
        unlisted: unlisted.len(),
        invalid: invalid.len(),
    }
}

/// Checks one signature with the verifier the key type dictates; `method` must fit that verifier.
pub(crate) fn signature_is_valid(
    material: &KeyMaterial,
    method: &str,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let method = method.to_ascii_lowercase();
    match (material, method.as_str()) {
        (KeyMaterial::EcdsaP256(point), "ecdsa") => {
            UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point)
                .verify(message, signature)
                .is_ok()
        }
        // ring has no fixed-format P-384/SHA-256 verifier; Notary's raw r‖s becomes DER first.
        (KeyMaterial::EcdsaP384(point), "ecdsa") => match raw_ecdsa_to_der(signature, 48) {
            Some(der) => UnparsedPublicKey::new(&sig::ECDSA_P384_SHA256_ASN1, point)
                .verify(message, &der)
                .is_ok(),
            None => false,
        },
        (KeyMaterial::Ed25519(raw), "eddsa") => UnparsedPublicKey::new(&sig::ED25519, raw)
            .verify(message, signature)
            .is_ok(),
        (KeyMaterial::Rsa(pkcs1), "rsapss") => {
            UnparsedPublicKey::new(&sig::RSA_PSS_2048_8192_SHA256, pkcs1)
                .verify(message, signature)
                .is_ok()
        }
        (KeyMaterial::Rsa(pkcs1), "rsapkcs1v15") => {
            UnparsedPublicKey::new(&sig::RSA_PKCS1_2048_8192_SHA256, pkcs1)
                .verify(message, signature)
                .is_ok()
        }
        _ => false,
    }
}

/// Raw `r‖s` (each `scalar_len` bytes, as Notary writes them) → DER `SEQUENCE { INTEGER r, INTEGER s }`.
/// DER input is refused by length, as Notary refuses DER signatures.
fn raw_ecdsa_to_der(raw: &[u8], scalar_len: usize) -> Option<Vec<u8>> {
    if raw.len() != 2 * scalar_len {
        return None;
    }
    fn integer(bytes: &[u8], out: &mut Vec<u8>) {
        let start = bytes
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(bytes.len() - 1);
        let trimmed = &bytes[start..];
        let pad = trimmed[0] & 0x80 != 0;
        out.push(0x02);
        out.push(u8::try_from(trimmed.len() + usize::from(pad)).expect("a scalar under 128 bytes"));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(trimmed);
    }
    let mut body = Vec::with_capacity(2 * scalar_len + 6);
    integer(&raw[..scalar_len], &mut body);
    integer(&raw[scalar_len..], &mut body);
    // At most 2*(2+1+48) = 102 < 128: short form.
    let mut der = vec![0x30, u8::try_from(body.len()).expect("under 128 bytes")];
    der.extend_from_slice(&body);
    Some(der)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuf::metadata::{Snapshot, Timestamp};
    use crate::tuf::test_support::fixture;

    const LIMIT: usize = 1 << 20;

    fn env(name: &str) -> SignedEnvelope {
        SignedEnvelope::parse(fixture(name), LIMIT).unwrap()
    }
    fn root(name: &str) -> Root {
        Root::from_signed(&env(name).signed).unwrap()
    }
    fn targets(name: &str) -> Targets {
        Targets::from_signed(&env(name).signed).unwrap()
    }
    fn role(name: &str) -> RoleName {
        RoleName::parse(name).unwrap()
    }

    /// The fast path's answer next to the full path's over the same bytes.
    fn both_paths<T: Metadata + PartialEq + std::fmt::Debug>(
        bytes: &[u8],
        authority: &Authority,
    ) -> (Option<Verified<T>>, Result<Verified<T>, String>) {
        let fast = verify_canonical::<T>(bytes, LIMIT, &[authority]);
        let full = SignedEnvelope::parse(bytes, LIMIT)
            .map_err(|e| e.to_string())
            .and_then(|env| verify::<T>(&env, authority).map_err(|e| e.to_string()));
        if let (Some(fast), Ok(full)) = (&fast, &full) {
            assert_eq!(fast.get(), full.get());
            assert_eq!(fast.signed_by(), full.signed_by());
        }
        (fast, full)
    }

    fn qa_authority() -> Authority {
        Authority::delegated(&targets("targets.json"), &role("targets/qa")).unwrap()
    }

    #[test]
    fn fast_path_verifies_canonical_files_as_the_full_path_does() {
        let r = root("root.json");
        let sn = Authority::top_level(&r, &RoleName::snapshot()).unwrap();
        let tg = Authority::top_level(&r, &RoleName::targets()).unwrap();
        let (fast, full) = both_paths::<Snapshot>(fixture("snapshot.json"), &sn);
        assert!(fast.is_some() && full.is_ok());
        for name in ["targets.json", "targets.v2.json"] {
            let (fast, full) = both_paths::<Targets>(fixture(name), &tg);
            assert!(fast.is_some() && full.is_ok(), "{name}");
        }
        let (fast, full) = both_paths::<Targets>(fixture("targets-qa.json"), &qa_authority());
        assert!(fast.is_some() && full.is_ok());
    }

    #[test]
    fn fast_path_leaves_a_file_written_with_whitespace_to_the_full_path_which_verifies_it() {
        let v: serde_json::Value = serde_json::from_slice(fixture("targets-qa.json")).unwrap();
        let pretty = serde_json::to_vec_pretty(&v).unwrap();
        let (fast, full) = both_paths::<Targets>(&pretty, &qa_authority());
        assert!(fast.is_none());
        full.unwrap();
    }

    #[test]
    fn fast_path_leaves_html_escaped_names_to_the_full_path_which_verifies_them() {
        let file = fixture("targets.name-with-html-chars.json");
        assert!(std::str::from_utf8(file).unwrap().contains("\\u0026"));
        // This GUN's targets key is listed in the rotated root of the same GUN.
        let r = root("root.after-root-rotation.json");
        let tg = Authority::top_level(&r, &RoleName::targets()).unwrap();
        let (fast, full) = both_paths::<Targets>(file, &tg);
        assert!(fast.is_none());
        full.unwrap();
    }

    #[test]
    fn fast_path_answers_nothing_for_a_tampered_canonical_file_and_the_full_path_refuses_it() {
        let text = std::str::from_utf8(fixture("targets-qa.json")).unwrap();
        let tampered = text.replacen("\"length\":", "\"length\":1", 1);
        assert_ne!(tampered, text);
        let (fast, full) = both_paths::<Targets>(tampered.as_bytes(), &qa_authority());
        assert!(fast.is_none());
        assert!(full.unwrap_err().contains("threshold"));
    }

    #[test]
    fn fast_path_answers_nothing_for_duplicate_or_unknown_members_the_full_path_judges() {
        let text = std::str::from_utf8(fixture("targets-qa.json")).unwrap();
        let (sigs_at, _) = text.match_indices(",\"signatures\":").next().unwrap();
        let signatures = &text[sigs_at..text.len() - 1];
        let twice = format!("{}{}}}", &text[..text.len() - 1], signatures);
        let extra = format!(
            "{},\"extra\":{{\"a\":1,\"a\":2}}}}",
            &text[..text.len() - 1]
        );
        let doubled_type = text.replacen(
            "{\"_type\":\"Targets\",",
            "{\"_type\":\"Targets\",\"_type\":\"Targets\",",
            1,
        );
        for bytes in [twice, extra, doubled_type] {
            let (fast, full) = both_paths::<Targets>(bytes.as_bytes(), &qa_authority());
            assert!(fast.is_none(), "{bytes}");
            assert!(full.unwrap_err().contains("JSON"), "{bytes}");
        }
    }

    #[test]
    fn fast_path_answers_nothing_for_the_wrong_kind_or_an_oversized_file() {
        let sn = Authority::top_level(&root("root.json"), &RoleName::snapshot()).unwrap();
        assert!(verify_canonical::<Targets>(fixture("snapshot.json"), LIMIT, &[&sn]).is_none());
        let file = fixture("snapshot.json");
        assert!(verify_canonical::<Snapshot>(file, file.len() - 1, &[&sn]).is_none());
        assert!(verify_canonical::<Snapshot>(file, file.len(), &[&sn]).is_some());
    }

    proptest::proptest! {
        #[test]
        fn fast_path_never_answers_what_the_full_path_would_not(
            at in proptest::prelude::any::<proptest::sample::Index>(),
            byte in proptest::prelude::any::<u8>(),
        ) {
            let mut bytes = fixture("targets-qa.json").to_vec();
            let i = at.index(bytes.len());
            bytes[i] = byte;
            let (fast, full) = both_paths::<Targets>(&bytes, &qa_authority());
            if fast.is_some() {
                proptest::prop_assert!(full.is_ok());
            }
        }
    }

    #[test]
    fn myorg_app_samples_verify_against_their_root() {
        let r = root("root.json");
        let ts = Authority::top_level(&r, &RoleName::timestamp()).unwrap();
        let sn = Authority::top_level(&r, &RoleName::snapshot()).unwrap();
        let tg = Authority::top_level(&r, &RoleName::targets()).unwrap();
        verify::<Timestamp>(&env("timestamp.json"), &ts).unwrap();
        verify::<Snapshot>(&env("snapshot.json"), &sn).unwrap();
        verify::<Targets>(&env("targets.json"), &tg).unwrap();
        verify::<Targets>(&env("targets.v2.json"), &tg).unwrap();
        let qa = Authority::delegated(&targets("targets.json"), &role("targets/qa")).unwrap();
        verify::<Targets>(&env("targets-qa.json"), &qa).unwrap();
        verify::<Targets>(
            &env("targets-qa.v2.signed-with-x509-delegation-key.json"),
            &qa,
        )
        .unwrap();
        // root v1 used a client-held snapshot key.
        let r1 = root("root.v1.x509-root.json");
        let sn1 = Authority::top_level(&r1, &RoleName::snapshot()).unwrap();
        verify::<Snapshot>(&env("snapshot.v2.client-signed.json"), &sn1).unwrap();
    }

    #[test]
    fn root_samples_verify_against_their_own_certificates() {
        for (name, gun) in [
            ("root.json", "127.0.0.1:5000/myorg/app"),
            ("root.v1.x509-root.json", "127.0.0.1:5000/myorg/app"),
            ("root.v2.json", "127.0.0.1:5000/myorg/app"),
            ("root.remote-signer.json", "127.0.0.1:5000/signer/test"),
            ("deleg2/root.json", "127.0.0.1:5000/test/deleg2"),
        ] {
            let now = crate::tuf::test_support::now();
            let a = Authority::root_keys(&root(name), gun, Some(now));
            verify::<Root>(&env(name), &a).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
    }

    #[test]
    fn remote_signer_ecdsa_samples_verify() {
        let r = root("root.remote-signer.json");
        verify::<Timestamp>(
            &env("timestamp.remote-signer-ecdsa.json"),
            &Authority::top_level(&r, &RoleName::timestamp()).unwrap(),
        )
        .unwrap();
        verify::<Snapshot>(
            &env("snapshot.remote-signer-ecdsa.json"),
            &Authority::top_level(&r, &RoleName::snapshot()).unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn every_key_type_and_method_in_deleg2_verifies() {
        let r = root("deleg2/root.json");
        verify::<Timestamp>(
            &env("deleg2/timestamp.json"),
            &Authority::top_level(&r, &RoleName::timestamp()).unwrap(),
        )
        .unwrap();
        verify::<Snapshot>(
            &env("deleg2/snapshot.json"),
            &Authority::top_level(&r, &RoleName::snapshot()).unwrap(),
        )
        .unwrap();
        let top = targets("deleg2/targets.json");
        verify::<Targets>(
            &env("deleg2/targets.json"),
            &Authority::top_level(&r, &RoleName::targets()).unwrap(),
        )
        .unwrap();
        for (file, name) in [
            ("deleg2/targets-ecx509.json", "targets/ecx509"),
            ("deleg2/targets-ed.json", "targets/ed"),
            ("deleg2/targets-hp.json", "targets/hp"),
            ("deleg2/targets-p384.json", "targets/p384"),
            ("deleg2/targets-paths.json", "targets/paths"),
            ("deleg2/targets-rsa.rsapkcs1v15.json", "targets/rsa"),
            ("deleg2/targets-rsa.rsapss.json", "targets/rsa"),
            ("deleg2/targets-rsax509.json", "targets/rsax509"),
            ("deleg2/targets-t2.json", "targets/t2"),
        ] {
            let a = Authority::delegated(&top, &role(name)).unwrap();
            verify::<Targets>(&env(file), &a).unwrap_or_else(|e| panic!("{file}: {e:?}"));
        }
    }

    #[test]
    fn flipped_signature_byte_is_refused() {
        let r = root("deleg2/root.json");
        let top = targets("deleg2/targets.json");
        for (file, name) in [
            ("deleg2/targets-ed.json", "targets/ed"),
            ("deleg2/targets-p384.json", "targets/p384"),
            ("deleg2/targets-rsa.rsapss.json", "targets/rsa"),
            ("deleg2/targets-ecx509.json", "targets/ecx509"),
        ] {
            let mut e = env(file);
            e.signatures[0].sig[5] ^= 1;
            let a = Authority::delegated(&top, &role(name)).unwrap();
            assert!(
                matches!(
                    verify::<Targets>(&e, &a),
                    Err(VerifyError::Threshold { valid: 0, .. })
                ),
                "{file}"
            );
        }
        let mut e = env("deleg2/targets.json");
        e.signatures[0].sig[0] ^= 0x80;
        assert!(matches!(
            verify::<Targets>(&e, &Authority::top_level(&r, &RoleName::targets()).unwrap()),
            Err(VerifyError::Threshold { valid: 0, .. })
        ));
    }

    #[test]
    fn tampered_signed_content_is_refused() {
        let r = root("root.json");
        let mut e = env("targets.json");
        e.signed["targets"]["v1"]["length"] = 16.into();
        assert!(matches!(
            verify::<Targets>(&e, &Authority::top_level(&r, &RoleName::targets()).unwrap()),
            Err(VerifyError::Threshold { valid: 0, .. })
        ));
    }

    #[test]
    fn threshold_met_by_repeated_key_id_is_refused() {
        let top = targets("deleg2/targets.json");
        let a = Authority::delegated(&top, &role("targets/t2")).unwrap();
        let mut e = env("deleg2/targets-t2.json");
        let first = e.signatures[0].clone();
        e.signatures[1] = first.clone();
        e.signatures.push(first);
        assert!(matches!(
            verify::<Targets>(&e, &a),
            Err(VerifyError::Threshold {
                valid: 1,
                threshold: 2,
                ..
            })
        ));
    }

    /// A targets file with the given signatures over its canonical `signed` part.
    fn signed_by(sigs: impl Fn(&[u8]) -> Vec<crate::tuf::envelope::Signature>) -> SignedEnvelope {
        let mut e = env("targets.json");
        let message = canonical::encode(&e.signed).unwrap();
        e.signatures = sigs(&message);
        e
    }

    #[test]
    fn one_key_listed_bare_and_as_its_certificate_does_not_meet_a_threshold_of_2_exit_3() {
        use crate::tuf::test_support::TestKey;
        let key = TestKey::ecdsa();
        let (cert_id, cert) = key.certificate_twin("example.com/org/app");
        assert_ne!(cert_id, key.id, "two different, correct key ids");
        let keys = BTreeMap::from([
            (key.id.clone(), key.public.clone()),
            (cert_id.clone(), cert),
        ]);
        let ids = [key.id.clone(), cert_id.clone()];
        let two_of_two = Authority::new(role("targets/qa"), &keys, &ids, 2);
        let e = signed_by(|m| vec![key.sign(m), key.sign_under(m, &cert_id)]);
        let err = verify::<Targets>(&e, &two_of_two).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::Threshold {
                    valid: 1,
                    threshold: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.failure(), crate::failure::Failure::Untrusted);
        // The same signatures meet a threshold of 1, and both ids are recorded as signers.
        let one = Authority::new(role("targets/qa"), &keys, &ids, 1);
        let ok = verify::<Targets>(&e, &one).unwrap();
        assert_eq!(ok.signed_by().len(), 2);
    }

    #[test]
    fn two_distinct_keys_meet_a_threshold_of_2() {
        use crate::tuf::test_support::TestKey;
        let (a, b) = (TestKey::ecdsa(), TestKey::ed25519());
        let keys = BTreeMap::from([
            (a.id.clone(), a.public.clone()),
            (b.id.clone(), b.public.clone()),
        ]);
        let ids = [a.id.clone(), b.id.clone()];
        let authority = Authority::new(role("targets/qa"), &keys, &ids, 2);
        verify::<Targets>(&signed_by(|m| vec![a.sign(m), b.sign(m)]), &authority).unwrap();
        assert!(matches!(
            verify::<Targets>(&signed_by(|m| vec![a.sign(m)]), &authority),
            Err(VerifyError::Threshold { valid: 1, .. })
        ));
    }

    #[test]
    fn threshold_0_is_refused_by_the_verifier_even_with_a_good_signature() {
        use crate::tuf::test_support::TestKey;
        let key = TestKey::ecdsa();
        let keys = BTreeMap::from([(key.id.clone(), key.public.clone())]);
        let zero = Authority::new(role("targets/qa"), &keys, std::slice::from_ref(&key.id), 0);
        for e in [signed_by(|m| vec![key.sign(m)]), signed_by(|_| vec![])] {
            let err = verify::<Targets>(&e, &zero).unwrap_err();
            assert!(matches!(err, VerifyError::ZeroThreshold { .. }), "{err:?}");
            assert_eq!(err.failure(), crate::failure::Failure::Untrusted);
        }
    }

    #[test]
    fn method_not_fitting_the_key_type_is_refused() {
        let top = targets("deleg2/targets.json");
        // eddsa claimed on an ECDSA key, ecdsa claimed on an ed25519 key, pss claimed on ecdsa.
        for (file, name, method) in [
            ("deleg2/targets-hp.json", "targets/hp", "eddsa"),
            ("deleg2/targets-ed.json", "targets/ed", "ecdsa"),
            ("deleg2/targets-hp.json", "targets/hp", "rsapss"),
            (
                "deleg2/targets-rsa.rsapss.json",
                "targets/rsa",
                "rsapkcs1v15",
            ),
        ] {
            let mut e = env(file);
            e.signatures[0].method = method.into();
            let a = Authority::delegated(&top, &role(name)).unwrap();
            assert!(
                matches!(
                    verify::<Targets>(&e, &a),
                    Err(VerifyError::Threshold { valid: 0, .. })
                ),
                "{file} {method}"
            );
        }
    }

    #[test]
    fn method_is_compared_case_insensitively() {
        let top = targets("deleg2/targets.json");
        let mut e = env("deleg2/targets-hp.json");
        e.signatures[0].method = "ECDSA".into();
        verify::<Targets>(
            &e,
            &Authority::delegated(&top, &role("targets/hp")).unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn signature_by_key_of_another_role_is_refused() {
        let top = targets("deleg2/targets.json");
        // targets/ed's file checked against targets/hp's authority.
        let a = Authority::delegated(&top, &role("targets/hp")).unwrap();
        assert!(matches!(
            verify::<Targets>(&env("deleg2/targets-ed.json"), &a),
            Err(VerifyError::Threshold { valid: 0, .. })
        ));
    }

    #[test]
    fn wrong_type_is_refused_even_with_good_signatures() {
        let r = root("root.json");
        let a = Authority::top_level(&r, &RoleName::snapshot()).unwrap();
        let err = verify::<Timestamp>(&env("snapshot.json"), &a).unwrap_err();
        assert!(matches!(
            err,
            VerifyError::Metadata {
                source: MetadataError::WrongType { .. },
                ..
            }
        ));
    }

    #[test]
    fn der_ecdsa_signature_is_refused() {
        let top = targets("deleg2/targets.json");
        let mut e = env("deleg2/targets-hp.json");
        let raw = e.signatures[0].sig.clone();
        e.signatures[0].sig = raw_ecdsa_to_der(&raw, 32).unwrap();
        assert!(matches!(
            verify::<Targets>(
                &e,
                &Authority::delegated(&top, &role("targets/hp")).unwrap()
            ),
            Err(VerifyError::Threshold { valid: 0, .. })
        ));
    }

    #[test]
    fn key_listed_under_a_wrong_id_does_not_count() {
        let top = targets("deleg2/targets.json");
        let mut forged = top.clone();
        let hp_id = forged
            .delegations
            .roles
            .iter()
            .find(|d| d.name.as_str() == "targets/hp")
            .unwrap()
            .keyids[0]
            .clone();
        let ed_key = forged
            .delegations
            .keys
            .values()
            .find(|k| k.keytype == crate::tuf::key::KeyType::Ed25519)
            .unwrap()
            .clone();
        forged.delegations.keys.insert(hp_id, ed_key);
        let a = Authority::delegated(&forged, &role("targets/hp")).unwrap();
        assert_eq!(a.key_ids().count(), 0);
    }

    #[test]
    fn root_signed_by_certificate_with_other_cn_is_refused() {
        let now = crate::tuf::test_support::now();
        let a = Authority::root_keys(&root("root.json"), "127.0.0.1:5000/other/app", Some(now));
        assert!(matches!(
            verify::<Root>(&env("root.json"), &a),
            Err(VerifyError::Threshold { valid: 0, .. })
        ));
    }

    #[test]
    fn root_certificate_not_yet_valid_or_expired_is_refused() {
        let gun = "127.0.0.1:5000/myorg/app";
        let before = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let after = DateTime::parse_from_rfc3339("2037-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        for t in [before, after] {
            let a = Authority::root_keys(&root("root.json"), gun, Some(t));
            assert!(matches!(
                verify::<Root>(&env("root.json"), &a),
                Err(VerifyError::Threshold { valid: 0, .. })
            ));
        }
    }

    #[test]
    fn signature_covers_canonical_form_not_html_escaped_file_bytes() {
        // This GUN's targets key is listed in the rotated root of the same GUN.
        let r = root("root.after-root-rotation.json");
        let a = Authority::top_level(&r, &RoleName::targets()).unwrap();
        let e = env("targets.name-with-html-chars.json");
        verify::<Targets>(&e, &a).unwrap();
        // The same signature over the file's own (escaped) `signed` text does not verify.
        let file = std::str::from_utf8(fixture("targets.name-with-html-chars.json")).unwrap();
        let escaped = &file["{\"signed\":".len()..file.rfind(",\"signatures\":").unwrap()];
        assert!(escaped.contains("\\u0026") || escaped.contains("\\u003c"));
        let key = r
            .keys
            .get(&e.signatures[0].keyid)
            .unwrap()
            .material()
            .unwrap();
        assert!(!signature_is_valid(
            &key,
            "ecdsa",
            escaped.as_bytes(),
            &e.signatures[0].sig
        ));
        assert!(signature_is_valid(
            &key,
            "ecdsa",
            &canonical::encode(&e.signed).unwrap(),
            &e.signatures[0].sig
        ));
    }
}
