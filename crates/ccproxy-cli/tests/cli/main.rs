//! The real `ccproxy` binary, run as a subprocess in an empty home and working directory.
// A test fails loudly on the first surprise: unwrap and expect are how it says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod auth;
mod clients;
mod docker;

use ccproxy_mock_upstream::Mock;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_ccproxy");

/// A command with a clean environment: only PATH and HOME (a temp dir), cwd = `dir`.
fn ccproxy(dir: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .current_dir(dir);
    c
}

fn run(cmd: &mut std::process::Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn version_and_help_on_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run(ccproxy(dir.path()).arg("--version"));
    assert_eq!(code, 0);
    assert_eq!(out.trim(), format!("ccproxy {}", env!("CARGO_PKG_VERSION")));
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["config", "--help"],
        &["config", "show", "--help"],
        &["generate-token", "--help"],
        &["ui", "--help"],
    ] {
        let (code, out, _) = run(ccproxy(dir.path()).args(args));
        assert_eq!(code, 0, "{args:?}");
        assert!(out.contains("Usage: ccproxy"), "{args:?}: {out}");
    }
    let (_, out, _) = run(ccproxy(dir.path()).args(["serve", "--help"]));
    for flag in [
        "--host",
        "--port",
        "--auth-token",
        "--config",
        "--log-level",
        "--allow-remote-without-auth",
    ] {
        assert!(out.contains(flag), "{flag}");
    }
}

#[test]
fn generate_token_prints_a_strong_token_and_how_to_use_it() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(ccproxy(dir.path()).arg("generate-token"));
    assert_eq!(code, 0);
    let token = out.trim();
    assert_eq!(token.len(), 43, "256 bits, base64url");
    assert!(token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert!(err.contains(&format!("--auth-token {token}")));
    assert!(err.contains(&format!("ANTHROPIC_API_KEY={token}")));
    let (_, again, _) = run(ccproxy(dir.path()).arg("generate-token"));
    assert_ne!(again.trim(), token);
}

#[test]
fn config_precedence_and_sources() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("ccproxy.toml"),
        "[server]\nport = 6000\nlog_level = \"warn\"\nhost = \"127.0.0.1\"\n[claude]\nread_timeout_secs = 5\n",
    )
    .unwrap();
    std::fs::write(d.join(".env"), "PORT=7000\nSERVER__LOG_LEVEL=debug\n").unwrap();
    let show = |extra: &[(&str, &str)]| {
        let mut c = ccproxy(d);
        c.args(["config", "show", "--json"]);
        for (k, v) in extra {
            c.env(k, v);
        }
        let (code, out, err) = run(&mut c);
        assert_eq!(code, 0, "{err}");
        let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
        move |key: &str| {
            let row = rows.iter().find(|r| r["key"] == key).unwrap().clone();
            (
                row["value"].clone(),
                row["source"].as_str().unwrap().to_string(),
            )
        }
    };
    let get = show(&[]);
    assert_eq!(
        get("server.port"),
        (
            json!(7000),
            format!(".env file {}", d.join(".env").display())
        )
    );
    assert_eq!(get("server.log_level").0, "debug");
    assert_eq!(
        get("claude.read_timeout_secs"),
        (
            json!(5),
            format!("TOML file {}", d.join("ccproxy.toml").display())
        )
    );
    assert_eq!(
        get("claude.connect_timeout_secs"),
        (json!(10), "default".to_string())
    );

    let get = show(&[
        ("PORT", "7100"),
        ("SECURITY__AUTH_TOKEN", "supersecret-token"),
    ]);
    assert_eq!(
        get("server.port"),
        (json!(7100), "environment variable PORT".to_string())
    );
    let (token, source) = get("security.auth_token");
    assert_eq!(token, "<secret, 17 chars>");
    assert_eq!(source, "environment variable SECURITY__AUTH_TOKEN");

    // Nested beats short when both are set.
    let get = show(&[("PORT", "7100"), ("SERVER__PORT", "7200")]);
    assert_eq!(
        get("server.port"),
        (json!(7200), "environment variable SERVER__PORT".to_string())
    );

    // --config beats the search path; the text form names sources too and masks secrets.
    std::fs::write(
        d.join("other.toml"),
        "[security]\nauth_token = \"file-secret-123\"\n",
    )
    .unwrap();
    let (code, out, _) = run(ccproxy(d).args(["config", "show", "--config", "other.toml"]));
    assert_eq!(code, 0);
    assert!(!out.contains("file-secret-123"));
    assert!(out.contains("security.auth_token"));
    assert!(
        out.contains("\"<secret, 15 chars>\"  (TOML file other.toml)"),
        "{out}"
    );
}

