//! Test-only helpers: the Notary fixtures, a fixed clock, and signing with throwaway keys.
//!
//! Attack tests need metadata signed by keys the test controls, including root certificates with
//! CN = GUN; keys are generated with ring and certificates are assembled as minimal DER here, so
//! no certificate generator is needed.

use chrono::{DateTime, Utc};

/// Every file of `fixtures/notary` (served by a live notary-server 0.7.0), by relative name.
pub const FIXTURES: &[(&str, &[u8])] = &[
    (
        "root.after-root-rotation.json",
        include_bytes!("../../fixtures/notary/root.after-root-rotation.json"),
    ),
    (
        "root.json",
        include_bytes!("../../fixtures/notary/root.json"),
    ),
    (
        "root.remote-signer.json",
        include_bytes!("../../fixtures/notary/root.remote-signer.json"),
    ),
    (
        "root.v1.x509-root.json",
        include_bytes!("../../fixtures/notary/root.v1.x509-root.json"),
    ),
    (
        "root.v2.json",
        include_bytes!("../../fixtures/notary/root.v2.json"),
    ),
    (
        "snapshot.json",
        include_bytes!("../../fixtures/notary/snapshot.json"),
    ),
    (
        "snapshot.key.json",
        include_bytes!("../../fixtures/notary/snapshot.key.json"),
    ),
    (
        "snapshot.remote-signer-ecdsa.json",
        include_bytes!("../../fixtures/notary/snapshot.remote-signer-ecdsa.json"),
    ),
    (
        "snapshot.v2.client-signed.json",
        include_bytes!("../../fixtures/notary/snapshot.v2.client-signed.json"),
    ),
    (
        "targets-qa.json",
        include_bytes!("../../fixtures/notary/targets-qa.json"),
    ),
    (
        "targets-qa.v2.signed-with-x509-delegation-key.json",
        include_bytes!("../../fixtures/notary/targets-qa.v2.signed-with-x509-delegation-key.json"),
    ),
    (
        "targets.json",
        include_bytes!("../../fixtures/notary/targets.json"),
    ),
    (
        "targets.name-with-html-chars.json",
        include_bytes!("../../fixtures/notary/targets.name-with-html-chars.json"),
    ),
    (
        "targets.unicode-sort.json",
        include_bytes!("../../fixtures/notary/targets.unicode-sort.json"),
    ),
    (
        "targets.v2.json",
        include_bytes!("../../fixtures/notary/targets.v2.json"),
    ),
    (
        "timestamp.json",
        include_bytes!("../../fixtures/notary/timestamp.json"),
    ),
    (
        "timestamp.key.json",
        include_bytes!("../../fixtures/notary/timestamp.key.json"),
    ),
    (
        "timestamp.remote-signer-ecdsa.json",
        include_bytes!("../../fixtures/notary/timestamp.remote-signer-ecdsa.json"),
    ),
    (
        "deleg2/root.json",
        include_bytes!("../../fixtures/notary/deleg2/root.json"),
    ),
    (
        "deleg2/snapshot.json",
        include_bytes!("../../fixtures/notary/deleg2/snapshot.json"),
    ),
    (
        "deleg2/targets-ecx509.json",
        include_bytes!("../../fixtures/notary/deleg2/targets-ecx509.json"),
    ),
    (
        "deleg2/targets-ed.json",
        include_bytes!("../../fixtures/notary/deleg2/targets-ed.json"),
    ),
    (
        "deleg2/targets-hp.json",
        include_bytes!("../../fixtures/notary/deleg2/targets-hp.json"),
    ),
    (
        "deleg2/targets-p384.json",
        include_bytes!("../../fixtures/notary/deleg2/targets-p384.json"),
    ),
    (
        "deleg2/targets-paths.json",
        include_bytes!("../../fixtures/notary/deleg2/targets-paths.json"),
    ),
    (
        "deleg2/targets-rsa.rsapkcs1v15.json",
        include_bytes!("../../fixtures/notary/deleg2/targets-rsa.rsapkcs1v15.json"),
    ),
    (
        "deleg2/targets-rsa.rsapss.json",
        include_bytes!("../../fixtures/notary/deleg2/targets-rsa.rsapss.json"),
    ),
    (
        "deleg2/targets-rsax509.json",
        include_bytes!("../../fixtures/notary/deleg2/targets-rsax509.json"),
    ),
    (
        "deleg2/targets-t2.json",
        include_bytes!("../../fixtures/notary/deleg2/targets-t2.json"),
    ),
    (
        "deleg2/targets.json",
        include_bytes!("../../fixtures/notary/deleg2/targets.json"),
    ),
    (
        "deleg2/timestamp.json",
        include_bytes!("../../fixtures/notary/deleg2/timestamp.json"),
    ),
];

