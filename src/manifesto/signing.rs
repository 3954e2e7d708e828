//! Finding the private key a role signs with, and lending it to the TUF signer.
//!
//! A role lists public keys (for root, certificates); the key store holds private keys by the id
//! of their bare public key. This joins the two, so a command asks "sign as targets of this
//! repository" and gets the right key or a message naming the ids it looked for.

use crate::error::Error;
use crate::keys::passphrase::Passphrases;
use crate::keys::signer::SigningKey;
use crate::keys::store::KeyStore;
use crate::tuf::key::PublicKey;
use crate::tuf::names::KeyId;
use crate::tuf::sign::{SignFailed, Signer};

/// A private key plus the id under which a role lists it.
pub struct RoleSigner {
    pub key: SigningKey,
    pub listed: KeyId,
}

impl Signer for RoleSigner {
    fn listed_key_id(&self) -> KeyId {
        self.listed.clone()
    }

    fn sign(&self, message: &[u8]) -> Result<(String, Vec<u8>), SignFailed> {
        self.key
            .sign(message)
            .map(|(method, sig)| (method.to_string(), sig))
            .map_err(|_| SignFailed {
                key_id: self.listed.clone(),
            })
    }
}

/// The first key the store holds among `listed` (id → public key as the role lists it).
pub fn signer_among<'a>(
    store: &KeyStore,
    passphrases: &mut Passphrases,
    role: &str,
    listed: impl IntoIterator<Item = (&'a KeyId, &'a PublicKey)>,
) -> Result<RoleSigner, Error> {
    let mut wanted = Vec::new();
    for (id, public) in listed {
        let bare = public.public_key_id().unwrap_or_else(|_| id.clone());
        if store.contains(&bare) {
            let key = store.load_for(public, passphrases)?;
            return Ok(RoleSigner {
                key,
                listed: id.clone(),
            });
        }
        wanted.push(bare.to_string());
    }
    Err(Error::MissingKey {
        role: role.to_string(),
        wanted: wanted.join(", "),
        dir: store.private_dir(),
    })
}

/// The signer for `role` of a verified repository: `targets` signs with a key root lists for
/// it, a delegation with a key its parent lists for it. The parent must be loaded.
pub fn role_signer(
    state: &crate::tuf::trusted::TrustedState,
    role: &crate::tuf::names::RoleName,
    store: &KeyStore,
    passphrases: &mut Passphrases,
) -> Result<RoleSigner, Error> {
    use crate::tuf::names::RoleName;
    let listed: Vec<(&KeyId, &PublicKey)> = match role.parent() {
        None if *role == RoleName::targets() => {
            let root = state.root();
            root.role(role)
                .map(|r| {
                    r.keyids
                        .iter()
                        .filter_map(|id| root.keys.get(id).map(|k| (id, k)))
                        .collect()
                })
                .unwrap_or_default()
        }
        None => Vec::new(),
        Some(parent) => {
            let Some(parent_meta) = state.targets_role(&parent) else {
                return Err(Error::NotFoundMessage(format!(
                    "{role} is not delegated in {}: add it with 'manifesto delegate add'",
                    state.gun()
                )));
            };
            let entry = parent_meta
                .delegations
                .roles
                .iter()
                .find(|d| &d.name == role)
                .ok_or_else(|| {
                    Error::NotFoundMessage(format!(
                        "{role} is not delegated in {}: add it with 'manifesto delegate add'",
                        state.gun()
                    ))
                })?;
            entry
                .keyids
                .iter()
                .filter_map(|id| parent_meta.delegations.keys.get(id).map(|k| (id, k)))
                .collect()
        }
    };
    signer_among(store, passphrases, role.as_str(), listed)
}
