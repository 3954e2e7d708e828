//! Finding the private key a role signs with, and lending it to the TUF signer.
//!
//! A role lists public keys (for root, certificates); the key store holds private keys by the id
//! of their bare public key. This joins the two, so a command asks "sign as targets of this
//! repository" and gets the right key or a message naming the ids it looked for.

use super::agent::{AgentClient, AgentKey};
use super::error::KeyStoreError;
use super::passphrase::Passphrases;
use super::signer::SigningKey;
use super::store::KeyStore;
use crate::tuf::envelope::Signature;
use crate::tuf::key::PublicKey;
use crate::tuf::names::{KeyId, RoleName};
use crate::tuf::sign::{SignFailed, Signer};
use crate::tuf::trusted::TrustedState;

/// A key ready to sign: decrypted here, or held by the key agent.
// A handful of these exist per command; boxing the common case would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Unlocked {
    Here(SigningKey),
    InAgent(AgentKey),
}

impl From<SigningKey> for Unlocked {
    fn from(key: SigningKey) -> Unlocked {
        Unlocked::Here(key)
    }
}

impl Unlocked {
    /// `(method, signature)` over `message`.
    pub fn sign(&self, message: &[u8]) -> Result<(String, Vec<u8>), KeyStoreError> {
        match self {
            Unlocked::Here(key) => key.sign(message).map(|(m, sig)| (m.to_string(), sig)),
            Unlocked::InAgent(key) => Ok(key.sign(message)?),
        }
    }

    /// A signature entry for metadata, under the id the role lists.
    pub fn signature(&self, keyid: KeyId, message: &[u8]) -> Result<Signature, KeyStoreError> {
        let (method, sig) = self.sign(message)?;
        Ok(Signature { keyid, method, sig })
    }
}

/// A private key plus the id under which a role lists it.
pub struct RoleSigner {
    pub key: Unlocked,
    pub listed: KeyId,
}

impl Signer for RoleSigner {
    fn listed_key_id(&self) -> KeyId {
        self.listed.clone()
    }

    fn sign(&self, message: &[u8]) -> Result<(String, Vec<u8>), SignFailed> {
        self.key.sign(message).map_err(|e| SignFailed {
            key_id: self.listed.clone(),
            reason: e.to_string(),
            failure: e.failure(),
        })
    }
}

/// The key ids the agent named by the environment holds, if one is configured and answers. An
/// agent that does not answer is not an error: the keys are decrypted here, as without one.
fn agent_holds(passphrases: &Passphrases) -> Option<(AgentClient, Vec<String>)> {
    let agent = passphrases.agent()?;
    match agent.list() {
        Ok(keys) => Some((agent.clone(), keys.into_iter().map(|k| k.key_id).collect())),
        Err(e) => {
            tracing::warn!(error = %e, "not using the key agent");
            None
        }
    }
}

/// The first key the store holds among `listed` (id → public key as the role lists it).
pub fn signer_among<'a>(
    store: &KeyStore,
    passphrases: &mut Passphrases,
    role: &str,
    listed: impl IntoIterator<Item = (&'a KeyId, &'a PublicKey)>,
) -> Result<RoleSigner, KeyStoreError> {
    Ok(signers_among(store, passphrases, role, listed, 1)?.remove(0))
}

/// `threshold` distinct keys the store holds among `listed`: a role with threshold N needs N
/// signatures on one file, collected here before the single publish. Distinct means distinct
/// key material: a key listed twice (bare and as a certificate, two ids) signs once, since the
/// verifier counts it once (SECURITY-TESTS scenario 46).
pub fn signers_among<'a>(
    store: &KeyStore,
    passphrases: &mut Passphrases,
    role: &str,
    listed: impl IntoIterator<Item = (&'a KeyId, &'a PublicKey)>,
    threshold: u32,
) -> Result<Vec<RoleSigner>, KeyStoreError> {
    let threshold = threshold.max(1) as usize;
    let mut signers: Vec<RoleSigner> = Vec::new();
    let mut materials = Vec::new();
    let mut wanted = Vec::new();
    let agent = agent_holds(passphrases);
    for (id, public) in listed {
        if signers.len() == threshold {
            break;
        }
        // A key that cannot be decoded cannot produce a signature the verifier counts.
        let Ok(material) = public.material() else {
            continue;
        };
        if materials.contains(&material) {
            continue;
        }
        let bare = public.public_key_id().unwrap_or_else(|_| id.clone());
        let held = agent
            .as_ref()
            .filter(|(_, held)| held.iter().any(|h| h == bare.as_str()));
        if let Some((agent, _)) = held {
            tracing::debug!(key_id = %bare, role, "signing through the key agent");
            signers.push(RoleSigner {
                key: Unlocked::InAgent(AgentKey {
                    agent: agent.clone(),
                    public: public.clone(),
                    id: bare,
                }),
                listed: id.clone(),
            });
            materials.push(material);
        } else if store.contains(&bare) {
            let key = store.load_for(public, passphrases)?;
            signers.push(RoleSigner {
                key: key.into(),
                listed: id.clone(),
            });
            materials.push(material);
        } else {
            wanted.push(bare.to_string());
        }
    }
    if signers.len() < threshold {
        return Err(KeyStoreError::MissingKey {
            role: format!(
                "{role} (threshold {threshold}: {} of its distinct keys are in the store)",
                signers.len()
            ),
            wanted: wanted.join(", "),
            dir: store.private_dir(),
        });
    }
    Ok(signers)
}

/// The signers for `role` of a verified repository, as many as its threshold: `targets` signs
/// with keys root lists for it, a delegation with keys its parent lists for it. The parent must
/// be loaded.
pub fn role_signers(
    state: &TrustedState,
    role: &RoleName,
    store: &KeyStore,
    passphrases: &mut Passphrases,
) -> Result<Vec<RoleSigner>, KeyStoreError> {
    let not_delegated = || KeyStoreError::NotDelegated {
        role: role.clone(),
        gun: state.gun().to_owned(),
    };
    let (listed, threshold): (Vec<(&KeyId, &PublicKey)>, u32) = match role.parent() {
        None if *role == RoleName::targets() => {
            let root = state.root();
            let keys = root.role(role).ok_or_else(not_delegated)?;
            (
                keys.keyids
                    .iter()
                    .filter_map(|id| root.keys.get(id).map(|k| (id, k)))
                    .collect(),
                keys.threshold,
            )
        }
        None => return Err(not_delegated()),
        Some(parent) => {
            let parent_meta = state.targets_role(&parent).ok_or_else(not_delegated)?;
            let entry = parent_meta
                .delegations
                .roles
                .iter()
                .find(|d| &d.name == role)
                .ok_or_else(not_delegated)?;
            (
                entry
                    .keyids
                    .iter()
                    .filter_map(|id| parent_meta.delegations.keys.get(id).map(|k| (id, k)))
                    .collect(),
                entry.threshold,
            )
        }
    };
    signers_among(store, passphrases, role.as_str(), listed, threshold)
}
