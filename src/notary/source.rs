//! The Notary server as the TUF update client's metadata source.

use crate::notary::error::NotaryError;
use crate::notary::http::NotaryHttp;
use crate::tuf::update::{MetadataSource, TransportError};

impl MetadataSource for NotaryHttp {
    async fn fetch(&self, file: &str, max_len: u64) -> Result<Option<Vec<u8>>, TransportError> {
        match self.get_for_update(file, max_len).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(NotaryError::NotFound { .. }) => Ok(None),
            Err(e) => Err(TransportError {
                file: file.to_string(),
                failure: e.failure(),
                source: Box::new(e),
            }),
        }
    }

    /// Each update gets `Limits::update_deadline` from its start (scenario 1).
    fn begin_update(&self) {
        self.start_update_clock();
    }

    fn location(&self) -> String {
        self.server().to_string()
    }
}
