//! Claude Code mode with `claude.isolation = "docker"`, for real: the real `ccproxy serve`, real
//! Docker, the real pinned `claude` CLI inside a container (the minimal image
//! `tests/docker/build-test-image.sh` assembles), the mock upstream reached over the host's
//! network.
//!
//! When Docker cannot run here the tests say `SKIPPED`, unless `CCPROXY_DOCKER_REQUIRED` is set
//! (`scripts/test.sh` sets it where it started a daemon), which makes them fail instead.

use super::*;
use std::path::PathBuf;
use std::sync::OnceLock;

use super::clients::{python, run_script, TOKEN};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn docker(args: &[&str]) -> std::process::Output {
    std::process::Command::new("docker")
        .args(args)
        .output()
        .expect("run docker")
}

/// The test image's tag, built once per test run; `None` (skip) when Docker cannot run.
fn image() -> Option<String> {
    static IMAGE: OnceLock<Result<String, String>> = OnceLock::new();
    let built = IMAGE.get_or_init(|| {
        let info = std::process::Command::new("docker").arg("info").output();
        match info {
            Ok(out) if out.status.success() => {}
            Ok(out) => return Err(String::from_utf8_lossy(&out.stderr).into_owned()),
            Err(e) => return Err(format!("no docker: {e}")),
        }
        let out = std::process::Command::new(repo().join("tests/docker/build-test-image.sh"))
            .output()
            .expect("run build-test-image.sh");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    match built {
        Ok(tag) => Some(tag.clone()),
        Err(why) => {
            assert!(
                std::env::var_os("CCPROXY_DOCKER_REQUIRED").is_none(),
                "Docker is required here: {why}"
            );
            eprintln!("SKIPPED: Docker cannot run here ({})", why.trim());
            None
        }
    }
}

/// The containers a server with `pid` started.
fn containers_of(pid: u32) -> Vec<String> {
    let out = docker(&[
        "ps",
        "-aq",
        "--filter",
        "label=io.ccproxy.claude-code",
        "--filter",
        &format!("label=io.ccproxy.server-pid={pid}"),
    ]);
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// Waits (up to a minute) until `done` holds.
async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A home whose workspace and Claude Code directory the container's user (uid 1000) owns,
/// and a directory outside the workspace anyone may write to: only isolation keeps the CLI out.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["workspace", ".claude", "outside"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        std::os::unix::fs::chown(dir.path().join("workspace"), Some(1000), Some(1000)).ok();
        std::os::unix::fs::chown(dir.path().join(".claude"), Some(1000), Some(1000)).ok();
        use std::os::unix::fs::PermissionsExt;
        for sub in ["workspace", ".claude", "outside"] {
            std::fs::set_permissions(dir.path().join(sub), std::fs::Permissions::from_mode(0o777))
                .unwrap();
        }
        Self { dir }
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }
}

async fn serve_isolated(home: &Home, image: &str, mock: &Mock, extra: &[(&str, &str)]) -> Served {
    let url = mock.url();
    let workspace = home.path("workspace");
    let claude_dir = home.path(".claude");
    let mut env = vec![
        ("CLAUDE__ISOLATION", "docker"),
        ("CLAUDE__DOCKER__IMAGE", image),
        ("CLAUDE__CWD", workspace.to_str().unwrap()),
        ("CLAUDE_CONFIG_DIR", claude_dir.to_str().unwrap()),
        ("CLAUDE__PERMISSION_MODE", "bypassPermissions"),
        ("CLAUDE__ALLOW_BYPASS_PERMISSIONS", "true"),
        ("ANTHROPIC_BASE_URL", url.as_str()),
        ("ANTHROPIC_API_KEY", "dummy"),
        ("SECURITY__AUTH_TOKEN", TOKEN),
    ];
    env.extend_from_slice(extra);
    serve(home.dir.path(), &[], &env).await
}

async fn post(
    http: &reqwest::Client,
    served: &Served,
    text: &str,
    stream: bool,
) -> reqwest::Response {
    http.post(format!("http://{}/sdk/v1/messages", served.addr))
        .bearer_auth(TOKEN)
        .json(&json!({
            "model": "claude-sonnet-4-20250514",
            "max_tokens": 256,
            "stream": stream,
            "messages": [{"role": "user", "content": text}],
        }))
        .send()
        .await
        .unwrap()
}

/// The status's CLI once probed.
async fn probed(http: &reqwest::Client, served: &Served) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let status: Value = http
            .get(format!("http://{}/sdk/status", served.addr))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["cli"]["found"] != Value::Null {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never probed: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Streamed and non-streamed turns through the real CLI in a container; the container is
/// isolated as documented (checked with `docker inspect` while it runs); a tool writes inside
/// the workspace and cannot write outside it (checked on the host); none outlives the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_mode_in_a_container() {
    let Some(image) = image() else { return };
    let mock = Mock::start().await;
    let home = Home::new();
    let served = serve_isolated(&home, &image, &mock, &[("CLAUDE__PREWARM", "true")]).await;
    let pid = served.child.id().unwrap();
    let http = reqwest::Client::new();

    let status = probed(&http, &served).await;
    assert_eq!(status["cli"]["isolation"], "docker", "{status}");
    assert_eq!(status["cli"]["image"], image.as_str(), "{status}");
    assert_eq!(status["cli"]["version"], "2.1.331", "{status}");
    assert_eq!(status["cli"]["usable"], true, "{status}");

    // The warm pool's container, as it runs.
    wait_for("a warm container", || !containers_of(pid).is_empty()).await;
    let id = containers_of(pid)[0].clone();
    let inspect: Value = serde_json::from_slice(&docker(&["inspect", &id]).stdout).unwrap();
    let c = &inspect[0];
    assert_eq!(c["Config"]["User"], "1000");
    assert_eq!(c["HostConfig"]["ReadonlyRootfs"], true);
    assert_eq!(c["HostConfig"]["CapDrop"], json!(["ALL"]));
    assert_eq!(c["HostConfig"]["SecurityOpt"], json!(["no-new-privileges"]));
    assert_eq!(c["HostConfig"]["NetworkMode"], "host");
    assert_eq!(c["HostConfig"]["PidsLimit"], 1024);
    assert_eq!(c["HostConfig"]["Memory"], 4u64 << 30);
    let mut mounts: Vec<(String, String, bool)> = c["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["Source"].as_str().unwrap().to_string(),
                m["Destination"].as_str().unwrap().to_string(),
                m["RW"].as_bool().unwrap(),
            )
        })
        .collect();
    mounts.sort();
    let workspace = home.path("workspace").display().to_string();
    let claude_dir = home.path(".claude").display().to_string();
    assert_eq!(
        mounts,
        [
            (claude_dir, "/claude-config".to_string(), true),
            (workspace.clone(), workspace.clone(), true),
        ],
        "the workspace and Claude Code's directory, nothing else of the host"
    );
    let env = c["Config"]["Env"].to_string();
    assert!(
        env.contains(&format!("ANTHROPIC_BASE_URL={}", mock.url())),
        "{env}"
    );
    assert!(
        !env.contains(TOKEN),
        "the proxy's own token stays out: {env}"
    );
    assert!(!env.contains("SECURITY__"), "{env}");

    // Non-streamed and streamed answers.
    let r = post(&http, &served, "Say hello", false).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "message", "{body}");
    assert!(
        body["content"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["type"] == "text" && b["text"].as_str().is_some_and(|t| !t.is_empty())),
        "{body}"
    );
    let r = post(&http, &served, "Say hello again", true).await;
    assert_eq!(r.status(), 200);
    let sse = r.text().await.unwrap();
    assert!(sse.contains("event: content_block_delta"), "{sse}");
    assert!(sse.contains("event: message_stop"), "{sse}");

    // A tool writes inside the workspace …
    let inside = home.path("workspace/inside.txt");
    let r = post(
        &http,
        &served,
        &format!("MOCK_WRITE_FILE={}", inside.display()),
        false,
    )
    .await;
    let body: Value = r.json().await.unwrap();
    assert!(body.to_string().contains("The tool returned"), "{body}");
    assert_eq!(
        std::fs::read_to_string(&inside).unwrap(),
        "written by the claude CLI\n"
    );
    // … and cannot write outside it, though the host directory is open to everyone.
    let outside = home.path("outside/escaped.txt");
    let r = post(
        &http,
        &served,
        &format!("MOCK_WRITE_FILE={}", outside.display()),
        false,
    )
    .await;
    let body: Value = r.json().await.unwrap();
    assert!(body.to_string().contains("The tool returned"), "{body}");
    assert!(!outside.exists(), "the CLI wrote outside its workspace");
    let upstream: Vec<String> = mock
        .requests()
        .into_iter()
        .filter(|r| r.uri.starts_with("/v1/messages"))
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert!(
        upstream.iter().all(|b| !b.contains(TOKEN)),
        "the proxy's token never reaches upstream"
    );

    // The CLI keeps its state in the host's Claude Code directory (so a token it rotates is
    // written there too), as the container's user.
    let state = home.path(".claude/.claude.json");
    assert!(state.is_file(), "the CLI wrote nothing to its directory");
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&state.metadata().unwrap()),
        1000
    );

    let log = served.terminate().await;
    assert!(
        log.contains("Claude Code mode: claude 2.1.331 in the Docker image"),
        "{log}"
    );
    wait_for("no container left", || containers_of(pid).is_empty()).await;
}

