//! Pushes many small, distinct OCI images to a plain-HTTP registry fast: one shared config blob
//! and one shared layer (an empty tar), then one image manifest per image, distinct by an
//! annotation, `PUT` by digest (no tag) over a few keep-alive connections in parallel. Used by
//! `examples/populate` (the scale benchmark, `scripts/bench --scale`) and by the scale
//! integration tests (`tests/integration/scale.rs`), so both build their repositories the same
//! way. Only `std` and `ring`: no HTTP client, no TLS (the test stack's registry is plain HTTP on
//! loopback).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The annotation that makes each image's manifest (and so its digest) distinct.
const INDEX_ANNOTATION: &str = "org.example.manifesto.scale.image";

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// `sha256:<hex>` of `bytes`.
fn digest_of(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut s = String::from("sha256:");
    for b in d.as_ref() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A 1024-byte empty tar (two zero blocks): the one layer every image shares.
fn layer() -> Vec<u8> {
    vec![0; 1024]
}

fn config(layer_digest: &str) -> Vec<u8> {
    format!(
        "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"{layer_digest}\"]}}}}"
    )
    .into_bytes()
}

/// The manifest of image number `n` (`label` keeps two populations in one repository apart).
fn manifest(label: &str, n: usize, config: &[u8], layer: &[u8]) -> Vec<u8> {
    format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{MANIFEST_TYPE}\",\
\"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"{}\",\"size\":{}}},\
\"layers\":[{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"{}\",\"size\":{}}}],\
\"annotations\":{{\"{INDEX_ANNOTATION}\":\"{label}-{n}\"}}}}",
        digest_of(config),
        config.len(),
        digest_of(layer),
        layer.len()
    )
    .into_bytes()
}

/// One keep-alive HTTP/1.1 connection to `host:port`.
struct Connection {
    host: String,
    reader: BufReader<TcpStream>,
}

/// Status and body of one response.
struct Response {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
}

impl Connection {
    fn open(host: &str) -> io::Result<Connection> {
        let stream = TcpStream::connect(host)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        stream.set_write_timeout(Some(Duration::from_secs(60)))?;
        Ok(Connection {
            host: host.to_owned(),
            reader: BufReader::new(stream),
        })
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> io::Result<Response> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: manifesto-populate\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        stream.flush()?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                io::Error::other(format!("{method} {path}: bad status line {line:?}"))
            })?;
        let mut length = 0usize;
        let mut location = None;
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(io::Error::other(format!(
                    "{method} {path}: connection closed"
                )));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().map_err(io::Error::other)?;
                } else if k.eq_ignore_ascii_case("location") {
                    location = Some(v.trim().to_owned());
                } else if k.eq_ignore_ascii_case("transfer-encoding") {
                    return Err(io::Error::other(format!(
                        "{method} {path}: chunked responses are not supported"
                    )));
                }
            }
        }
        let mut body = vec![0; if method == "HEAD" { 0 } else { length }];
        self.reader.read_exact(&mut body)?;
        Ok(Response {
            status,
            location,
            body,
        })
    }

    fn expect(
        &mut self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
        want: u16,
    ) -> io::Result<Response> {
        let r = self.request(method, path, content_type, body)?;
        if r.status == want {
            return Ok(r);
        }
        Err(io::Error::other(format!(
            "{method} http://{}{path}: HTTP {} (expected {want}): {}",
            self.host,
            r.status,
            String::from_utf8_lossy(&r.body[..r.body.len().min(500)])
        )))
    }
}

/// `host:port` of a plain `http://host:port` registry URL.
pub fn plain_http_host(registry_url: &str) -> io::Result<&str> {
    registry_url
        .trim_end_matches('/')
        .strip_prefix("http://")
        .filter(|h| !h.contains('/'))
        .ok_or_else(|| {
            io::Error::other(format!(
                "{registry_url}: want a plain http://host:port registry URL"
            ))
        })
}

/// Pushes images `first .. first + count` of population `label` to `repo` on the registry at
/// `host` (`host:port`, plain HTTP, no auth) over `connections` parallel connections; returns
/// their manifest digests in order.
pub fn push_images(
    host: &str,
    repo: &str,
    label: &str,
    first: usize,
    count: usize,
    connections: usize,
) -> io::Result<Vec<String>> {
    let layer = layer();
    let config = config(&digest_of(&layer));
    let mut c = Connection::open(host)?;
    for blob in [&layer, &config] {
        // POST opens the upload, one PUT to its Location with the digest closes it.
        let opened = c.expect("POST", &format!("/v2/{repo}/blobs/uploads/"), "", &[], 202)?;
        let location = opened
            .location
            .ok_or_else(|| io::Error::other("POST blobs/uploads/: 202 without a Location"))?;
        let path = match location.strip_prefix(&format!("http://{host}")) {
            Some(p) => p.to_owned(),
            None if location.starts_with('/') => location,
            None => {
                return Err(io::Error::other(format!(
                    "upload Location {location:?} is on another host"
                )));
            }
        };
        let sep = if path.contains('?') { '&' } else { '?' };
        let path = format!("{path}{sep}digest={}", digest_of(blob));
        c.expect("PUT", &path, "application/octet-stream", blob, 201)?;
    }
    drop(c);
    let next = AtomicUsize::new(0);
    let digests = Mutex::new(vec![String::new(); count]);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..connections.max(1))
            .map(|_| {
                scope.spawn(|| -> io::Result<()> {
                    let mut c = Connection::open(host)?;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            return Ok(());
                        }
                        let m = manifest(label, first + i, &config, &layer);
                        let digest = digest_of(&m);
                        let path = format!("/v2/{repo}/manifests/{digest}");
                        c.expect("PUT", &path, MANIFEST_TYPE, &m, 201)?;
                        digests.lock().expect("no worker panics")[i] = digest;
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("a push worker panicked"))
    })?;
    Ok(digests.into_inner().expect("no worker panics"))
}
