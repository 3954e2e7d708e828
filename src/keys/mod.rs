//! Signing keys: generation, encrypted key files, passphrases, import from the Go notary client,
//! and root certificates.
//!
//! Keys live in `<trust-dir>/private/<keyid>.key`, in the Go client's layout and PEM format but
//! encrypted with scrypt (see [`store`]). Other modules sign through [`SigningKey`], obtained from
//! a [`KeyStore`] with [`Passphrases`] (environment variables or a terminal prompt).

pub mod agent;
pub mod certificate;
mod der;
pub mod encrypted;
mod error;
pub mod import;
pub mod passphrase;
mod pem;
mod private_key_info;
pub mod public;
pub mod signer;
pub mod signing;
pub mod store;

pub use error::{KeyFormatError, KeyStoreError};
pub use import::{ImportOptions, ImportReport, Importer};
pub use passphrase::{Passphrase, Passphrases, RoleClass};
pub use signer::{KeyAlgorithm, SigningKey};
pub use store::{KeyStore, StoredKey};