pub fn all_fixtures() -> impl Iterator<Item = (&'static str, &'static [u8])> {
    FIXTURES.iter().copied()
}

pub fn fixture(name: &str) -> &'static [u8] {
    FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fixture {name}"))
        .1
}

/// A time at which every fixture is valid: after the samples were made (2026-11-27 ~21:30 UTC)
/// and before the earliest timestamp expiry (2026-12-11).
pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T00:00:00Z")
        .unwrap()
        .to_utc()
}

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair};

use super::envelope::Signature;
use super::key::{KeyType, PublicKey};
use super::limits::Limits;
use super::metadata::{
    DelegatedRole, Delegations, Expires, FileMeta, Metadata, RoleKeys, Root, Snapshot, Targets,
    Timestamp, TypeTag, Version,
};
use super::names::{KeyId, RoleName};
use super::trusted::TrustedState;
use super::write;

/// The GUN of generated test repositories.
pub const GUN: &str = "example.com/org/app";

pub fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

/// An expiry far after [`now`].
pub fn far() -> Expires {
    Expires::new(at("2030-01-01T00:00:00Z"))
}

/// An expiry just before [`now`].
pub fn past() -> Expires {
    Expires::new(at("2026-11-27T23:59:59Z"))
}

pub fn v(n: u64) -> Version {
    Version::new(n).unwrap()
}

enum Pair {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A throwaway signing key and the public key entry that lists it.
pub struct TestKey {
    pair: Pair,
    pub public: PublicKey,
    pub id: KeyId,
    /// The PKCS#8 document of a bare [`TestKey::ecdsa`] key (empty for the others), so a flow
    /// test can put the same key into a key store.
    pub pkcs8: Vec<u8>,
}

const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

fn ecdsa_pair() -> EcdsaKeyPair {
    ecdsa_pair_and_pkcs8().0
}

fn ecdsa_pair_and_pkcs8() -> (EcdsaKeyPair, Vec<u8>) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
    (pair, pkcs8.as_ref().to_vec())
}

fn spki_of(pair: &EcdsaKeyPair) -> Vec<u8> {
    let mut spki = P256_SPKI_PREFIX.to_vec();
    spki.extend_from_slice(pair.public_key().as_ref());
    spki
}

impl TestKey {
    fn with(pair: Pair, public: PublicKey) -> Self {
        let id = public.key_id();
        TestKey {
            pair,
            public,
            id,
            pkcs8: Vec::new(),
        }
    }

    /// A bare P-256 key (`ecdsa`), as the Go client makes for targets and snapshot.
    pub fn ecdsa() -> Self {
        let (pair, pkcs8) = ecdsa_pair_and_pkcs8();
        let public = PublicKey::new(KeyType::Ecdsa, spki_of(&pair));
        let mut key = Self::with(Pair::Ecdsa(pair), public);
        key.pkcs8 = pkcs8;
        key
    }