/// A turn the client abandons and a turn that times out (the upstream never answers) leave no
/// container behind; a container left by a server that is gone is removed at start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_and_timed_out_turns_leave_no_container() {
    let Some(image) = image() else { return };
    // A leftover of a crashed server (a pid that cannot be running).
    let leftover = docker(&[
        "create",
        "--label",
        "io.ccproxy.claude-code",
        "--label",
        "io.ccproxy.server-pid=4194999",
        &image,
        "claude",
        "--version",
    ]);
    assert!(leftover.status.success());
    let leftover = String::from_utf8_lossy(&leftover.stdout).trim().to_string();

    let mock = Mock::start().await;
    let asked = |mock: &Mock| {
        mock.requests()
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains("MOCK_HANG"))
            .count()
    };
    let http = reqwest::Client::new();

    // Abandoned: the client goes away while the CLI waits for the upstream (which never
    // answers; the server's silence limit is the default 10 minutes, so only the client's
    // leaving ends the turn).
    let home = Home::new();
    let served = serve_isolated(&home, &image, &mock, &[("CLAUDE__POOL_SIZE", "0")]).await;
    let pid = served.child.id().unwrap();
    probed(&http, &served).await;
    wait_for("the leftover removed", || {
        docker(&["inspect", &leftover]).status.code() != Some(0)
    })
    .await;
    let turn = {
        let http = http.clone();
        let url = format!("http://{}/sdk/v1/messages", served.addr);
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth(TOKEN)
                .json(&json!({
                    "model": "claude-sonnet-4-20250514", "max_tokens": 64, "stream": true,
                    "messages": [{"role": "user", "content": "MOCK_HANG please"}],
                }))
                .send()
                .await
        })
    };
    wait_for("the upstream call", || asked(&mock) >= 1).await;
    assert_eq!(containers_of(pid).len(), 1, "the turn's container runs");
    turn.abort();
    wait_for("the abandoned turn's container gone", || {
        containers_of(pid).is_empty()
    })
    .await;
    served.terminate().await;

    // Timed out: nothing from the CLI for claude.read_timeout_secs.
    let home = Home::new();
    let served = serve_isolated(
        &home,
        &image,
        &mock,
        &[
            ("CLAUDE__POOL_SIZE", "0"),
            ("CLAUDE__READ_TIMEOUT_SECS", "3"),
        ],
    )
    .await;
    let pid = served.child.id().unwrap();
    let r = post(&http, &served, "MOCK_HANG again", false).await;
    assert!(r.status().is_server_error(), "{}", r.status());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("said nothing"),
        "{body}"
    );
    wait_for("the timed-out turn's container gone", || {
        containers_of(pid).is_empty()
    })
    .await;
    served.terminate().await;
}

