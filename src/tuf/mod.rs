//! The Notary-dialect TUF core: pure, synchronous, no I/O.
//!
//! Untrusted bytes from the Notary server go in (strict JSON, then the signed envelope, then typed
//! metadata); only [`verify`] turns them into [`verify::Verified`] values, and [`trusted`] chains
//! those into a trusted view of one repository (GUN). Nothing here touches the network, the disk or
//! the clock: callers pass bytes and `now`.

pub mod build;
pub mod canonical;
pub mod certificate;
pub mod envelope;
pub mod key;
pub mod key_pem;
pub mod limits;
pub mod metadata;
pub mod names;
pub mod remembered;
pub mod sign;
pub mod strict_json;
pub mod trusted;
pub mod update;
pub mod verify;
pub mod write;

#[cfg(test)]
mod attack_tests;
#[cfg(test)]
pub(crate) mod memory_source;
#[cfg(test)]
mod remembered_tests;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod update_tests;
