//! Real client programs against the real `ccproxy serve` and the mock upstream: the official
//! Anthropic and OpenAI Python SDKs and the real `claude` CLI (Claude Code), installed by
//! `scripts/test.sh` (pinned in `tests/e2e/`).
//!
//! When a tool is not installed the test says so and passes only if `CCPROXY_E2E_REQUIRED` is
//! unset; `scripts/test.sh` (and so CI) sets it, so there these tests always run.

use super::*;
use std::path::PathBuf;

const IDENTITY_BLOCK: &str =
    r#"{"type":"text","text":"You are Claude Code, Anthropic's official CLI for Claude."}"#;
const ACCEPTED_IDENTITIES: [&str; 3] = [
    "You are Claude Code, Anthropic's official CLI for Claude.",
    "You are Claude Code, Anthropic's official CLI for Claude, running within the Claude Agent SDK.",
    "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
];
pub(super) const TOKEN: &str = "local-client-token-0123";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The tool at `env` or `default`, or `None` (skip) when absent and not required.
fn tool(env: &str, default: PathBuf) -> Option<PathBuf> {
    let path = std::env::var_os(env).map(PathBuf::from).unwrap_or(default);
    if path.is_file() {
        return Some(path);
    }
    let message = format!(
        "{} not found (set {env} or run scripts/test.sh, which installs it)",
        path.display()
    );
    assert!(
        std::env::var_os("CCPROXY_E2E_REQUIRED").is_none(),
        "{message}"
    );
    eprintln!("SKIPPED: {message}");
    None
}

pub(super) fn python() -> Option<PathBuf> {
    tool(
        "CCPROXY_TEST_PYTHON",
        repo().join("target/e2e-venv/bin/python"),
    )
}

/// `ccproxy serve` with an API token, in front of `mock`, with a valid login in its home.
async fn serve_for_clients(home: &Path, mock: &Mock) -> Served {
    let creds = home.join(".config/ccproxy/credentials.json");
    std::fs::create_dir_all(creds.parent().unwrap()).unwrap();
    std::fs::write(
        &creds,
        json!({"claudeAiOauth": {"accessToken": "access-1", "expiresAt": 4102444800000u64}})
            .to_string(),
    )
    .unwrap();
    serve(
        home,
        &["--auth-token", TOKEN],
        &[("CLAUDE__API_BASE_URL", &mock.url())],
    )
    .await
}

/// `node` on `PATH`, for the JavaScript clients (`tests/e2e/*.mjs`).
fn node() -> Option<PathBuf> {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("node"))
        .find(|p| p.is_file());
    tool("CCPROXY_TEST_NODE", found.unwrap_or_else(|| "node".into()))
}

/// Runs `tests/e2e/<script>` with `interpreter`, the base URL, the API token and `extra`
/// arguments; its stdout (the test fails with its output when it does).
/// The real `claude` CLI (pinned in `tests/e2e/`), or `None` (skip).
fn claude() -> Option<PathBuf> {
    tool(
        "CCPROXY_TEST_CLAUDE",
        repo().join("tests/e2e/node_modules/.bin/claude"),
    )
}

/// `ccproxy serve` with an API token in Claude Code mode: `claude` answers against `mock`, in
/// the workspace `<home>/workspace`, with `extra` settings besides.
async fn serve_claude_code_mode(
    home: &Path,
    claude: &Path,
    mock: &Mock,
    extra: &[(&str, &str)],
) -> Served {
    let workspace = home.join("workspace");
    let url = mock.url();
    let mut env = vec![
        ("CLAUDE__CLI_PATH", claude.to_str().unwrap()),
        ("CLAUDE__CWD", workspace.to_str().unwrap()),
        ("ANTHROPIC_BASE_URL", url.as_str()),
        ("ANTHROPIC_API_KEY", "dummy"),
    ];
    env.extend_from_slice(extra);
    serve(home, &["--auth-token", TOKEN], &env).await
}

pub(super) async fn run_script(interpreter: PathBuf, script: &str, base: String) -> String {
    run_script_with(interpreter, script, base, &[]).await
}

