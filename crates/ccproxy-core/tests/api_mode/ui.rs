//! The web UI's files and its two routes (`/api/settings`, `/api/token`).

use super::*;
use ccproxy_core::settings::SettingsHost;

#[tokio::test]
async fn the_page_and_assets_are_open_everything_else_needs_the_token() {
    let h =
        Harness::with(|c| c.security.auth_token = Some("ui-token-123".to_string().into())).await;
    let r = h.http.get(h.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.headers().contains_key("content-security-policy"));
    assert!(r.text().await.unwrap().contains("<title>CCProxy</title>"));
    for (path, kind) in [
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
        ("/ui/vendor/uplot/uPlot.iife.min.js", "text/javascript"),
        ("/ui/vendor/uplot/LICENSE", "text/plain"),
        ("/favicon.ico", "image/png"),
    ] {
        let r = h.http.get(h.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{path}"
        );
    }
    assert_eq!(
        h.http
            .get(h.url("/ui/nope.js"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        h.http
            .get(h.url("/api/settings"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let r = h
        .http
        .post(h.url("/api/token"))
        .header("x-api-key", "ui-token-123")
        .send()
        .await
        .unwrap();
    let token: Value = r.json().await.unwrap();
    assert!(token["token"].as_str().unwrap().len() >= 32);
    // Settings of a server started without a settings file are read-only.
    let v: Value = h
        .http
        .get(h.url("/api/settings"))
        .header("x-api-key", "ui-token-123")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["editable"], false);
    assert_eq!(
        v["values"]["security.auth_token"]["value"], true,
        "only whether it is set"
    );
    assert!(!v.to_string().contains("ui-token-123"));
    let r = h
        .http
        .put(h.url("/api/settings"))
        .header("x-api-key", "ui-token-123")
        .json(&json!({"claude.pool_size": 3}))
        .send()
        .await
        .unwrap();
    let message = expect_error(r, 400, "invalid_request_error").await;
    assert!(
        message.contains("without a configuration file"),
        "{message}"
    );
}

#[tokio::test]
async fn a_settings_change_is_written_and_asks_the_host_to_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    let mut config = Config::default();
    config.server.port = 0;
    config.observability.request_log = false;
    let mut host = SettingsHost {
        file: Some(file.clone()),
        ..SettingsHost::default()
    };
    host.locked
        .insert("server.host".into(), "environment variable HOST".into());
    let server = server::start_with(Arc::new(config), host).await.unwrap();
    let url = |p: &str| format!("http://{}{p}", server.local_addr());
    let http = reqwest::Client::new();
    let v: Value = http
        .get(url("/api/settings"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["editable"], true);
    assert_eq!(
        v["values"]["server.host"]["locked_by"],
        "environment variable HOST"
    );
    assert_eq!(v["values"]["claude.pool_size"]["value"], 2);
    // Locked, unknown and invalid changes are refused; nothing is written.
    for (body, needle) in [
        (
            json!({"server.host": "0.0.0.0"}),
            "environment variable HOST",
        ),
        (json!({"oauth.client_id": "x"}), "cannot be changed"),
        (json!({"claude.max_concurrent": 0}), "greater than 0"),
        (json!({"claude.pool_size": "many"}), "integer"),
    ] {
        let r = http
            .put(url("/api/settings"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let message = expect_error(r, 400, "invalid_request_error").await;
        assert!(message.contains(needle), "{message}");
    }
    assert!(!file.exists());
    let r = http
        .put(url("/api/settings"))
        .json(&json!({"claude.pool_size": 4, "security.auth_token": "new-token-456"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["restarting"], true);
    tokio::time::timeout(Duration::from_secs(5), server.restart_requested())
        .await
        .expect("the host is asked to restart");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("pool_size = 4") && text.contains("auth_token = \"new-token-456\""));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "it holds the token");
    }
    server.shutdown().await.unwrap();
}

/// A settings body over the JSON limit is 413 in the API's shape (it was a 400 saying "length
/// limit exceeded").
#[tokio::test]
async fn an_oversized_settings_body_is_413() {
    let h = Harness::new().await;
    let huge = "x".repeat(3 * 1024 * 1024);
    let r = h
        .http
        .put(h.url("/api/settings"))
        .header("content-type", "application/json")
        .body(format!(r#"{{"server.port": "{huge}"}}"#))
        .send()
        .await
        .unwrap();
    expect_error(r, 413, "request_too_large").await;
}