#[test]
fn bad_configuration_names_the_key_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, _, err) = run(ccproxy(d).args(["config", "show"]).env("SERVER__PROT", "1"));
    assert_eq!(code, 1);
    assert!(
        err.contains("unknown key `server.prot`") && err.contains("SERVER__PROT"),
        "{err}"
    );

    let (code, _, err) = run(ccproxy(d).args(["config", "show"]).env("PORT", "eighty"));
    assert_eq!(code, 1);
    assert!(
        err.contains("server.port") && err.contains("environment variable PORT"),
        "{err}"
    );

    std::fs::write(
        d.join(".ccproxy.toml"),
        "[claude]\napi_base_url = \"not a url\"\n[server]\nhost = \"example.com\"\n",
    )
    .unwrap();
    let (code, _, err) = run(ccproxy(d).args(["config", "show"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("claude.api_base_url") && err.contains("server.host"),
        "{err}"
    );
    assert!(err.contains(".ccproxy.toml"), "{err}");
    std::fs::remove_file(d.join(".ccproxy.toml")).unwrap();

    std::fs::write(d.join("ccproxy.toml"), "[sever]\nport = 1\n").unwrap();
    let (code, _, err) = run(ccproxy(d).args(["serve"]));
    assert_eq!(code, 1);
    assert!(err.contains("unknown key `sever`"), "{err}");

    let (code, _, err) = run(ccproxy(d).args(["serve", "--config", "missing.toml"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("missing.toml") && err.contains("does not exist"),
        "{err}"
    );
}

/// A running `ccproxy serve` and everything it printed to stderr.
struct Served {
    child: Child,
    addr: String,
    log: Arc<Mutex<String>>,
}

async fn serve(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Served {
    let mut cmd = Command::from(ccproxy(dir));
    cmd.args(["serve", "--port", "0"]).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let log = Arc::new(Mutex::new(String::new()));
    let addr = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            log.lock().unwrap().push_str(&line);
            log.lock().unwrap().push('\n');
            if let Some(rest) = line.split("listening on http://").nth(1) {
                return rest.split_whitespace().next().unwrap().to_string();
            }
        }
        panic!("exited before listening: {}", log.lock().unwrap());
    })
    .await
    .expect("server did not start");
    let sink = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap().push_str(&line);
            sink.lock().unwrap().push('\n');
        }
    });
    Served { child, addr, log }
}