async fn run_script_with(
    interpreter: PathBuf,
    script: &str,
    base: String,
    extra: &[&str],
) -> String {
    let script = repo().join("tests/e2e").join(script);
    let extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(interpreter)
            .arg(script)
            .arg(base)
            .arg(TOKEN)
            .args(extra)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "SDK script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_anthropic_python_sdk() {
    let Some(python) = python() else { return };
    let mock = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    let served = serve_for_clients(home.path(), &mock).await;
    let out = run_script(
        python,
        "anthropic_sdk.py",
        format!("http://{}/api", served.addr),
    )
    .await;
    assert_eq!(out.trim(), "ok");
    let seen = mock.requests();
    assert_eq!(
        seen.len(),
        4,
        "create, stream, count_tokens, the 429 (models are served locally)"
    );
    for r in &seen {
        assert_eq!(r.header("authorization"), "Bearer access-1");
        assert!(r.headers.get("x-api-key").is_none());
        assert!(r.header("anthropic-beta").contains("oauth-2025-04-20"));
        assert!(
            r.header("user-agent").starts_with("Anthropic/Python"),
            "{}",
            r.header("user-agent")
        );
    }
    served.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_openai_python_sdk() {
    let Some(python) = python() else { return };
    let mock = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    let served = serve_for_clients(home.path(), &mock).await;
    // Both spellings of the base URL: `/api/v1` and `/api`.
    for base in ["api/v1", "api"] {
        let out = run_script(
            python.clone(),
            "openai_sdk.py",
            format!("http://{}/{base}", served.addr),
        )
        .await;
        assert_eq!(out.trim(), "ok");
    }
    let seen = mock.requests();
    assert!(!seen.is_empty());
    for r in &seen {
        assert_eq!(r.uri, "/v1/messages");
        assert_eq!(r.header("authorization"), "Bearer access-1");
        assert!(
            r.headers.get("x-stainless-lang").is_none(),
            "OpenAI SDK headers stay here"
        );
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            body["system"][0]["text"], ACCEPTED_IDENTITIES[0],
            "identity first in every translated request"
        );
    }
    served.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_cli() {
    let Some(claude) = claude() else { return };
    let mock = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    let served = serve_for_clients(home.path(), &mock).await;
    let claude_home = tempfile::tempdir().unwrap();
    let base = format!("http://{}/api", served.addr);
    let dir = claude_home.path().to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(claude)
            .args(["-p", "say hello", "--output-format", "json"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &dir)
            .env("ANTHROPIC_BASE_URL", base)
            .env("ANTHROPIC_API_KEY", TOKEN)
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .current_dir(&dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "claude failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(result["is_error"], false, "{result}");
    assert_eq!(result["result"], "x".repeat(64), "{result}");

    let turns: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.uri.starts_with("/v1/messages"))
        .collect();
    assert!(!turns.is_empty());
    for r in &turns {
        assert_eq!(r.uri, "/v1/messages?beta=true", "query string kept");
        assert_eq!(r.header("authorization"), "Bearer access-1");
        assert!(
            r.headers.get("x-api-key").is_none(),
            "local token not forwarded"
        );
        let betas = r.header("anthropic-beta");
        assert!(
            betas.contains("oauth-2025-04-20") && betas.contains("claude-code-20250219"),
            "{betas}"
        );
        assert!(
            r.header("user-agent").starts_with("claude-cli/"),
            "{}",
            r.header("user-agent")
        );
        // Claude Code carries its own identity line after its billing block; the proxy must not
        // add a second one.
        let body = std::str::from_utf8(&r.body).unwrap();
        assert!(
            !body.contains(IDENTITY_BLOCK),
            "no identity inserted into Claude Code's request"
        );
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(v["system"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("x-anthropic-billing-header:"));
        let line = v["system"][1]["text"].as_str().unwrap();
        assert!(ACCEPTED_IDENTITIES.contains(&line), "{line}");
        assert!(v["messages"].as_array().is_some_and(|m| !m.is_empty()));
    }
    served.terminate().await;
}

/// Claude Code mode with the real `claude` CLI answering (pointed at the mock through
/// `ANTHROPIC_BASE_URL`), driven by both official Python SDKs: text, a stream of several deltas,
/// a reply in which the mock asks for `Bash` and the CLI runs it, a 429 from upstream, upstream's
/// Claude Code version floor (the error names the version and `/sdk/status` keeps it), Chat
/// Completions and Responses. Afterwards no CLI process is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_mode_with_the_real_cli() {
    let Some(claude) = claude() else { return };
    let Some(python) = python() else { return };
    let mock = Mock::start().await;
    mock.set_reply_size(64, 8);
    let home = tempfile::tempdir().unwrap();
    let workspace = home.path().join("workspace");
    let served = serve_claude_code_mode(
        home.path(),
        &claude,
        &mock,
        &[("CLAUDE__ALLOWED_TOOLS", r#"["Bash(echo:*)"]"#)],
    )
    .await;
    let out = run_script(
        python,
        "sdk_mode_clients.py",
        format!("http://{}/sdk", served.addr),
    )
    .await;
    assert_eq!(out.trim(), "ok");
    let turns: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.uri.starts_with("/v1/messages"))
        .collect();
    assert!(turns.len() >= 8, "{} upstream calls", turns.len());
    for r in &turns {
        assert!(
            r.header("user-agent").starts_with("claude-cli/"),
            "the CLI made the call"
        );
        assert!(
            !r.header("authorization").contains(TOKEN) && !r.header("x-api-key").contains(TOKEN),
            "the proxy's own token never reaches the CLI's upstream"
        );
    }
    // The tool really ran: its output went back upstream.
    assert!(turns.iter().any(|r| {
        let body = String::from_utf8_lossy(&r.body);
        body.contains("tool_result") && body.contains("hi")
    }));
    let log = served.terminate().await;
    assert!(log.contains("Claude Code mode: claude 2.1.331"), "{log}");
    // No CLI outlives the server: none runs in its workspace any more.
    let leftovers: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd == workspace)
                && std::fs::read_to_string(e.path().join("stat"))
                    .is_ok_and(|s| !s.rsplit(')').next().unwrap_or("").trim().starts_with('Z'))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(leftovers.is_empty(), "CLI processes left: {leftovers:?}");
}

/// Claude Code mode with the client's own tools, the real `claude` CLI answering: the official
/// SDKs' tool loops (one call, streamed and not, two calls in one message, an error result, a
/// stray id, a session, Chat Completions and Responses) run unchanged against `/sdk`. Upstream
/// was offered exactly the client's tools, under their own names, and every result reached it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_mode_runs_the_clients_tools_with_the_real_cli() {
    let Some(claude) = claude() else { return };
    let Some(python) = python() else { return };
    let mock = Mock::start().await;
    mock.set_reply_size(64, 8);
    let home = tempfile::tempdir().unwrap();
    let served = serve_claude_code_mode(home.path(), &claude, &mock, &[]).await;
    let out = run_script(
        python,
        "sdk_client_tools.py",
        format!("http://{}/sdk", served.addr),
    )
    .await;
    assert_eq!(out.trim(), "ok");
    let turns: Vec<Value> = mock
        .requests()
        .into_iter()
        .filter(|r| r.uri.starts_with("/v1/messages"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let with_tools: Vec<&Value> = turns.iter().filter(|t| t["tools"].is_array()).collect();
    assert!(
        with_tools.len() >= 10,
        "{} calls with tools",
        with_tools.len()
    );
    for t in &with_tools {
        let names: Vec<&str> = t["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["get_weather"], "only the client's tools, as named");
        assert_eq!(
            t["tools"][0]["input_schema"]["required"],
            json!(["location"]),
            "the schema as the client wrote it"
        );
    }
    // The results went upstream as the CLI's tool results.
    let sent = serde_json::to_string(&turns).unwrap();
    for result in ["Sunny, 21 C in Paris", "Sunny, 21 C in Tokyo", "no data"] {
        assert!(sent.contains(result), "{result} never reached upstream");
    }
    let log = served.terminate().await;
    assert!(!log.contains("panicked"), "{log}");
}

/// The Vercel AI SDK (Anthropic provider, OpenAI Chat and Responses providers), whose strict
/// response schemas fail on any field the APIs do not send (e.g. `citations: null`), against
/// API mode: text, streams and tool loops; its Responses loop names earlier items by id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vercel_ai_sdk_in_api_mode() {
    let Some(node) = node() else { return };
    let mock = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    let served = serve_for_clients(home.path(), &mock).await;
    let base = format!("http://{}/api", served.addr);
    let out = run_script_with(node, "vercel_ai_sdk.mjs", base, &["api"]).await;
    assert_eq!(out.trim(), "ok");
    for r in mock.requests() {
        assert_eq!(r.header("authorization"), "Bearer access-1");
    }
    served.terminate().await;
}

/// The same Vercel AI SDK programs against Claude Code mode, the real `claude` CLI answering:
/// every message, stream event and tool loop parses under the SDK's schemas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vercel_ai_sdk_in_claude_code_mode_with_the_real_cli() {
    let Some(claude) = claude() else { return };
    let Some(node) = node() else { return };
    let mock = Mock::start().await;
    mock.set_reply_size(64, 8);
    let home = tempfile::tempdir().unwrap();
    let served = serve_claude_code_mode(home.path(), &claude, &mock, &[]).await;
    let base = format!("http://{}/sdk", served.addr);
    let out = run_script_with(node, "vercel_ai_sdk.mjs", base, &["sdk"]).await;
    assert_eq!(out.trim(), "ok");
    let turns = mock
        .requests()
        .into_iter()
        .filter(|r| r.uri.starts_with("/v1/messages"))
        .count();
    assert!(
        turns >= 12,
        "{turns} upstream calls: the CLI answered them all"
    );
    let log = served.terminate().await;
    assert!(!log.contains("panicked"), "{log}");
}

/// Runs the real Codex CLI (`codex exec`, pinned in `tests/e2e/`) with its default tools and a
/// custom provider on `/api/v1` (the Responses API), in its own home; its stdout.
async fn codex_exec(codex: &Path, base: &str, prompt: &str, extra: &[&str]) -> String {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".codex")).unwrap();
    std::fs::write(
        home.path().join(".codex/config.toml"),
        format!(
            "model = \"gpt-4o\"\nmodel_provider = \"ccproxy\"\n\n[model_providers.ccproxy]\n\
             name = \"CCProxy\"\nbase_url = \"{base}\"\nwire_api = \"responses\"\n\
             env_key = \"CCPROXY_KEY\"\n"
        ),
    )
    .unwrap();
    let mut args = vec![
        "exec",
        "--skip-git-repo-check",
        "--sandbox",
        "danger-full-access",
    ];
    args.extend_from_slice(extra);
    args.push(prompt);
    run_codex(codex, home.path(), &args, &[("CCPROXY_KEY", TOKEN)]).await
}

