//! A writer that hashes with sha512, on a thread of its own, every byte that passes through it.
//!
//! A blob's bytes are checked against both signed digests. sha256 is computed as the bytes
//! arrive (the registry client needs it for the content address); sha512, about half as fast as
//! sha256 here, runs beside it on a second core instead of over the finished file afterwards, so
//! a large `get` takes the time of the slower digest, not of both plus a second read.

use std::pin::Pin;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::task::{Context, Poll};
use std::thread::JoinHandle;

use tokio::io::AsyncWrite;

/// Chunks in flight to the hashing thread: the memory bound (chunks are what the HTTP body
/// delivers, tens to hundreds of KiB each).
const IN_FLIGHT: usize = 32;

/// Wraps `inner`; [`Sha512Writer::finish`] returns the length and sha512 of what was written.
pub(crate) struct Sha512Writer<W> {
    inner: W,
    chunks: Option<SyncSender<Vec<u8>>>,
    hasher: Option<JoinHandle<(u64, Vec<u8>)>>,
}

impl<W> Sha512Writer<W> {
    pub(crate) fn new(inner: W) -> Sha512Writer<W> {
        let (chunks, received) = sync_channel(IN_FLIGHT);
        let hasher = std::thread::spawn(move || hash(&received));
        Sha512Writer {
            inner,
            chunks: Some(chunks),
            hasher: Some(hasher),
        }
    }

    /// The length and sha512 of every byte written.
    pub(crate) fn finish(mut self) -> (u64, Vec<u8>) {
        drop(self.chunks.take());
        self.hasher
            .take()
            .expect("finished once")
            .join()
            .expect("hashing does not panic")
    }
}

fn hash(chunks: &Receiver<Vec<u8>>) -> (u64, Vec<u8>) {
    let mut context = ring::digest::Context::new(&ring::digest::SHA512);
    let mut length = 0u64;
    for chunk in chunks {
        context.update(&chunk);
        length += chunk.len() as u64;
    }
    (length, context.finish().as_ref().to_vec())
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Sha512Writer<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            // Blocks only while the hasher is a full channel behind: the back-pressure that keeps
            // memory bounded when the network is faster than sha512.
            let sent = self
                .chunks
                .as_ref()
                .map(|c| c.send(buf[..n].to_vec()).is_ok());
            if sent != Some(true) {
                return Poll::Ready(Err(std::io::Error::other("the sha512 thread stopped")));
            }
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn what_passes_through_is_written_whole_and_hashed_with_sha512() {
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        let mut writer = Sha512Writer::new(Vec::new());
        for piece in bytes.chunks(77_777) {
            writer.write_all(piece).await.unwrap();
        }
        writer.flush().await.unwrap();
        let Sha512Writer { inner, .. } = &writer;
        assert_eq!(inner, &bytes);
        let (length, sha512) = writer.finish();
        assert_eq!(length, bytes.len() as u64);
        assert_eq!(
            sha512,
            ring::digest::digest(&ring::digest::SHA512, &bytes).as_ref()
        );
    }
}