impl Served {
    /// Sends SIGTERM and waits for a clean exit; returns the whole log.
    async fn terminate(mut self) -> String {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("did not stop on SIGTERM")
            .unwrap();
        assert!(exit.success(), "exit status {exit:?}");
        // The reader task drains the pipe until EOF, which the exit guarantees.
        for _ in 0..200 {
            if self.log.lock().unwrap().contains("stopped") {
                break;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let log = self.log.lock().unwrap().clone();
        log
    }
}

#[tokio::test]
async fn serve_proxies_with_default_credential_paths_and_stops_on_sigterm() {
    let mock = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    let creds = home.path().join(".config/ccproxy/credentials.json");
    std::fs::create_dir_all(creds.parent().unwrap()).unwrap();
    std::fs::write(
        &creds,
        json!({"claudeAiOauth":{"accessToken":"sk-ant-oat01-SECRETACCESS","refreshToken":"sk-ant-ort01-SECRETREFRESH","expiresAt": 1u64}}).to_string(),
    )
    .unwrap();
    mock.accept_refresh_token("sk-ant-ort01-SECRETREFRESH");
    let token = "local-SECRET-token-0123456789";
    let served = serve(
        home.path(),
        &["--log-level", "trace", "--auth-token", token],
        &[
            ("CLAUDE__API_BASE_URL", &mock.url()),
            (
                "OAUTH__TOKEN_URL",
                &format!("{}/v1/oauth/token", mock.url()),
            ),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let base = format!("http://{}", served.addr);
    assert_eq!(
        http.get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = http
        .post(format!("{base}/api/v1/messages?beta=true"))
        .header("x-api-key", token)
        .body(r#"{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!("{base}/api/v1/messages"))
        .bearer_auth(token)
        .body(r#"{"model":"m","max_tokens":16,"stream":true,"messages":[]}"#)
        .send()
        .await
        .unwrap();
    assert!(r
        .text()
        .await
        .unwrap()
        .ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    let status: Value = http
        .get(format!("{base}/api/status"))
        .header("x-api-key", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["credentials"]["source"], "ccproxy");
    assert_eq!(mock.token_calls(), 1, "the expired token was refreshed");
    let saved = std::fs::read_to_string(&creds).unwrap();
    assert!(saved.contains("access-rotated-1"));

    let log = served.terminate().await;
    assert!(
        log.contains("shutting down") && log.contains("stopped"),
        "{log}"
    );
    assert!(
        log.contains("ccproxy::access: POST /api/v1/messages 200 ") && log.contains("tokens=12/6"),
        "access log: {log}"
    );
    for secret in [
        token,
        "SECRETACCESS",
        "SECRETREFRESH",
        "access-rotated-1",
        "refresh-rotated-1",
        "beta=true",
    ] {
        assert!(!log.contains(secret), "log leaks {secret}: {log}");
    }
}

#[tokio::test]
async fn json_logs_and_claude_config_dir() {
    let mock = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    let claude_dir = home.path().join("claude-config");
    std::fs::create_dir_all(&claude_dir).unwrap();
    std::fs::write(
        claude_dir.join(".credentials.json"),
        json!({"claudeAiOauth":{"accessToken":"cc-access","expiresAt": 4102444800000u64}})
            .to_string(),
    )
    .unwrap();
    let served = serve(
        home.path(),
        &[],
        &[
            ("CLAUDE__API_BASE_URL", &mock.url()),
            ("CLAUDE_CONFIG_DIR", claude_dir.to_str().unwrap()),
            ("SERVER__LOG_FORMAT", "json"),
        ],
    )
    .await;
    let r = reqwest::Client::new()
        .post(format!("http://{}/api/v1/messages", served.addr))
        .body(r#"{"max_tokens":16}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        mock.requests()[0].header("authorization"),
        "Bearer cc-access"
    );
    let log = served.terminate().await;
    let access = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["path"] == "/api/v1/messages")
        .unwrap_or_else(|| panic!("no JSON access line: {log}"));
    assert_eq!(access["status"], 200);
    assert_eq!(access["method"], "POST");
    assert_eq!(access["output_tokens"], 6, "{access}");
}

#[tokio::test]
async fn port_in_use_is_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(ccproxy(dir.path()).args(["serve", "--port", &port]));
    assert_eq!(code, 1);
    let lines: Vec<_> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("already in use") && lines[0].contains("--port"),
        "{err}"
    );
}

#[test]
fn remote_bind_without_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) =
        run(ccproxy(dir.path()).args(["serve", "--host", "0.0.0.0", "--port", "0"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("--allow-remote-without-auth") && err.contains("generate-token"),
        "{err}"
    );
}

#[tokio::test]
async fn bare_ccproxy_serves() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::from(ccproxy(dir.path()));
    let mut child = cmd
        .args(["--port", "0"])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("listening on http://127.0.0.1:") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(found);
    child.kill().await.unwrap();
}

#[tokio::test]
async fn standard_proxy_variables_are_honoured() {
    // The mock plays an HTTP forward proxy: it receives the absolute-form request.
    let forward_proxy = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    let creds = home.path().join(".config/ccproxy/credentials.json");
    std::fs::create_dir_all(creds.parent().unwrap()).unwrap();
    std::fs::write(
        &creds,
        json!({"claudeAiOauth":{"accessToken":"proxied-access","expiresAt": 4102444800000u64}})
            .to_string(),
    )
    .unwrap();
    let served = serve(
        home.path(),
        &[],
        &[
            ("CLAUDE__API_BASE_URL", "http://upstream.example"),
            ("HTTP_PROXY", &forward_proxy.url()),
        ],
    )
    .await;
    let r = reqwest::Client::new()
        .post(format!("http://{}/api/v1/messages?beta=true", served.addr))
        .body(r#"{"max_tokens":16}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = forward_proxy.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "http://upstream.example/v1/messages?beta=true");
    assert_eq!(seen[0].header("authorization"), "Bearer proxied-access");
    served.terminate().await;

    // NO_PROXY exempts a host: requests to it go direct.
    let direct = Mock::start().await;
    let direct_url = format!("http://localhost:{}", direct.addr().port());
    let served = serve(
        home.path(),
        &[],
        &[
            ("CLAUDE__API_BASE_URL", &direct_url),
            ("HTTP_PROXY", &forward_proxy.url()),
            ("NO_PROXY", "localhost"),
        ],
    )
    .await;
    let r = reqwest::Client::new()
        .post(format!("http://{}/api/v1/messages", served.addr))
        .body(r#"{"max_tokens":16}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(direct.requests().len(), 1, "NO_PROXY host reached directly");
    assert_eq!(
        forward_proxy.requests().len(),
        1,
        "and not through the proxy"
    );
    served.terminate().await;
}

/// Claude Code mode's children (the version probe and every CLI process, and so the tools they
/// run) get the server's environment without CCProxy's own secrets: the API token, in both of
/// its spellings, stays in the proxy.
#[tokio::test]
async fn the_claude_cli_never_sees_the_api_token() {
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen");
    std::fs::create_dir(&seen).unwrap();
    // A `claude` that writes down its environment, answers the version probe, then fails.
    let cli = dir.path().join("claude");
    std::fs::write(
        &cli,
        format!(
            // Written, then renamed into place: a file is only seen whole (a warm-up process
            // may still be starting while the test reads the folder).
            "#!/bin/sh\nenv > '{dir}'/.$$ && mv '{dir}'/.$$ '{dir}'/$$\n[ \"$1\" = --version ] && echo '2.1.331 (Claude Code)'\nexit 0\n",
            dir = seen.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cli, std::fs::Permissions::from_mode(0o755)).unwrap();
    let token = "sk-ccproxy-NEVER-IN-A-CHILD";
    let cli_path = cli.display().to_string();
    let served = serve(
        dir.path(),
        &[],
        &[
            ("AUTH_TOKEN", token),
            ("SECURITY__AUTH_TOKEN", token),
            ("CLAUDE__CLI_PATH", &cli_path),
            ("CCPROXY_TEST_MARKER", "kept"),
        ],
    )
    .await;
    let r = reqwest::Client::new()
        .post(format!("http://{}/sdk/v1/messages", served.addr))
        .header("x-api-key", token)
        .json(&json!({"model": "sonnet", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    // This `claude` never initializes: the request fails, after the process was started.
    assert!(r.status().is_server_error(), "{}", r.status());
    let seen_envs: Vec<String> = std::fs::read_dir(&seen)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(
        seen_envs.len() >= 2,
        "the probe and a CLI process ran: {seen_envs:?}"
    );
    for env in &seen_envs {
        assert!(!env.contains(token), "{env}");
        assert!(!env.contains("AUTH_TOKEN="), "{env}");
        assert!(env.contains("CCPROXY_TEST_MARKER=kept"), "{env}");
    }
    served.terminate().await;
}

/// `ccproxy ui` gives the owner the link to the running server's web UI with the owner key; a
/// local client without it cannot change settings, with it can; the key is in no log; with no
/// server running, `ccproxy ui` says so.
#[tokio::test]
async fn ccproxy_ui_links_the_owner_to_the_running_server() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("ccproxy.toml"),
        "[claude]\npool_size = 1\n",
    )
    .unwrap();
    let (code, _, err) = run(ccproxy(home.path()).args(["ui", "--no-browser"]));
    assert_eq!(code, 1);
    assert!(err.contains("no running ccproxy server"), "{err}");

    let served = serve(home.path(), &["--log-level", "debug"], &[]).await;
    let (code, link, err) = run(ccproxy(home.path()).args(["ui", "--no-browser"]));
    assert_eq!(code, 0, "{err}");
    let link = link.trim();
    let prefix = format!("http://{}/status#owner=", served.addr);
    let key = link
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{link}"));
    assert!(key.len() >= 43, "{link}");

    let http = reqwest::Client::new();
    let settings = format!("http://{}/api/settings", served.addr);
    let change = json!({"claude.allowed_tools": ["Bash"]});
    let r = http.put(&settings).json(&change).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "permission_error");
    let r = http
        .put(&settings)
        .header("x-ccproxy-owner", key)
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let file = std::fs::read_to_string(home.path().join("ccproxy.toml")).unwrap();
    assert!(file.contains("Bash"), "{file}");
    // The restart keeps the key: the page the owner has open keeps working.
    let addr = served.addr.clone();
    let mut restarted = false;
    // Up to a generous minute: a loaded machine restarts slower.
    for _ in 0..1200 {
        let log = served.log.lock().unwrap().clone();
        if log.matches("listening on http://").count() >= 2 {
            restarted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(restarted, "no restart: {}", served.log.lock().unwrap());
    let (code, again, _) = run(ccproxy(home.path()).args(["ui", "--no-browser"]));
    assert_eq!(code, 0);
    assert!(again.trim().ends_with(key), "{again}");
    let log = served.terminate().await;
    assert!(!log.contains(key), "the owner key is in the log");
    let (code, _, err) = run(ccproxy(home.path()).args(["ui", "--no-browser"]));
    assert_eq!(code, 1);
    assert!(err.contains("does not answer"), "{err} (was {addr})");
}