/// Docker present but the image absent: a clear start-up warning, and a 503 in the API's shape
/// that says what to run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_is_a_clear_503() {
    let Some(_) = image() else { return };
    let mock = Mock::start().await;
    let home = Home::new();
    let served = serve_isolated(&home, "ccproxy-no-such-image:0", &mock, &[]).await;
    let http = reqwest::Client::new();
    let status = probed(&http, &served).await;
    assert_eq!(status["cli"]["found"], false, "{status}");
    let r = post(&http, &served, "hello", false).await;
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("ccproxy-no-such-image:0")
            && message.contains("ccproxy docker build-image"),
        "{message}"
    );
    let log = served.terminate().await;
    assert!(log.contains("is not here: build it with"), "{log}");
}

/// The image users build (`ccproxy docker build-image`, docker/claude-code.Dockerfile, the
/// pinned CLI from npm) on a local Debian base with Node.js, then a turn through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_image_builds_and_answers() {
    let Some(_) = image() else { return };
    let base = std::process::Command::new(repo().join("tests/docker/build-node-base.sh"))
        .output()
        .unwrap();
    assert!(
        base.status.success(),
        "{}",
        String::from_utf8_lossy(&base.stderr)
    );
    let base = String::from_utf8_lossy(&base.stdout).trim().to_string();
    let tag = "ccproxy-claude-code:test";
    let dir = tempfile::tempdir().unwrap();
    let built = tokio::task::spawn_blocking({
        let mut cmd = ccproxy(dir.path());
        // The test machine's network and CA settings, for npm inside the build.
        for var in ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "DOCKER_HOST"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        cmd.env("DOCKER_BUILDKIT", "0").args([
            "docker",
            "build-image",
            "--base",
            &base,
            "--tag",
            tag,
        ]);
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        built.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
    assert!(String::from_utf8_lossy(&built.stdout).contains("Built ccproxy-claude-code:test"));

    let mock = Mock::start().await;
    let home = Home::new();
    let served = serve_isolated(&home, tag, &mock, &[]).await;
    let http = reqwest::Client::new();
    let status = probed(&http, &served).await;
    assert_eq!(status["cli"]["version"], "2.1.331", "{status}");
    let r = post(&http, &served, "Say hello", false).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["type"], "message", "{body}");
    // The official SDKs' runs of Claude Code mode, unchanged, with the CLI in this container:
    // streams, the CLI's Bash tool (the image has a shell), errors, OpenAI's APIs; the client's
    // own tools (the MCP calls that come back to the client) and a session.
    if let Some(python) = python() {
        let base = format!("http://{}/sdk", served.addr);
        for script in ["sdk_mode_clients.py", "sdk_client_tools.py"] {
            let out = run_script(python.clone(), script, base.clone()).await;
            assert_eq!(out.trim(), "ok", "{script}");
        }
    }
    served.terminate().await;
    docker(&["rmi", tag]);
}

