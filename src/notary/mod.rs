//! The Notary side at the edges: HTTP to a Notary server and the on-disk trust cache.
//!
//! Both move bytes only. Whether the bytes are trustworthy is decided by the pure TUF core in
//! `crate::tuf`.

pub mod bundle;
pub mod cache;
pub mod error;
pub mod http;
#[cfg(test)]
pub(crate) mod memory;
pub mod publish;
pub mod repository;
mod source;

pub use cache::TrustCache;
pub use error::NotaryError;
pub use http::NotaryHttp;
pub use repository::TrustedRepository;
