//! Untrusted bytes through every parsing layer a Notary server's answer meets: strict JSON, the
//! signed envelope, each of the four typed metadata kinds, key and certificate decoding, and
//! signature checking with whatever keys the input itself lists. Errors are fine; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use manifesto::tuf::envelope::SignedEnvelope;
use manifesto::tuf::key::PublicKey;
use manifesto::tuf::metadata::{Metadata, Root, Snapshot, Targets, Timestamp};
use manifesto::tuf::names::{KeyId, RoleName};
use manifesto::tuf::strict_json;
use manifesto::tuf::trusted::TrustedState;
use manifesto::tuf::verify::{self, Authority};

const LIMIT: usize = 1 << 20;
/// The GUN of most fixtures, used when the input's root has no certificate to take one from.
const DEFAULT_GUN: &str = "127.0.0.1:5000/myorg/app";

/// Every decoding a listed key can go through.
fn exercise_key(key: &PublicKey) {
    let _ = key.key_id();
    let _ = key.public_key_id();
    let _ = key.material();
    if let Ok(Some(cert)) = key.certificate() {
        let _ = cert.is_valid_at(chrono_now_fixed());
    }
}

/// A fixed instant, so runs are reproducible.
fn chrono_now_fixed() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("in range")
}

fuzz_target!(|data: &[u8]| {
    let _ = strict_json::parse(data, LIMIT);

    let Ok(env) = SignedEnvelope::parse(data, LIMIT) else {
        return;
    };
    let _ = env.type_name();
    let now = chrono_now_fixed();

    // Every kind is tried whatever `_type` says: each must refuse the others cleanly.
    if let Ok(root) = Root::from_signed(&env.signed) {
        let _ = root.expires().is_expired(now);
        let mut gun = None;
        for key in root.keys.values() {
            exercise_key(key);
            if gun.is_none()
                && let Ok(Some(cert)) = key.certificate()
            {
                gun = cert.common_name.clone();
            }
        }
        for name in ["root", "targets", "snapshot", "timestamp"] {
            let role = RoleName::parse(name).expect("top-level name");
            let _ = root.role(&role);
            if let Some(a) = Authority::top_level(&root, &role) {
                let _ = a.key_ids().count();
            }
        }
        let gun = gun.unwrap_or_else(|| DEFAULT_GUN.to_owned());
        let a = Authority::root_keys(&root, &gun, Some(now));
        let _ = verify::verify::<Root>(&env, &a);
        // The whole trust-on-first-use path: root signed by its own certificate keys.
        if let Ok(state) = TrustedState::new(&gun, data) {
            let _ = state.check_root(now);
            let _ = state.snapshot_lists_other_root();
        }
    }
    if let Ok(targets) = Targets::from_signed(&env.signed) {
        let _ = targets.expires().is_expired(now);
        let _ = targets.check_delegation_names(&RoleName::targets());
        for key in targets.delegations.keys.values() {
            exercise_key(key);
        }
        for d in &targets.delegations.roles {
            let _ = targets.check_delegation_names(&d.name);
            let _ = d.name.parent();
            // Signature checks with attacker-chosen keys, methods and signatures.
            if let Some(a) = Authority::delegated(&targets, &d.name) {
                let _ = verify::verify::<Targets>(&env, &a);
            }
        }
        // Any key the file lists, threshold 1, over the file itself.
        let ids: Vec<KeyId> = targets.delegations.keys.keys().cloned().collect();
        let a = Authority::new(RoleName::targets(), &targets.delegations.keys, &ids, 1);
        let _ = verify::verify::<Targets>(&env, &a);
        for meta in targets.targets.values() {
            let _ = meta.sha256_hex();
        }
    }
    if let Ok(snapshot) = Snapshot::from_signed(&env.signed) {
        let _ = snapshot.expires().is_expired(now);
        let _ = snapshot.meta_for(&RoleName::targets());
        let _ = snapshot.meta_for(&RoleName::root());
    }
    if let Ok(timestamp) = Timestamp::from_signed(&env.signed) {
        let _ = timestamp.expires().is_expired(now);
        // Documented to be infallible after a successful parse.
        let _ = timestamp.snapshot_meta().sha256_hex();
    }
});
