//! A hostile HTTP server on loopback, playing the attacker or the broken network that the real
//! servers never are: endless bodies, lying lengths, flaky 5xx, token challenges.
//!
//! It stands in for no real component: the real notary-server and registry are in `harness`.
//! Each connection is answered by a scenario function from the request line and headers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
}

/// Start a server answering with `scenario(request_number, request)`.
pub async fn serve<F>(scenario: F) -> Hostile
where
    F: Fn(usize, &Request, &str) -> Reply + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let scenario = Arc::new(scenario);
    let counter = hits.clone();
    let base = url.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let scenario = scenario.clone();
            let counter = counter.clone();
            let base = base.clone();
            tokio::spawn(async move {
                let Some((request, _body)) = read_request(&mut sock).await else {
                    return;
                };
                let n = counter.fetch_add(1, Ordering::SeqCst);
                write_reply(&mut sock, scenario(n, &request, &base)).await;
            });
        }
    });
    Hostile { url, hits }
}

/// A tampering proxy in front of a real server: every request is forwarded to `upstream`, then
/// `tamper(path, status, body)` decides what the client gets.
pub async fn tampering_proxy<F>(upstream: &str, tamper: F) -> Hostile
where
    F: Fn(&str, u16, Vec<u8>) -> Reply + Send + Sync + 'static,
{
    proxy(
        upstream,
        |_, _| None,
        move |_, path, forwarded| match forwarded {
            Reply::Full(status, _, body) => tamper(path, status, body),
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

async fn proxy<F, G>(upstream: &str, intercept: F, after: G) -> Hostile
where
    F: Fn(&str, &str) -> Option<Reply> + Send + Sync + 'static,
    G: Fn(&str, &str, Reply) -> Reply + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let intercept = Arc::new(intercept);
    let after = Arc::new(after);
    let counter = hits.clone();
    let upstream = upstream.trim_end_matches('/').to_string();
    manifesto::http::ensure_crypto_provider();
    let client = reqwest::Client::new();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let intercept = intercept.clone();
            let after = after.clone();
            let counter = counter.clone();
            let upstream = upstream.clone();
            let client = client.clone();
            tokio::spawn(async move {
                let Some((request, body)) = read_request(&mut sock).await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                if let Some(reply) = intercept(&request.method, &request.path) {
                    write_reply(&mut sock, reply).await;
                    return;
                }
                let method = reqwest::Method::from_bytes(request.method.as_bytes())
                    .unwrap_or(reqwest::Method::GET);
                let mut forward = client.request(method, format!("{upstream}{}", request.path));
                if let Some(ct) = request.header("content-type") {
                    forward = forward.header("content-type", ct);
                }
                if !body.is_empty() {
                    forward = forward.body(body);
                }
                let reply = match forward.send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let headers: Vec<(String, String)> = r
                            .headers()
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .map(|v| vec![("Content-Type".to_string(), v.to_string())])
                            .unwrap_or_default();
                        let bytes = r.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                        Reply::Full(status, headers, bytes)
                    }
                    Err(_) => Reply::Full(502, vec![], b"upstream down".to_vec()),
                };
                let reply = after(&request.method, &request.path, reply);
                write_reply(&mut sock, reply).await;
            });
        }
    });
    Hostile { url, hits }
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
