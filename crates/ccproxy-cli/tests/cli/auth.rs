//! `ccproxy auth …`, `generate-token --save` and `--show-completion`, through the real binary
//! against the mock's OAuth endpoints (authorize, token, profile, revoke).

use super::*;
use tokio::io::AsyncWriteExt;

/// The environment that points every OAuth URL at the mock.
fn oauth_env(mock: &Mock) -> Vec<(String, String)> {
    let u = mock.url();
    vec![
        (
            "OAUTH__AUTHORIZE_URL".into(),
            format!("{u}/oauth/authorize"),
        ),
        ("OAUTH__TOKEN_URL".into(), format!("{u}/v1/oauth/token")),
        (
            "OAUTH__PROFILE_URL".into(),
            format!("{u}/api/oauth/profile"),
        ),
        (
            "OAUTH__REVOKE_URL".into(),
            format!("{u}/v1/oauth/token/revoke"),
        ),
        (
            "OAUTH__MANUAL_REDIRECT_URI".into(),
            "https://console.example/oauth/code/callback".into(),
        ),
    ]
}

fn auth_cmd(home: &Path, mock: &Mock, args: &[&str]) -> std::process::Command {
    let mut c = ccproxy(home);
    c.arg("auth").args(args);
    for (k, v) in oauth_env(mock) {
        c.env(k, v);
    }
    c
}

fn creds_path(home: &Path) -> std::path::PathBuf {
    home.join(".config/ccproxy/credentials.json")
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Starts `ccproxy auth login` with piped stdio; returns the child and the URL it printed.
async fn start_login(home: &Path, mock: &Mock, args: &[&str]) -> (Child, String, Lines) {
    spawn_login(auth_cmd(home, mock, &[&["login"], args].concat())).await
}

type Lines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

/// Spawns a login command with piped stdio; returns it, the URL it printed, and the rest of stdout.
async fn spawn_login(cmd: std::process::Command) -> (Child, String, Lines) {
    let mut child = Command::from(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.trim().strip_prefix("http") {
                return format!("http{url}");
            }
        }
        panic!("no URL printed");
    })
    .await
    .unwrap();
    (child, url, lines)
}

/// The manual flow's user: approves at `url` and pastes `code#state` at the prompt.
async fn paste_code(child: &mut Child, url: &str) {
    let q = query(&approve(url).await);
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{}#{}\n", q["code"], q["state"]).as_bytes())
        .await
        .unwrap();
}

