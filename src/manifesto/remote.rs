//! Where a flow's trust data and registry content come from.
//!
//! Every flow runs over a [`Remote`]: [`Network`] (the configured Notary server and the image's
//! registry) in production, an in-memory notary-server and registry in unit tests
//! ([`memory::MemoryRemote`]), so a flow's logic can be tested without servers and a new source
//! (a bundle file, a mirror) needs no change to the flows.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::error::Error;
use crate::keys::passphrase::Passphrases;
use crate::notary::publish::{ServerKeys, UpdateSink};
use crate::notary::{NotaryError, TrustedRepository};
use crate::registry::reference::RepositoryRef;
use crate::registry::{RegistryClient, RegistryError, RegistryWrite};

pub(crate) trait Remote: Sync {
    /// The Notary side: read like any metadata source, takes publishes, holds server keys.
    type Source: UpdateSink + ServerKeys + Send + Sync;
    /// The registry side.
    type Registry: RegistryWrite + Send + Sync;

    /// Verify the current trust data of `repo` against the trust cache (a fresh update on
    /// every call: the publish loop opens once per attempt).
    fn trust(
        &self,
        settings: &Settings,
        repo: &RepositoryRef,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<TrustedRepository<Self::Source>, NotaryError>> + Send;

    /// The Notary server of `repo`, unverified: for creating a repository (`init`) and for
    /// publishing a file verified beforehand (an offline-signed root).
    fn source(
        &self,
        settings: &Settings,
        repo: &RepositoryRef,
    ) -> impl Future<Output = Result<Self::Source, NotaryError>> + Send;

    /// The registry that serves `host`.
    fn registry(
        &self,
        settings: &Settings,
        host: &str,
    ) -> impl Future<Output = Result<Self::Registry, RegistryError>> + Send;
}

/// The configured Notary server and the image's own registry.
pub(crate) struct Network;

impl Remote for Network {
    type Source = crate::notary::NotaryHttp;
    type Registry = RegistryClient;

    fn trust(
        &self,
        settings: &Settings,
        repo: &RepositoryRef,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<TrustedRepository, NotaryError>> + Send {
        TrustedRepository::open(settings, repo, now)
    }

    fn source(
        &self,
        settings: &Settings,
        repo: &RepositoryRef,
    ) -> impl Future<Output = Result<crate::notary::NotaryHttp, NotaryError>> + Send {
        crate::notary::NotaryHttp::for_repository(settings, repo)
    }

    fn registry(
        &self,
        settings: &Settings,
        host: &str,
    ) -> impl Future<Output = Result<RegistryClient, RegistryError>> + Send {
        RegistryClient::connect(&settings.http, host)
    }
}

/// The owner's side of a signed change (a delegation, a key rotation): where the servers are ([`Network`] in production,
/// an in-memory remote in unit tests), the settings, and the passphrases of the targets key.
pub(crate) struct Owner<'a, R> {
    pub(crate) remote: &'a R,
    pub(crate) settings: &'a Settings,
    pub(crate) passphrases: &'a mut Passphrases,
}

impl<'a> Owner<'a, Network> {
    /// The owner on the configured servers.
    pub(crate) fn on_network(settings: &'a Settings, passphrases: &'a mut Passphrases) -> Self {
        Owner {
            remote: &Network,
            settings,
            passphrases,
        }
    }
}

/// Run `flow` as the owner on the configured servers, with passphrases from the environment.
pub(crate) async fn as_owner<T>(
    settings: &Settings,
    flow: impl AsyncFnOnce(&mut Owner<'_, Network>) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut passphrases = Passphrases::from_environment();
    flow(&mut Owner::on_network(settings, &mut passphrases)).await
}

/// Verify the current trust data of `repo` now.
pub(crate) async fn trust_now<R: Remote>(
    remote: &R,
    settings: &Settings,
    repo: &RepositoryRef,
) -> Result<TrustedRepository<R::Source>, NotaryError> {
    remote.trust(settings, repo, Utc::now()).await
}

#[cfg(test)]
pub(crate) mod memory {
    //! The in-memory remote for unit tests of the flows.

    use super::*;
    use crate::notary::memory::MemoryNotary;
    use crate::registry::MemoryRegistry;

    /// One notary-server and one registry in memory; every repository is served by them.
    #[derive(Clone)]
    pub(crate) struct MemoryRemote {
        pub(crate) notary: MemoryNotary,
        pub(crate) registry: MemoryRegistry,
    }

    impl Remote for MemoryRemote {
        type Source = MemoryNotary;
        type Registry = MemoryRegistry;

        async fn trust(
            &self,
            settings: &Settings,
            repo: &RepositoryRef,
            now: DateTime<Utc>,
        ) -> Result<TrustedRepository<MemoryNotary>, NotaryError> {
            TrustedRepository::open_with(settings, &repo.gun(), self.notary.clone(), now).await
        }

        async fn source(
            &self,
            _settings: &Settings,
            _repo: &RepositoryRef,
        ) -> Result<MemoryNotary, NotaryError> {
            Ok(self.notary.clone())
        }

        async fn registry(
            &self,
            _settings: &Settings,
            _host: &str,
        ) -> Result<MemoryRegistry, RegistryError> {
            Ok(self.registry.clone())
        }
    }
}
