//! A hostile HTTP server on loopback, playing the attacker or the broken network that the real
//! servers never are: endless bodies, lying lengths, flaky 5xx, token challenges.
//!
//! It stands in for no real component: the real notary-server and registry are in `harness`.
//! Each connection is answered by a scenario function from the request line and headers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server saw of one request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How to answer one request.
pub enum Reply {
    /// A complete response: status, extra headers, body (Content-Length set from the body).
    Full(u16, Vec<(String, String)>, Vec<u8>),
    /// Headers claiming `claimed` bytes, then `sent` bytes, then close.
    Lying { claimed: u64, sent: usize },
    /// Chunked encoding that never ends (until the client hangs up).
    Endless,
    /// A correct `Content-Length`, then the body one byte every `every`: slow retrieval.
    Drip {
        body: Vec<u8>,
        every: std::time::Duration,
    },
}

pub struct Hostile {
    pub url: String,
    pub hits: Arc<AtomicUsize>,
    /// Every request seen, with the status it was answered with (for a proxy: the status the
    /// client got, after any tampering).
    pub seen: Arc<Mutex<Vec<(Request, u16)>>>,
}

impl Hostile {
    /// The requests seen so far, with the status each was answered with.
    pub fn seen(&self) -> Vec<(Request, u16)> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

fn status_of(reply: &Reply) -> u16 {
    match reply {
        Reply::Full(status, _, _) => *status,
        _ => 200,
    }
}

fn record(seen: &Mutex<Vec<(Request, u16)>>, request: &Request, status: u16) {
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push((request.clone(), status));
}

/// Start a server answering with `scenario(request_number, request)`.
pub async fn serve<F>(scenario: F) -> Hostile
where
    F: Fn(usize, &Request, &str) -> Reply + Send + Sync + 'static,
{
    serve_at("127.0.0.1", scenario).await
}

/// [`serve`] on a free port of another loopback address (`127.0.0.2`…): another host, as far
/// as URLs, redirects and credentials are concerned.
pub async fn serve_at<F>(ip: &str, scenario: F) -> Hostile
where
    F: Fn(usize, &Request, &str) -> Reply + Send + Sync + 'static,
{
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let scenario = Arc::new(scenario);
    let counter = hits.clone();
    let log = seen.clone();
    let base = url.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let scenario = scenario.clone();
            let counter = counter.clone();
            let log = log.clone();
            let base = base.clone();
            tokio::spawn(async move {
                let Some((request, _body)) = read_request(&mut sock).await else {
                    return;
                };
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let reply = scenario(n, &request, &base);
                record(&log, &request, status_of(&reply));
                write_reply(&mut sock, reply).await;
            });
        }
    });
    Hostile { url, hits, seen }
}

/// A tampering proxy in front of a real server: every request is forwarded to `upstream`, then
/// `tamper(path, status, body)` decides what the client gets. The upstream's response headers
/// (`WWW-Authenticate` included) go to the client unless `tamper` sets a header of that name.
pub async fn tampering_proxy<F>(upstream: &str, tamper: F) -> Hostile
where
    F: Fn(&str, u16, Vec<u8>) -> Reply + Send + Sync + 'static,
{
    tampering_proxy_to(Upstream::plain(upstream), tamper).await
}

/// How long a proxy waits before forwarding request number `n`.
pub type Pause = Arc<dyn Fn(usize, &Request) -> Duration + Send + Sync>;

/// Where a proxy forwards to: a base URL, and for an `https://` one the CA file its
/// certificate chains to (the stack's `CA_FILE`).
pub struct Upstream<'a> {
    pub url: &'a str,
    pub ca_file: Option<&'a std::path::Path>,
    /// Waited before forwarding a request, by its number and head (a slow network; the
    /// client's tokens age meanwhile).
    pub pause: Option<Pause>,
}