    /// An ed25519 key, as notary-server's local signer makes for timestamp.
    pub fn ed25519() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let public = PublicKey::new(KeyType::Ed25519, pair.public_key().as_ref().to_vec());
        Self::with(Pair::Ed25519(pair), public)
    }

    /// A root key: P-256 wrapped in a self-issued certificate with CN = `cn`, valid for 10 years
    /// from 2026-11-27 (like the Go client's).
    pub fn root_cert(cn: &str) -> Self {
        Self::root_cert_valid(cn, at("2026-11-27T00:00:00Z"), at("2036-11-24T00:00:00Z"))
    }

    pub fn root_cert_valid(cn: &str, not_before: DateTime<Utc>, not_after: DateTime<Utc>) -> Self {
        let pair = ecdsa_pair();
        let pem = certificate_pem(cn, &spki_of(&pair), not_before, not_after);
        let public = PublicKey::new(KeyType::EcdsaX509, pem);
        Self::with(Pair::Ecdsa(pair), public)
    }

    /// The same P-256 key wrapped in a certificate (`ecdsa-x509`): one key under a second,
    /// different and correct key id (SECURITY-TESTS scenario 46).
    pub fn certificate_twin(&self, cn: &str) -> (KeyId, PublicKey) {
        self.certificate_twin_until(cn, at("2036-11-24T00:00:00Z"))
    }

    /// Like [`TestKey::certificate_twin`], with its own expiry: a second certificate of a root
    /// key (another PEM, so another id) for the same key material.
    pub fn certificate_twin_until(&self, cn: &str, not_after: DateTime<Utc>) -> (KeyId, PublicKey) {
        let Pair::Ecdsa(pair) = &self.pair else {
            panic!("only P-256 test keys have certificates")
        };
        let pem = certificate_pem(cn, &spki_of(pair), at("2026-11-27T00:00:00Z"), not_after);
        let public = PublicKey::new(KeyType::EcdsaX509, pem);
        (public.key_id(), public)
    }

    /// Signs, filing the signature under `keyid` (for a key listed under several ids).
    pub fn sign_under(&self, message: &[u8], keyid: &KeyId) -> Signature {
        Signature {
            keyid: keyid.clone(),
            ..self.sign(message)
        }
    }

    /// Signs with the method Notary writes for this key type.
    pub fn sign(&self, message: &[u8]) -> Signature {
        let method = match self.pair {
            Pair::Ecdsa(_) => "ecdsa",
            Pair::Ed25519(_) => "eddsa",
        };
        self.sign_as(message, method)
    }

    /// Signs, claiming `method` (for algorithm-confusion tests).
    pub fn sign_as(&self, message: &[u8], method: &str) -> Signature {
        let sig = match &self.pair {
            Pair::Ecdsa(p) => p
                .sign(&SystemRandom::new(), message)
                .unwrap()
                .as_ref()
                .to_vec(),
            Pair::Ed25519(p) => p.sign(message).as_ref().to_vec(),
        };
        Signature {
            keyid: self.id.clone(),
            method: method.into(),
            sig,
        }
    }
}

/// Signs typed metadata with each key and writes the file the way Go would.
pub fn sign<T: Metadata>(meta: &T, keys: &[&TestKey]) -> Vec<u8> {
    let msg = write::signing_bytes(&write::signed_value(meta).unwrap()).unwrap();
    let sigs: Vec<Signature> = keys.iter().map(|k| k.sign(&msg)).collect();
    write::metadata_file(meta, &sigs).unwrap()
}

/// The bytes a key signs for `meta`.
pub fn message<T: Metadata>(meta: &T) -> Vec<u8> {
    write::signing_bytes(&write::signed_value(meta).unwrap()).unwrap()
}

fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match body.len() {
        n if n < 0x100 => {
            let n = u8::try_from(n).expect("below 0x100");
            if n < 0x80 {
                out.push(n);
            } else {
                out.extend_from_slice(&[0x81, n]);
            }
        }
        n => {
            let [hi, lo] = u16::try_from(n)
                .expect("test DER under 64 KiB")
                .to_be_bytes();
            out.extend_from_slice(&[0x82, hi, lo]);
        }
    }
    out.extend_from_slice(body);
    out
}

fn der_time(t: DateTime<Utc>) -> Vec<u8> {
    use chrono::Datelike;
    if (1950..2050).contains(&t.year()) {
        tlv(0x17, t.format("%y%m%d%H%M%SZ").to_string().as_bytes())
    } else {
        tlv(0x18, t.format("%Y%m%d%H%M%SZ").to_string().as_bytes())
    }
}