/// Runs the Codex CLI with `args` in `home` (its `HOME` and working directory), with nothing of
/// this process's environment but `PATH` and `env`; its output, once it succeeded.
async fn run_codex(codex: &Path, home: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let codex = codex.to_path_buf();
    let dir = home.to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(codex)
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &dir)
            .envs(env)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "codex failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// One-click setup for the Codex CLI: CCProxy writes its provider into Codex's own
/// `~/.codex/config.toml` (the user's lines kept), the real Codex CLI with no other
/// configuration (no key in its environment: the token is in the file) answers through it, and
/// the restore gives the file back byte for byte.
#[tokio::test]
async fn codex_cli_set_up_in_one_click() {
    let Some(codex) = tool(
        "CCPROXY_TEST_CODEX",
        repo().join("tests/e2e/node_modules/.bin/codex"),
    ) else {
        return;
    };
    let mock = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".codex/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    let mine = "# my settings\nmodel = \"gpt-4o\"\n";
    std::fs::write(&config, mine).unwrap();
    let served = serve_for_clients(home.path(), &mock).await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/api/client-setup/codex", served.addr);
    let r = http
        .post(&url)
        .header("x-api-key", TOKEN)
        .json(&json!({"mode": "api"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.starts_with(mine), "{written}");

    let stdout = run_codex(
        &codex,
        home.path(),
        &["exec", "--skip-git-repo-check", "say hi"],
        &[],
    )
    .await;
    assert!(stdout.contains(&"x".repeat(64)), "{stdout}");
    assert!(!mock.requests().is_empty());

    let r = http
        .delete(&url)
        .header("x-api-key", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let restored: Value = r.json().await.unwrap();
    assert_eq!(restored["exact"], true, "{restored}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), mine);
    served.terminate().await;
}

/// Codex CLI with its default configuration through API mode's Responses API: a plain prompt,
/// a tool round trip (the mock asks for `exec_command`; Codex runs `echo hi` and sends the
/// output back), reasoning effort high with a tool round trip, and an attached image — Codex's
/// function, `namespace` and hosted `web_search` tools, and its reasoning items, all accepted,
/// and the thinking block comes back to upstream through `encrypted_content`.
#[tokio::test]
async fn codex_cli_with_its_default_configuration() {
    let Some(codex) = tool(
        "CCPROXY_TEST_CODEX",
        repo().join("tests/e2e/node_modules/.bin/codex"),
    ) else {
        return;
    };
    let mock = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    let served = serve_for_clients(home.path(), &mock).await;
    let base = format!("http://{}/api/v1", served.addr);

    let out = codex_exec(&codex, &base, "say hi", &[]).await;
    assert!(out.contains(&"x".repeat(64)), "{out}");
    let first = mock.requests();
    let sent = serde_json::from_slice::<Value>(&first.last().unwrap().body).unwrap();
    let names: Vec<&str> = sent["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"exec_command"), "{names:?}");
    assert!(
        names.iter().all(|n| n
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')),
        "{names:?}"
    );

    let out = codex_exec(&codex, &base, "MOCK_TOOL_USE run it", &[]).await;
    assert!(
        out.contains("The tool returned:") && out.contains("hi"),
        "{out}"
    );

    let before = mock.requests().len();
    let out = codex_exec(
        &codex,
        &base,
        "MOCK_TOOL_USE run it",
        &["-c", "model_reasoning_effort=\"high\""],
    )
    .await;
    assert!(out.contains("The tool returned:"), "{out}");
    let turns: Vec<Value> = mock.requests()[before..]
        .iter()
        .filter(|r| r.uri.starts_with("/v1/messages"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let answered = turns.last().unwrap();
    assert_eq!(answered["thinking"]["type"], "enabled", "{answered}");
    let assistant = answered["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "assistant")
        .unwrap();
    assert_eq!(assistant["content"][0]["type"], "thinking", "{assistant}");

    // An image attached to the prompt (`codex exec -i`): Codex sends it as an `input_image`
    // data URL, which reaches upstream as a base64 image block.
    let pictures = tempfile::tempdir().unwrap();
    let png = pictures.path().join("red.png");
    std::fs::write(&png, RED_PIXEL_PNG).unwrap();
    let before = mock.requests().len();
    let out = codex_exec(
        &codex,
        &base,
        "describe this picture",
        &["-i", png.to_str().unwrap(), "--"],
    )
    .await;
    assert!(out.contains(&"x".repeat(64)), "{out}");
    let sent = mock.requests()[before..]
        .iter()
        .rev()
        .find(|r| r.uri.starts_with("/v1/messages"))
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .unwrap();
    let images: Vec<&Value> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|b| b["type"] == "image")
        .collect();
    assert_eq!(images.len(), 1, "{sent}");
    assert_eq!(images[0]["source"]["type"], "base64", "{}", images[0]);
    assert_eq!(
        images[0]["source"]["media_type"], "image/png",
        "{}",
        images[0]
    );
    assert!(
        !images[0]["source"]["data"].as_str().unwrap().is_empty(),
        "{}",
        images[0]
    );
    served.terminate().await;
}

/// A 1×1 red PNG.
const RED_PIXEL_PNG: [u8; 69] = [
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0,
    0, 0, 144, 119, 83, 222, 0, 0, 0, 12, 73, 68, 65, 84, 120, 156, 99, 248, 207, 192, 0, 0, 3, 1,
    1, 0, 201, 254, 146, 239, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

/// One `llm-comply` run (the public conformance suite, pinned in `tests/e2e/requirements.txt`)
/// of `format` against `base`; its results.
async fn llm_comply(
    bin: &Path,
    base: &str,
    format: &str,
    model: &str,
    filter: Option<&str>,
) -> Vec<Value> {
    let mut args = vec![
        "run", "-u", base, "-k", TOKEN, "--format", format, "-m", model, "--json",
    ];
    if let Some(f) = filter {
        args.extend(["-f", f]);
    }
    let args: Vec<String> = args.into_iter().map(String::from).collect();
    let bin = bin.to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "llm-comply {format}: {e}\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    report["results"].as_array().unwrap().clone()
}

/// The runs of the conformance suite: the three formats with a Claude-side model name, then the
/// reasoning tests with `o3`, an alias CCProxy maps (the suite gates them on OpenAI model names).
const CONFORMANCE_RUNS: [(&str, &str, Option<&str>); 5] = [
    ("open-responses", "gpt-4o", None),
    ("openai-chat", "gpt-4o", None),
    ("anthropic", "claude-sonnet-4-20250514", None),
    ("open-responses", "o3", Some("reasoning-summary")),
    ("openai-chat", "o3", Some("chat-reasoning-summary")),
];

/// Runs the conformance suite against `base`: every test passes, or `excused(format, id, result)`
/// says why it may not; a warning is allowed only for a test in `known_warnings`. Returns how many
/// tests ran.
async fn conformance(
    bin: &Path,
    base: &str,
    excused: impl Fn(&str, &str, &Value) -> bool,
    known_warnings: &[&str],
) -> usize {
    let mut ran = 0;
    for (format, model, filter) in CONFORMANCE_RUNS {
        for r in llm_comply(bin, base, format, model, filter).await {
            let id = r["id"].as_str().unwrap_or_default();
            ran += 1;
            match r["status"].as_str() {
                Some("passed") => {}
                // Run again with `o3`.
                Some("skipped") if id.ends_with("reasoning-summary") && filter.is_none() => {}
                Some("failed") if excused(format, id, &r) => {}
                _ => panic!("{format} {id}: {r}"),
            }
            if r["warnings"].as_array().is_some_and(|w| !w.is_empty()) {
                assert!(known_warnings.contains(&id), "{format} {id}: {r}");
            }
        }
    }
    ran
}

/// Whether every error of a suite result satisfies `each` (and there is one).
fn only_errors(r: &Value, each: impl Fn(&str) -> bool) -> bool {
    r["errors"].as_array().is_some_and(|errors| {
        !errors.is_empty() && errors.iter().all(|e| each(e.as_str().unwrap_or_default()))
    })
}

/// The suite's Anthropic schema wants `citations` on every text block; the real API omits it when
/// there are none (and strict clients reject `null` there), so such a test fails on that alone.
fn citations_only(format: &str, r: &Value) -> bool {
    format == "anthropic"
        && only_errors(r, |e| {
            e.contains("'type': 'text'")
                && e.contains("is not valid under any of the given schemas")
        })
}

/// The public conformance suite `llm-comply` 0.5.0 against API mode, for all three formats, with
/// the mock as upstream. Every test passes, except what docs/openai.md lists with its reason:
/// text blocks without `citations` (above); the Responses compaction endpoint is not offered (a
/// warning). The suite's request without `max_tokens` gets the mock's 400, as upstream answers.
#[tokio::test]
async fn the_public_conformance_suite_passes() {
    let Some(bin) = tool(
        "CCPROXY_TEST_LLM_COMPLY",
        repo().join("target/e2e-venv/bin/llm-comply"),
    ) else {
        return;
    };
    let mock = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    let served = serve_for_clients(home.path(), &mock).await;
    let base = format!("http://{}/api/v1", served.addr);
    let ran = conformance(
        &bin,
        &base,
        |format, _, r| citations_only(format, r),
        &["compact-response"],
    )
    .await;
    assert!(ran >= 30, "only {ran} tests ran");
    served.terminate().await;
}

/// The same suite against Claude Code mode, the real `claude` CLI answering from the mock. Beyond
/// API mode's exceptions: the tool-calling tests force a call (`tool_choice` `any`/`required`),
/// which the CLI cannot do, so CCProxy answers 400 naming `tool_choice`; the Responses streaming
/// tests fail only on `response.reasoning_summary_text.*` (the events OpenAI sends and the spec
/// the suite bundles defines, which its event table lacks), as the CLI's model thinks; and with
/// `thinking` not settable per request there, the Chat reasoning test warns of 0 reasoning tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_conformance_suite_passes_in_claude_code_mode() {
    let Some(bin) = tool(
        "CCPROXY_TEST_LLM_COMPLY",
        repo().join("target/e2e-venv/bin/llm-comply"),
    ) else {
        return;
    };
    let Some(claude) = claude() else { return };
    let mock = Mock::start().await;
    let home = tempfile::tempdir().unwrap();
    let served = serve_claude_code_mode(home.path(), &claude, &mock, &[]).await;
    let base = format!("http://{}/sdk/v1", served.addr);
    let forced_tool_call = ["tool-calling", "chat-tool-calling", "anth-tool-calling"];
    let ran = conformance(
        &bin,
        &base,
        |format, id, r| {
            citations_only(format, r)
                || (forced_tool_call.contains(&id)
                    && r["errors"][0].as_str() == Some("HTTP 400 (expected [200])"))
                || (id.starts_with("streaming-")
                    && only_errors(r, |e| {
                        e.starts_with("unknown SSE event type: response.reasoning_summary_text.")
                    }))
        },
        &["compact-response", "chat-reasoning-summary"],
    )
    .await;
    assert!(ran >= 30, "only {ran} tests ran");
    // What the suite's tool-calling tests got: a 400 in OpenAI's shape naming `tool_choice`.
    let forced = reqwest::Client::new()
        .post(format!("{base}/chat/completions"))
        .bearer_auth(TOKEN)
        .json(&json!({"model": "gpt-4o", "tool_choice": "required",
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(forced.status(), 400);
    let forced: Value = forced.json().await.unwrap();
    let message = forced["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("tool_choice"), "{forced}");
    served.terminate().await;
}
