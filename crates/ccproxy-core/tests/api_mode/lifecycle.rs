//! Starting and stopping the server in-process.

use super::*;

#[tokio::test]
async fn shutdown_lets_an_in_flight_stream_finish() {
    let h = Harness::new().await;
    let mut response = h.stream_scenario("gated").await;
    let first = response.chunk().await.unwrap().unwrap();
    let Harness {
        mock, server, http, ..
    } = h;
    let addr = server.local_addr();
    let stopping = tokio::spawn(server.shutdown());
    // New connections are refused once shutdown begins; wait for that instead of sleeping.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while http
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .is_ok()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still accepting after shutdown"
        );
        tokio::task::yield_now().await;
    }
    mock.open_gate();
    let mut all = first.to_vec();
    while let Some(chunk) = response.chunk().await.unwrap() {
        all.extend_from_slice(&chunk);
    }
    assert!(String::from_utf8(all)
        .unwrap()
        .ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    stopping.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_port_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = Config::default();
    config.observability.request_log = false;
    config.server.port = taken.local_addr().unwrap().port();
    let err = server::start(Arc::new(config)).await.err().unwrap();
    assert!(matches!(err, StartError::AddrInUse { .. }));
    let text = err.to_string();
    assert!(
        text.contains("already in use") && text.contains("--port"),
        "{text}"
    );
}

#[tokio::test]
async fn an_unparsable_upstream_url_is_a_clear_start_error() {
    let mut config = Config::default();
    config.observability.request_log = false;
    config.server.port = 0;
    config.claude.api_base_url = "http://exa mple.com".into();
    let err = server::start(Arc::new(config)).await.err().unwrap();
    assert!(matches!(err, StartError::BaseUrl(_)), "{err}");
    assert!(err.to_string().contains("claude.api_base_url"), "{err}");
}

#[tokio::test]
async fn remote_binding_requires_a_token() {
    let mut config = Config::default();
    config.observability.request_log = false;
    config.server.host = "0.0.0.0".into();
    config.server.port = 0;
    let err = server::start(Arc::new(config.clone())).await.err().unwrap();
    assert!(matches!(err, StartError::RemoteWithoutAuth { .. }), "{err}");
    config.server.allow_remote_without_auth = true;
    let handle = server::start(Arc::new(config.clone())).await.unwrap();
    handle.shutdown().await.unwrap();
    config.server.allow_remote_without_auth = false;
    config.security.auth_token = Some("long-enough-token".into());
    let handle = server::start(Arc::new(config)).await.unwrap();
    handle.shutdown().await.unwrap();
}