/// A minimal X.509 v3 certificate (CN, validity, key) as DER → PEM. Its own signature is a
/// placeholder: Notary uses root certificates only as named, dated key containers and never
/// checks the certificate signature, and neither does this crate.
pub fn certificate_pem(
    cn: &str,
    spki: &[u8],
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
) -> Vec<u8> {
    let ecdsa_with_sha256 = tlv(
        0x30,
        &tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
    );
    let name = tlv(
        0x30,
        &tlv(
            0x31,
            &tlv(
                0x30,
                &[tlv(0x06, &[0x55, 0x04, 0x03]), tlv(0x0c, cn.as_bytes())].concat(),
            ),
        ),
    );
    let validity = tlv(0x30, &[der_time(not_before), der_time(not_after)].concat());
    let tbs = tlv(
        0x30,
        &[
            tlv(0xa0, &tlv(0x02, &[2])),
            tlv(0x02, &[1]),
            ecdsa_with_sha256.clone(),
            name.clone(),
            validity,
            name,
            spki.to_vec(),
        ]
        .concat(),
    );
    let placeholder_sig = tlv(0x30, &[tlv(0x02, &[1]), tlv(0x02, &[1])].concat());
    let bitstring = tlv(0x03, &[&[0u8][..], &placeholder_sig].concat());
    let der = tlv(0x30, &[tbs, ecdsa_with_sha256, bitstring].concat());
    let b64 = STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem.into_bytes()
}

fn role_keys(keys: &[&TestKey], threshold: u32) -> RoleKeys {
    RoleKeys {
        keyids: keys.iter().map(|k| k.id.clone()).collect(),
        threshold,
    }
}

/// Root metadata listing the given keys, thresholds 1 (root: `root_threshold`).
pub fn root_meta(
    version: u64,
    expires: Expires,
    root: &[&TestKey],
    root_threshold: u32,
    ts: &TestKey,
    sn: &TestKey,
    tg: &TestKey,
) -> Root {
    let mut keys = BTreeMap::new();
    for k in root.iter().chain([&ts, &sn, &tg]) {
        keys.insert(k.id.clone(), k.public.clone());
    }
    let mut roles = BTreeMap::new();
    roles.insert("root".to_string(), role_keys(root, root_threshold));
    roles.insert("timestamp".to_string(), role_keys(&[ts], 1));
    roles.insert("snapshot".to_string(), role_keys(&[sn], 1));
    roles.insert("targets".to_string(), role_keys(&[tg], 1));
    Root {
        type_tag: TypeTag::default(),
        consistent_snapshot: false,
        expires,
        keys,
        roles,
        version: v(version),
    }
}

/// Targets metadata with the given targets (name → content).
pub fn targets_meta(version: u64, expires: Expires, targets: &[(&str, &[u8])]) -> Targets {
    Targets {
        type_tag: TypeTag::default(),
        delegations: Delegations::default(),
        expires,
        targets: targets
            .iter()
            .map(|(n, c)| (n.to_string(), FileMeta::of(c)))
            .collect(),
        version: v(version),
    }
}

/// Adds a delegation `name` with `paths` to `parent`.
pub fn delegate(
    parent: &mut Targets,
    name: &str,
    paths: &[&str],
    keys: &[&TestKey],
    threshold: u32,
) {
    for k in keys {
        parent
            .delegations
            .keys
            .insert(k.id.clone(), k.public.clone());
    }
    parent.delegations.roles.push(DelegatedRole {
        keyids: keys.iter().map(|k| k.id.clone()).collect(),
        name: RoleName::parse(name).unwrap(),
        paths: paths.iter().map(std::string::ToString::to_string).collect(),
        threshold,
    });
}

pub fn snapshot_meta(
    version: u64,
    expires: Expires,
    files: &BTreeMap<RoleName, Vec<u8>>,
) -> Snapshot {
    Snapshot {
        type_tag: TypeTag::default(),
        expires,
        meta: files
            .iter()
            .map(|(r, b)| (r.to_string(), FileMeta::of(b)))
            .collect(),
        version: v(version),
    }
}

