//! Connections, before any request is read: slow and idle ones are closed at
//! `server.idle_timeout_secs`, and at most `server.max_connections` are open at once. Raw TCP, so
//! the test holds connections exactly as a slowloris client or a forgotten keep-alive would.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous: a loaded machine makes these tests slower, never red.
const PATIENCE: Duration = Duration::from_secs(60);

/// Reads until the server closes the connection (end of stream or a reset).
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(PATIENCE, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// `GET /health` on `stream`, keeping the connection open; the status line.
async fn health_on(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let mut byte = [0u8; 1];
    let read = async {
        while !response.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "closed early");
            response.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&response).to_ascii_lowercase();
        let length: usize = head
            .split("content-length:")
            .nth(1)
            .and_then(|v| v.split("\r\n").next())
            .map_or(0, |v| v.trim().parse().unwrap());
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).await.unwrap();
        head.lines().next().unwrap_or_default().to_string()
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("no answer")
}

#[tokio::test]
async fn slow_and_idle_connections_are_closed() {
    let h = Harness::with(|c| c.server.idle_timeout_secs = 1).await;
    // A slowloris client: part of a request head, then nothing.
    let mut slow = TcpStream::connect(h.server.local_addr()).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nhost: 127.0")
        .await
        .unwrap();
    assert!(closed_by_server(&mut slow).await, "a slow head is cut");
    // A connection that never sends a byte.
    let mut silent = TcpStream::connect(h.server.local_addr()).await.unwrap();
    assert!(closed_by_server(&mut silent).await, "a silent one is cut");
    // A keep-alive connection, idle after its answer.
    let mut idle = TcpStream::connect(h.server.local_addr()).await.unwrap();
    assert_eq!(health_on(&mut idle).await, "http/1.1 200 ok");
    assert!(closed_by_server(&mut idle).await, "an idle one is cut");
    // The server is fine.
    assert_eq!(
        h.http.get(h.url("/health")).send().await.unwrap().status(),
        200
    );
}

/// The value of an unlabelled series in a Prometheus text exposition.
fn series(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let h = Harness::with(|c| {
        c.server.max_connections = 2;
        c.observability.metrics_port = Some(0);
    })
    .await;
    let metrics = format!("http://{}/metrics", h.server.metrics_addr().unwrap());
    let read_metrics = || async {
        h.http
            .get(&metrics)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let mut a = TcpStream::connect(h.server.local_addr()).await.unwrap();
    let mut b = TcpStream::connect(h.server.local_addr()).await.unwrap();
    assert_eq!(health_on(&mut a).await, "http/1.1 200 ok");
    assert_eq!(health_on(&mut b).await, "http/1.1 200 ok");
    // Both slots are held; a third connection (the kernel completes its handshake) is not
    // accepted, and the accept loop says it is waiting.
    let mut c = TcpStream::connect(h.server.local_addr()).await.unwrap();
    c.write_all(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let text = read_metrics().await;
    assert!(
        series(&text, "ccproxy_connections_waited_total") >= 1.0,
        "{text}"
    );
    assert_eq!(series(&text, "ccproxy_connections_open"), 2.0, "{text}");
    // A slot frees: the waiting connection is served.
    drop(a);
    let mut answer = [0u8; 12];
    tokio::time::timeout(PATIENCE, c.read_exact(&mut answer))
        .await
        .expect("the waiting connection is served")
        .unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    assert_eq!(
        series(&read_metrics().await, "ccproxy_connections_open"),
        2.0
    );
    drop(b);
}