/// The headless server's image (`Dockerfile`), built on a local Debian base with this build's
/// binary (`BINARY_FROM`, so no Rust toolchain image is needed): it runs as a non-root user,
/// its health check passes, and it proxies a request to the mock with the login in its volume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_image_is_healthy_and_proxies() {
    let Some(_) = image() else { return };
    let base = std::process::Command::new(repo().join("tests/docker/build-node-base.sh"))
        .output()
        .unwrap();
    assert!(
        base.status.success(),
        "{}",
        String::from_utf8_lossy(&base.stderr)
    );
    let base = String::from_utf8_lossy(&base.stdout).trim().to_string();
    // This build's binary, as a one-file image.
    let staged = tempfile::tempdir().unwrap();
    let root = staged.path().join("root");
    std::fs::create_dir_all(root.join("out")).unwrap();
    std::fs::copy(BIN, root.join("out/ccproxy")).unwrap();
    let tarball = staged.path().join("binary.tar");
    let tar = std::process::Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .unwrap();
    assert!(tar.success());
    let imported = docker(&[
        "import",
        tarball.to_str().unwrap(),
        "ccproxy-test-binary:latest",
    ]);
    assert!(imported.status.success());
    // BuildKit builds only the stages the image needs; Debian's docker.io client has it
    // built in (a newer client needs the buildx plugin for it).
    let client = if Path::new("/usr/bin/docker").is_file() {
        "/usr/bin/docker"
    } else {
        "docker"
    };
    let tag = "ccproxy-server:test";
    let built = std::process::Command::new(client)
        .env("DOCKER_BUILDKIT", "1")
        .args([
            "build",
            "--quiet",
            "--build-arg",
            "BINARY_FROM=ccproxy-test-binary:latest",
            "--build-arg",
            &format!("BASE={base}"),
            "--tag",
            tag,
            ".",
        ])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );

    // Its data volume, with a login in it, owned by the image's user.
    let mock = Mock::start().await;
    let data = tempfile::tempdir().unwrap();
    let creds = data.path().join("config/ccproxy/credentials.json");
    std::fs::create_dir_all(creds.parent().unwrap()).unwrap();
    std::fs::write(
        &creds,
        json!({"claudeAiOauth": {"accessToken": "access-in-volume", "expiresAt": 4102444800000u64}})
            .to_string(),
    )
    .unwrap();
    let chown = std::process::Command::new("chown")
        .args(["-R", "10001:10001", data.path().to_str().unwrap()])
        .status()
        .unwrap();
    assert!(chown.success());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let name = format!("ccproxy-server-test-{}", std::process::id());
    let run = docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "host",
        "--health-interval",
        "1s",
        "-e",
        &format!("PORT={port}"),
        "-e",
        &format!("AUTH_TOKEN={TOKEN}"),
        "-e",
        &format!("CLAUDE__API_BASE_URL={}", mock.url()),
        "-v",
        &format!("{}:/data", data.path().display()),
        tag,
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let health = || {
        String::from_utf8_lossy(
            &docker(&["inspect", "--format", "{{.State.Health.Status}}", &name]).stdout,
        )
        .trim()
        .to_string()
    };
    wait_for("a healthy server", || health() == "healthy").await;
    let inspect: Value = serde_json::from_slice(&docker(&["inspect", &name]).stdout).unwrap();
    assert_eq!(inspect[0]["Config"]["User"], "10001");
    assert_eq!(
        inspect[0]["Config"]["Healthcheck"]["Test"],
        json!(["CMD", "ccproxy", "health"])
    );

    let http = reqwest::Client::new();
    let base_url = format!("http://127.0.0.1:{port}");
    let r = http
        .post(format!("{base_url}/api/v1/messages"))
        .json(
            &json!({"model": "claude-sonnet-4-20250514", "max_tokens": 16,
                      "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the token is required");
    let r = http
        .post(format!("{base_url}/api/v1/messages"))
        .bearer_auth(TOKEN)
        .json(
            &json!({"model": "claude-sonnet-4-20250514", "max_tokens": 16,
                      "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(mock
        .requests()
        .iter()
        .any(|r| r.header("authorization") == "Bearer access-in-volume"));
    let logs = docker(&["logs", &name]);
    assert!(
        String::from_utf8_lossy(&logs.stderr)
            .contains(&format!("listening on http://0.0.0.0:{port}")),
        "{}",
        String::from_utf8_lossy(&logs.stderr)
    );
    docker(&["rm", "-f", &name]);
    docker(&["rmi", tag]);
}

/// Docker not installed, or its daemon not answering: the server starts, warns once saying
/// what to do, and `/sdk` answers 503 with the same message (no Docker needed for this test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_docker_or_no_daemon_is_a_clear_503() {
    let mock = Mock::start().await;
    let docker_dir = tempfile::tempdir().unwrap();
    // A `docker` that cannot reach a daemon: the real client when installed, else none at all.
    let real = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("docker"))
        .find(|p| p.is_file());
    let mut cases = vec![("/nonexistent".to_string(), None, "Docker is not installed")];
    if let Some(real) = real {
        std::os::unix::fs::symlink(real, docker_dir.path().join("docker")).unwrap();
        cases.push((
            docker_dir.path().display().to_string(),
            Some("unix:///nonexistent/docker.sock"),
            "the Docker daemon does not answer",
        ));
    }
    for (path, host, expected) in cases {
        let home = Home::new();
        let mut env = vec![("PATH", path.as_str())];
        if let Some(host) = host {
            env.push(("DOCKER_HOST", host));
        }
        let served = serve_isolated(&home, "any:image", &mock, &env).await;
        let http = reqwest::Client::new();
        let status = probed(&http, &served).await;
        assert_eq!(status["cli"]["found"], false, "{status}");
        assert_eq!(status["cli"]["isolation"], "docker", "{status}");
        let r = post(&http, &served, "hello", false).await;
        assert_eq!(r.status(), 503);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["type"], "error");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(expected) && message.contains("claude.isolation = \"none\""),
            "{message}"
        );
        let log = served.terminate().await;
        assert!(log.contains(expected), "{log}");
    }
}