impl<'a> Upstream<'a> {
    pub fn plain(url: &'a str) -> Upstream<'a> {
        Upstream {
            url,
            ca_file: None,
            pause: None,
        }
    }

    pub fn tls(url: &'a str, ca_file: &'a std::path::Path) -> Upstream<'a> {
        Upstream {
            url,
            ca_file: Some(ca_file),
            pause: None,
        }
    }
}

/// [`tampering_proxy`] in front of any [`Upstream`], plain HTTP or HTTPS.
pub async fn tampering_proxy_to<F>(upstream: Upstream<'_>, tamper: F) -> Hostile
where
    F: Fn(&str, u16, Vec<u8>) -> Reply + Send + Sync + 'static,
{
    proxy_to(
        upstream,
        |_, _| None,
        move |_, path, forwarded| match forwarded {
            Reply::Full(status, upstream_headers, body) => match tamper(path, status, body) {
                Reply::Full(status, headers, body) => {
                    let mut merged: Vec<(String, String)> = upstream_headers
                        .into_iter()
                        .filter(|(k, _)| !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(k)))
                        .collect();
                    merged.extend(headers);
                    Reply::Full(status, merged, body)
                }
                other => other,
            },
            other => other,
        },
    )
    .await
}

async fn write_reply(sock: &mut tokio::net::TcpStream, reply: Reply) {
    match reply {
        Reply::Full(status, headers, body) => {
            let mut out = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            let _ = sock.write_all(out.as_bytes()).await;
            let _ = sock.write_all(&body).await;
        }
        Reply::Lying { claimed, sent } => {
            let out = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {claimed}\r\nConnection: close\r\n\r\n"
            );
            let _ = sock.write_all(out.as_bytes()).await;
            let _ = sock.write_all(&vec![b'{'; sent]).await;
        }
        Reply::Endless => {
            let _ = sock
                .write_all(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                )
                .await;
            let chunk = format!("{:x}\r\n{}\r\n", 65536, "x".repeat(65536));
            while sock.write_all(chunk.as_bytes()).await.is_ok() {}
        }
        Reply::Drip { body, every } => {
            let out = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(out.as_bytes()).await;
            for byte in body {
                if sock.write_all(&[byte]).await.is_err() || sock.flush().await.is_err() {
                    return;
                }
                tokio::time::sleep(every).await;
            }
        }
    }
    let _ = sock.shutdown().await;
}

/// A proxy in front of a real server that forwards every request — method, path, body and
/// `Content-Type` — unless `intercept(method, path)` answers it first (its body is read either
/// way, so the client never sees a reset while sending it). Plays the server that goes away
/// between a client's reads and its write.
pub async fn intercepting_proxy<F>(upstream: &str, intercept: F) -> Hostile
where
    F: Fn(&str, &str) -> Option<Reply> + Send + Sync + 'static,
{
    proxy(upstream, intercept, |_, _, forwarded| forwarded).await
}

/// A proxy that forwards everything, but for requests where `lose(method, path)` holds, drops
/// the real server's answer *after* the server acted on the request and answers 502 instead:
/// the lost response of a POST that did succeed.
pub async fn answer_losing_proxy<F>(upstream: &str, lose: F) -> Hostile
where
    F: Fn(&str, &str) -> bool + Send + Sync + 'static,
{
    proxy(
        upstream,
        |_, _| None,
        move |m, p, forwarded| {
            if lose(m, p) {
                Reply::Full(502, vec![], b"bad gateway".to_vec())
            } else {
                forwarded
            }
        },
    )
    .await
}

/// Headers a proxy does not pass on: the connection's own, and those it sets itself
/// (`Content-Length` from the body it writes; `Accept-Encoding` so bodies stay plain).
const HOP_BY_HOP: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "accept-encoding",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
];