pub fn timestamp_meta(version: u64, expires: Expires, snapshot: &[u8]) -> Timestamp {
    let mut meta = BTreeMap::new();
    meta.insert("snapshot".to_string(), FileMeta::of(snapshot));
    Timestamp {
        type_tag: TypeTag::default(),
        expires,
        meta,
        version: v(version),
    }
}

/// A generated repository: keys, and the current bytes of every role.
pub struct Repo {
    pub root_key: TestKey,
    pub ts_key: TestKey,
    pub sn_key: TestKey,
    pub tg_key: TestKey,
    pub root: Vec<u8>,
    /// root, targets and delegation files, as the snapshot lists them.
    pub files: BTreeMap<RoleName, Vec<u8>>,
    pub snapshot: Vec<u8>,
    pub timestamp: Vec<u8>,
}

impl Repo {
    /// Root v1, targets v1 with `app/v1`, snapshot v1, timestamp v1; everything unexpired.
    pub fn new() -> Self {
        let (root_key, ts_key, sn_key, tg_key) = (
            TestKey::root_cert(GUN),
            TestKey::ed25519(),
            TestKey::ecdsa(),
            TestKey::ecdsa(),
        );
        let root = sign(
            &root_meta(1, far(), &[&root_key], 1, &ts_key, &sn_key, &tg_key),
            &[&root_key],
        );
        let mut repo = Repo {
            root_key,
            ts_key,
            sn_key,
            tg_key,
            root,
            files: BTreeMap::new(),
            snapshot: vec![],
            timestamp: vec![],
        };
        let targets = sign(
            &targets_meta(1, far(), &[("app/v1", b"hello")]),
            &[&repo.tg_key],
        );
        repo.files.insert(RoleName::targets(), targets);
        repo.publish(1, 1);
        repo
    }

    /// Replaces a role's file (signed by the caller) without re-publishing.
    pub fn set(&mut self, role: &str, bytes: Vec<u8>) {
        self.files.insert(RoleName::parse(role).unwrap(), bytes);
    }

    /// Signs a new snapshot over root + all files, and a new timestamp over that snapshot.
    pub fn publish(&mut self, snapshot_version: u64, timestamp_version: u64) {
        let mut listed = self.files.clone();
        listed.insert(RoleName::root(), self.root.clone());
        self.snapshot = sign(
            &snapshot_meta(snapshot_version, far(), &listed),
            &[&self.sn_key],
        );
        self.timestamp = sign(
            &timestamp_meta(timestamp_version, far(), &self.snapshot),
            &[&self.ts_key],
        );
    }

    pub fn file(&self, role: &str) -> &[u8] {
        &self.files[&RoleName::parse(role).unwrap()]
    }

    /// Root metadata listing this repo's timestamp, snapshot and targets keys, with `root_key`
    /// the only root key (threshold 1): the root every rotation and expiry test varies.
    pub fn root_meta_with(&self, version: u64, expires: Expires, root_key: &TestKey) -> Root {
        root_meta(
            version,
            expires,
            &[root_key],
            1,
            &self.ts_key,
            &self.sn_key,
            &self.tg_key,
        )
    }

    /// [`Repo::root_meta_with`] signed by `signers`.
    pub fn signed_root(
        &self,
        version: u64,
        expires: Expires,
        root_key: &TestKey,
        signers: &[&TestKey],
    ) -> Vec<u8> {
        sign(&self.root_meta_with(version, expires, root_key), signers)
    }

    /// A state trusting this repo's root and holding timestamp, snapshot and targets.
    pub fn state(&self) -> TrustedState {
        let mut s = TrustedState::new(GUN, &self.root, &Limits::default()).unwrap();
        s.update_timestamp(&self.timestamp, now()).unwrap();
        s.update_snapshot(&self.snapshot, now()).unwrap();
        s.update_targets(self.file("targets"), now()).unwrap();
        s
    }
}