/// An isolation that would not hold is a configuration error naming the key and the option.
#[test]
fn unsafe_docker_settings_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".ccproxy.toml"),
        "[claude]\nisolation = \"docker\"\n[claude.docker]\nuser = \"root\"\n\
         extra_args = [\"--cap-add\", \"SYS_ADMIN\"]\n",
    )
    .unwrap();
    let (code, _, err) = run(ccproxy(dir.path()).args(["config", "show"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("claude.docker.user") && err.contains("must not run as root"),
        "{err}"
    );
    assert!(
        err.contains("claude.docker.extra_args") && err.contains("`--cap-add` is not allowed"),
        "{err}"
    );
    let (code, _, err) = run(ccproxy(dir.path())
        .args(["config", "show"])
        .env("CLAUDE__DOCKER__USER", "1000")
        .env("CLAUDE__DOCKER__EXTRA_ARGS", r#"["-v", "/etc:/host-etc"]"#));
    assert_eq!(code, 1);
    assert!(
        err.contains("mounts /etc, which claude.docker.allow_mounts does not list"),
        "{err}"
    );
    // Numbers from the environment are fine where the value is text.
    let (code, out, err) = run(ccproxy(dir.path())
        .args(["config", "show", "--json"])
        .env("CLAUDE__DOCKER__USER", "1000")
        .env("CLAUDE__DOCKER__CPUS", "1.5")
        .env("CLAUDE__DOCKER__MEMORY", "1073741824")
        .env(
            "CLAUDE__DOCKER__EXTRA_ARGS",
            r#"["--add-host", "up:10.0.0.1"]"#,
        ));
    assert_eq!(code, 0, "{err}");
    for (key, value) in [
        ("claude.docker.user", "\"1000\""),
        ("claude.docker.cpus", "\"1.5\""),
        ("claude.docker.memory", "\"1073741824\""),
    ] {
        let shown: Value = serde_json::from_str(&out).unwrap();
        let row = shown
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .unwrap_or_else(|| panic!("{key} not shown: {out}"));
        assert_eq!(row["value"].to_string(), value, "{row}");
    }
}