fn end_to_end(name: &str) -> bool {
    !HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

async fn proxy<F, G>(upstream: &str, intercept: F, after: G) -> Hostile
where
    F: Fn(&str, &str) -> Option<Reply> + Send + Sync + 'static,
    G: Fn(&str, &str, Reply) -> Reply + Send + Sync + 'static,
{
    proxy_to(Upstream::plain(upstream), intercept, after).await
}

/// The proxy behind all the others: listens on plain HTTP on 127.0.0.1, forwards method, path,
/// body and every end-to-end header (`Authorization` included) to the upstream, plain or
/// HTTPS, and passes the upstream's status, end-to-end headers (`WWW-Authenticate`,
/// `Content-Type`, `Location`…) and body back through `after`. Redirects are passed on, not
/// followed.
async fn proxy_to<F, G>(upstream: Upstream<'_>, intercept: F, after: G) -> Hostile
where
    F: Fn(&str, &str) -> Option<Reply> + Send + Sync + 'static,
    G: Fn(&str, &str, Reply) -> Reply + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let intercept = Arc::new(intercept);
    let after = Arc::new(after);
    let pause = upstream.pause.clone();
    let counter = hits.clone();
    let log = seen.clone();
    let base = upstream.url.trim_end_matches('/').to_string();
    manifesto::http::ensure_crypto_provider();
    let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if let Some(ca) = upstream.ca_file {
        let pem = std::fs::read(ca).expect("read the upstream's CA file");
        for cert in reqwest::Certificate::from_pem_bundle(&pem).expect("the CA file is PEM") {
            builder = builder.add_root_certificate(cert);
        }
    }
    let client = builder.build().expect("the proxy's HTTP client");
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let intercept = intercept.clone();
            let after = after.clone();
            let pause = pause.clone();
            let counter = counter.clone();
            let log = log.clone();
            let base = base.clone();
            let client = client.clone();
            tokio::spawn(async move {
                let Some((request, body)) = read_request(&mut sock).await else {
                    return;
                };
                let n = counter.fetch_add(1, Ordering::SeqCst);
                if let Some(reply) = intercept(&request.method, &request.path) {
                    record(&log, &request, status_of(&reply));
                    write_reply(&mut sock, reply).await;
                    return;
                }
                if let Some(pause) = &pause {
                    tokio::time::sleep(pause(n, &request)).await;
                }
                let method = reqwest::Method::from_bytes(request.method.as_bytes())
                    .unwrap_or(reqwest::Method::GET);
                let mut forward = client.request(method, format!("{base}{}", request.path));
                for (k, v) in &request.headers {
                    if end_to_end(k) {
                        forward = forward.header(k.as_str(), v.as_str());
                    }
                }
                if !body.is_empty() {
                    forward = forward.body(body);
                }
                let reply = match forward.send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let headers: Vec<(String, String)> = r
                            .headers()
                            .iter()
                            .filter(|(k, _)| end_to_end(k.as_str()))
                            .filter_map(|(k, v)| {
                                Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))
                            })
                            .collect();
                        let bytes = r.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                        Reply::Full(status, headers, bytes)
                    }
                    Err(_) => Reply::Full(502, vec![], b"upstream down".to_vec()),
                };
                let reply = after(&request.method, &request.path, reply);
                record(&log, &request, status_of(&reply));
                write_reply(&mut sock, reply).await;
            });
        }
    });
    Hostile { url, hits, seen }
}

/// One request from the socket: the head, then as many body bytes as `Content-Length` says.
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<(Request, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 65536];
    let head_end = loop {
        // A TLS ClientHello (the registry client's TLS probe): hang up, so the probe sees a
        // server that does not speak TLS instead of waiting for its handshake to time out.
        if buf.first() == Some(&0x16) {
            return None;
        }
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match sock.read(&mut tmp).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split(' ');
    let request = Request {
        method: first.next().unwrap_or_default().to_string(),
        path: first.next().unwrap_or_default().to_string(),
        headers: lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
    };
    let length: usize = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        match sock.read(&mut tmp).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => body.extend_from_slice(&tmp[..n]),
        }
    }
    Some((request, body))
}
