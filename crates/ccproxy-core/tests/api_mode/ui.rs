//! The web UI's files and its two routes (`/api/settings`, `/api/token`).

use super::*;
use ccproxy_core::owner;
use ccproxy_core::settings::SettingsHost;
use secrecy::ExposeSecret;

fn owner_key() -> &'static str {
    owner::key().expose_secret()
}

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
        ("/status", "text/html"),
        ("/dashboard", "text/html"),
        ("/settings", "text/html"),
        ("/login", "text/html"),
        ("/connect", "text/html"),
        ("/token", "text/html"),
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
            .header(owner::HEADER, owner_key())
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
        .header(owner::HEADER, owner_key())
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
        .header(owner::HEADER, owner_key())
        .body(format!(r#"{{"server.port": "{huge}"}}"#))
        .send()
        .await
        .unwrap();
    expect_error(r, 413, "request_too_large").await;
}

/// Without an API token, changing settings needs the owner key: a plain local client (curl, a
/// script, another user's process) is refused with 403 and nothing is written or restarted; the
/// key the server published (0600, for `ccproxy ui`) and gave the desktop window works; with a
/// token set, the token is the proof.
#[tokio::test]
async fn only_the_owner_changes_settings() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.toml");
    let mut config = Config::default();
    config.server.port = 0;
    config.observability.request_log = false;
    config.env.data_dir = Some(dir.path().join("data"));
    let host = SettingsHost {
        file: Some(file.clone()),
        ..SettingsHost::default()
    };
    let config = Arc::new(config);
    let server = server::start_with(config.clone(), host).await.unwrap();
    let url = |p: &str| format!("http://{}{p}", server.local_addr());
    let http = reqwest::Client::new();
    let widen =
        json!({"claude.allowed_tools": ["Bash", "Write"], "claude.permission_mode": "acceptEdits"});
    for key in [None, Some("not-the-key"), Some("")] {
        let mut put = http.put(url("/api/settings")).json(&widen);
        if let Some(k) = key {
            put = put.header(owner::HEADER, k);
        }
        let message = expect_error(put.send().await.unwrap(), 403, "permission_error").await;
        assert!(message.contains("ccproxy ui"), "{message}");
    }
    assert!(!file.exists(), "nothing was written");
    // The published link: private, for this server, with the key in its fragment.
    let published = owner::published_file(&config).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&published).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&published).unwrap()).unwrap();
    assert_eq!(doc["url"], url(""));
    let link = doc["link"].as_str().unwrap();
    let key = link.split_once("#owner=").unwrap().1;
    assert_eq!(key, owner_key());
    // The page load never hands the key out.
    let page = http.get(url("/")).send().await.unwrap();
    let headers = format!("{:?}", page.headers());
    assert!(!headers.contains(key) && !page.text().await.unwrap().contains(key));
    let r = http
        .put(url("/api/settings"))
        .header(owner::HEADER, key)
        .json(&widen)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("acceptEdits"));
    server.shutdown().await.unwrap();

    // With a token, the token is the proof.
    let mut with_token = (*config).clone();
    with_token.security.auth_token = Some("owner-token-789".to_string().into());
    let host = SettingsHost {
        file: Some(file.clone()),
        ..SettingsHost::default()
    };
    let server = server::start_with(Arc::new(with_token), host)
        .await
        .unwrap();
    let r = http
        .put(format!("http://{}/api/settings", server.local_addr()))
        .header("x-api-key", "owner-token-789")
        .json(&json!({"claude.pool_size": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.shutdown().await.unwrap();
}