/// Everything left on a login's stdout.
async fn rest_of(mut lines: Lines) -> String {
    let mut out = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

async fn finish(child: Child) -> (i32, String, String) {
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("login did not finish")
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn query(url: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// What the authorize page redirects to, without following it.
async fn approve(url: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
    r.headers()["location"].to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_through_the_loopback_callback() {
    let mock = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    let (child, url, rest) = start_login(home.path(), &mock, &["--no-browser"]).await;
    let q = query(&url);
    assert!(
        q["redirect_uri"].starts_with("http://localhost:")
            && q["redirect_uri"].ends_with("/callback")
    );
    // A callback with a wrong state is refused and the login keeps waiting.
    let callback = q["redirect_uri"].clone();
    let bad = reqwest::get(format!("{callback}?code=stolen&state=wrong"))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("state mismatch"));
    // The browser: follow the authorize page's redirect back to the callback.
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Logged in as user@example.com (max)"),
        "{html}"
    );
    let printed = rest_of(rest).await;
    let (code, _, err) = finish(child).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        printed.contains("Logged in as user@example.com (max)"),
        "{printed}"
    );

    let path = creds_path(home.path());
    assert_eq!(mode(&path), 0o600);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(saved["claudeAiOauth"]["accessToken"], "access-login-1");
    assert_eq!(saved["claudeAiOauth"]["refreshToken"], "refresh-login-1");
    assert_eq!(saved["claudeAiOauth"]["subscriptionType"], "max");
    assert!(saved["claudeAiOauth"]["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "user:inference"));
    assert_eq!(saved["ccproxy"]["account"]["email"], "user@example.com");
    // The mock checked PKCE, redirect_uri, client_id and state on the exchange.
    let exchange = mock
        .requests()
        .into_iter()
        .find(|r| r.uri == "/v1/oauth/token")
        .unwrap();
    let body: Value = serde_json::from_slice(&exchange.body).unwrap();
    assert_eq!(body["grant_type"], "authorization_code");
    assert_eq!(body["state"], q["state"].as_str());

    // validate / info read it back.
    let (code, out, _) = run(&mut auth_cmd(home.path(), &mock, &["validate"]));
    assert_eq!(code, 0);
    assert!(
        out.starts_with("valid until ") && out.contains("user@example.com (max)"),
        "{out}"
    );
    let (code, out, _) = run(&mut auth_cmd(home.path(), &mock, &["info"]));
    assert_eq!(code, 0);
    assert!(out.contains("Account:       user@example.com"), "{out}");
    assert!(out.contains("Subscription:  max"), "{out}");
    assert!(
        out.contains(&format!("In use:        {} (ccproxy)", path.display())),
        "{out}"
    );
    assert!(!out.contains("access-login-1") && !out.contains("refresh-login-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_login_with_a_pasted_code() {
    let mock = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    let (mut child, url, rest) = start_login(home.path(), &mock, &["--manual"]).await;
    assert_eq!(
        query(&url)["redirect_uri"],
        "https://console.example/oauth/code/callback"
    );
    paste_code(&mut child, &url).await;
    let out = rest_of(rest).await;
    let (code, _, err) = finish(child).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Logged in as user@example.com (max)"), "{out}");
    assert_eq!(mode(&creds_path(home.path())), 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_login_with_the_wrong_state_is_refused() {
    let mock = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    let (mut child, url, _rest) = start_login(home.path(), &mock, &["--manual"]).await;
    let q = query(&approve(&url).await);
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{}#not-the-state\n", q["code"]).as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let (code, _, err) = finish(child).await;
    assert_eq!(code, 1);
    assert!(err.contains("state mismatch"), "{err}");
    assert!(!creds_path(home.path()).exists());
    assert!(
        mock.requests().iter().all(|r| r.uri != "/v1/oauth/token"),
        "no exchange attempted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_authorization_is_one_clear_line() {
    let mock = Mock::start().await;
    mock.set_authorize_error(Some("access_denied"));
    let home = tempfile::tempdir().unwrap();
    let (child, url, _rest) = start_login(home.path(), &mock, &["--no-browser"]).await;
    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("refused"));
    let (code, _, err) = finish(child).await;
    assert_eq!(code, 1);
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("error:"))
            .collect::<Vec<_>>(),
        ["error: the authorization was refused: access_denied: The user said no"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_faults_leave_the_previous_login_untouched() {
    let mock = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    let path = creds_path(home.path());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let good = r#"{"claudeAiOauth":{"accessToken":"good","refreshToken":"good-r","expiresAt":4102444800000}}"#;
    std::fs::write(&path, good).unwrap();
    for (fault, expected) in [
        ("500", "the token endpoint failed: answered 500"),
        ("429", "the token endpoint failed: answered 429"),
        ("hang", "the token endpoint failed: no answer in time"),
    ] {
        match fault {
            "hang" => mock.set_token_hang(true),
            status => mock.set_token_failure(Some(status.parse().unwrap())),
        }
        let mut cmd = auth_cmd(home.path(), &mock, &["login", "--manual"]);
        cmd.env("OAUTH__REQUEST_TIMEOUT_SECS", "1");
        let (mut child, url, _rest) = spawn_login(cmd).await;
        paste_code(&mut child, &url).await;
        let (code, _, err) = finish(child).await;
        assert_eq!(code, 1, "{fault}");
        assert!(err.contains(expected), "{fault}: {err}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            good,
            "{fault}: previous login kept"
        );
        mock.set_token_failure(None);
        mock.set_token_hang(false);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_fails_is_reported_and_nothing_is_lost() {
    let mock = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    // The credentials "directory" is a file: every write there fails.
    std::fs::write(home.path().join("blocked"), "").unwrap();
    let target = home.path().join("blocked/credentials.json");
    let mut cmd = auth_cmd(home.path(), &mock, &["login", "--manual"]);
    cmd.env("AUTH__CREDENTIALS_FILE", &target);
    let (mut child, url, _rest) = spawn_login(cmd).await;
    paste_code(&mut child, &url).await;
    let (code, _, err) = finish(child).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("could not save the credentials to")
            && err.contains("previous credentials are unchanged"),
        "{err}"
    );
    assert!(!err.contains("access-login"), "no token in the message");
}

#[test]
fn corrupt_and_open_credentials_files_are_reported_and_fixed() {
    let home = tempfile::tempdir().unwrap();
    let path = creds_path(home.path());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, r#"{"claudeAiOauth":{"accessTok"#).unwrap();
    let (code, out, err) = run(ccproxy(home.path()).args(["auth", "validate"]));
    assert_eq!(code, 1);
    assert!(out.starts_with("not logged in"), "{out}");
    assert!(
        err.contains("unreadable credentials file") && err.contains("not a credentials file"),
        "{err}"
    );

    use std::os::unix::fs::PermissionsExt;
    std::fs::write(
        &path,
        r#"{"claudeAiOauth":{"accessToken":"t","expiresAt":4102444800000}}"#,
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, err) = run(ccproxy(home.path()).args(["auth", "validate"]));
    assert_eq!(code, 0);
    assert!(err.contains("its mode is now 0600"), "{err}");
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn validate_explains_an_expired_login() {
    let home = tempfile::tempdir().unwrap();
    let path = creds_path(home.path());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        r#"{"claudeAiOauth":{"accessToken":"t","refreshToken":"r","expiresAt":1000}}"#,
    )
    .unwrap();
    let (code, out, _) = run(ccproxy(home.path()).args(["auth", "validate"]));
    assert_eq!(code, 1);
    assert!(
        out.starts_with("expired since 1970-01-01T00:00:01Z")
            && out.contains("ccproxy auth refresh"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_refreshing_at_once_make_one_refresh_call() {
    let mock = Mock::start().await;
    mock.accept_refresh_token("r-1");
    mock.set_token_delay(Duration::from_millis(800));
    let home = tempfile::tempdir().unwrap();
    let path = creds_path(home.path());
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        r#"{"claudeAiOauth":{"accessToken":"old","refreshToken":"r-1","expiresAt":1000}}"#,
    )
    .unwrap();
    let spawn = || {
        Command::from(auth_cmd(home.path(), &mock, &["refresh"]))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = tokio::join!(a.wait_with_output(), b.wait_with_output());
    for out in [a.unwrap(), b.unwrap()] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("Refreshed: valid until"));
    }
    assert_eq!(mock.token_calls(), 1, "one refresh across both processes");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(saved["claudeAiOauth"]["refreshToken"], "refresh-rotated-1");
    assert_eq!(mode(&path), 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_refreshes_an_expired_login_and_prefers_the_later_expiry() {
    let mock = Mock::start().await;
    mock.accept_refresh_token("r-1");
    let home = tempfile::tempdir().unwrap();
    // Both logins have expired; ours expires later, so it is the one in use (and refreshed).
    let ours = creds_path(home.path());
    std::fs::create_dir_all(ours.parent().unwrap()).unwrap();
    std::fs::write(
        &ours,
        r#"{"claudeAiOauth":{"accessToken":"old","refreshToken":"r-1","expiresAt":3000}}"#,
    )
    .unwrap();
    let claude = home.path().join(".claude/.credentials.json");
    std::fs::create_dir_all(claude.parent().unwrap()).unwrap();
    let claude_json =
        r#"{"claudeAiOauth":{"accessToken":"cc","refreshToken":"cc-r","expiresAt":2000}}"#;
    std::fs::write(&claude, claude_json).unwrap();
    let (code, out, err) = run(&mut auth_cmd(home.path(), &mock, &["info"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("In use:        {} (ccproxy)", ours.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("Also found:    {} (Claude Code", claude.display())),
        "{out}"
    );
    let expires = out.lines().find(|l| l.starts_with("Expires:")).unwrap();
    assert!(
        expires.contains("(in 7h 59m)") || expires.contains("(in 8h 0m)"),
        "refreshed: {out}"
    );
    assert_eq!(mock.token_calls(), 1);
    assert_eq!(
        std::fs::read_to_string(&claude).unwrap(),
        claude_json,
        "Claude Code's file untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_and_removes_only_ccproxys_login() {
    let mock = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    let ours = creds_path(home.path());
    std::fs::create_dir_all(ours.parent().unwrap()).unwrap();
    std::fs::write(&ours, r#"{"claudeAiOauth":{"accessToken":"a","refreshToken":"r-ours","expiresAt":4102444800000}}"#).unwrap();
    let claude = home.path().join(".claude/.credentials.json");
    std::fs::create_dir_all(claude.parent().unwrap()).unwrap();
    std::fs::write(
        &claude,
        r#"{"claudeAiOauth":{"accessToken":"cc","expiresAt":4102444800000}}"#,
    )
    .unwrap();
    let (code, out, _) = run(&mut auth_cmd(home.path(), &mock, &["logout"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("Logged out") && out.contains("revoked"),
        "{out}"
    );
    assert!(
        out.contains("Claude Code's own login is left alone"),
        "{out}"
    );
    assert!(!ours.exists());
    assert!(claude.exists());
    assert_eq!(mock.revoked(), ["r-ours"]);
    let (code, out, _) = run(&mut auth_cmd(home.path(), &mock, &["logout"]));
    assert_eq!(code, 0);
    assert!(out.contains("Not logged in with ccproxy"), "{out}");
}

#[test]
fn generate_token_save_keeps_other_lines() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join(".env");
    std::fs::write(
        &env,
        "# my settings\nPORT=9100\nAUTH_TOKEN=old-token-value\nOTHER=1\n",
    )
    .unwrap();
    let (code, out, _) = run(ccproxy(dir.path()).args(["generate-token", "--save"]));
    assert_eq!(code, 0);
    let token = out.trim();
    assert_eq!(
        std::fs::read_to_string(&env).unwrap(),
        format!("# my settings\nPORT=9100\nAUTH_TOKEN={token}\nOTHER=1\n")
    );
    assert_eq!(mode(&env), 0o600);
    let (_, shown, _) = run(ccproxy(dir.path()).args(["config", "show"]));
    assert!(
        shown.contains("security.auth_token") && shown.contains("(.env file"),
        "{shown}"
    );

    // SECURITY__AUTH_TOKEN wins over AUTH_TOKEN, so that line is the one replaced.
    std::fs::write(&env, "SECURITY__AUTH_TOKEN=old-one-here\n").unwrap();
    let (_, out, _) = run(ccproxy(dir.path()).args(["generate-token", "--save"]));
    assert_eq!(
        std::fs::read_to_string(&env).unwrap(),
        format!("SECURITY__AUTH_TOKEN={}\n", out.trim())
    );
    // No .env yet: one is created.
    let fresh = tempfile::tempdir().unwrap();
    let (_, out, _) = run(ccproxy(fresh.path()).args(["generate-token", "--save"]));
    assert_eq!(
        std::fs::read_to_string(fresh.path().join(".env")).unwrap(),
        format!("AUTH_TOKEN={}\n", out.trim())
    );
}

#[test]
fn shell_completions() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let (code, out, err) = run(ccproxy(dir.path()).args(["--show-completion", shell]));
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(
            out.contains("ccproxy") && out.contains("generate-token") && out.contains("auth"),
            "{shell}"
        );
    }
    let (code, _, err) = run(ccproxy(dir.path()).args(["--show-completion", "tcsh"]));
    assert_eq!(code, 2);
    assert!(err.contains("invalid value"), "{err}");
}

/// `auth.storage = "keyring"`: the login lives in the OS keychain (here the Secret Service of
/// gnome-keyring on a private D-Bus session, which `scripts/test.sh` starts), never on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyring_storage_round_trip() {
    let Some(bus) = std::env::var_os("DBUS_SESSION_BUS_ADDRESS")
        .filter(|_| std::env::var_os("CCPROXY_TEST_KEYRING").is_some())
    else {
        assert!(
            std::env::var_os("CCPROXY_E2E_REQUIRED").is_none(),
            "no Secret Service for the keyring test (scripts/test.sh starts one)"
        );
        eprintln!("SKIPPED: no Secret Service (run scripts/test.sh)");
        return;
    };
    let mock = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    let service = format!("ccproxy-test-{}", std::process::id());
    let with_keyring = |args: &[&str]| {
        let mut c = auth_cmd(home.path(), &mock, args);
        c.env("AUTH__STORAGE", "keyring")
            .env("AUTH__KEYRING_SERVICE", &service)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus);
        c
    };

    // Log in (manual flow) into the keychain.
    let (mut child, url, rest) = spawn_login(with_keyring(&["login", "--manual"])).await;
    paste_code(&mut child, &url).await;
    let out = rest_of(rest).await;
    let (code, _, err) = finish(child).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!(
            "Credentials saved to keychain:{service}/claude-oauth"
        )),
        "{out}"
    );
    assert!(!creds_path(home.path()).exists(), "nothing on disk");

    // Another process reads it back, refreshes it (written back to the keychain), logs out.
    let (code, out, err) = run(&mut with_keyring(&["validate"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("keychain:{service}/claude-oauth (ccproxy)")),
        "{out}"
    );
    let (code, out, err) = run(&mut with_keyring(&["refresh"]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(mock.token_calls(), 2, "the code exchange, then one refresh");
    let (code, out, _) = run(&mut with_keyring(&["logout"]));
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("removed keychain:{service}/claude-oauth")),
        "{out}"
    );
    assert_eq!(
        mock.revoked(),
        ["refresh-rotated-2"],
        "the rotated refresh token was stored and revoked"
    );
    let (code, out, _) = run(&mut with_keyring(&["validate"]));
    assert_eq!(code, 1, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_nobody_approves_times_out_clearly() {
    let mock = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    let (child, url, _rest) =
        start_login(home.path(), &mock, &["--no-browser", "--timeout", "1"]).await;
    assert!(url.contains("/oauth/authorize?"));
    let (code, _, err) = finish(child).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("no answer from the browser within 1 s"),
        "{err}"
    );
    assert!(!creds_path(home.path()).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_browser_the_manual_flow_is_used() {
    let mock = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    // The test environment has no DISPLAY, WAYLAND_DISPLAY or BROWSER.
    let (mut child, url, _rest) = start_login(home.path(), &mock, &[]).await;
    assert_eq!(
        query(&url)["redirect_uri"],
        "https://console.example/oauth/code/callback"
    );
    drop(child.stdin.take());
    let (code, _, err) = finish(child).await;
    assert!(
        err.contains("No browser can be opened here; using the manual login."),
        "{err}"
    );
    assert_eq!(code, 1);
    assert!(err.contains("no code was entered"), "{err}");
}
