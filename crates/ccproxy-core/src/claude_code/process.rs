//! One running `claude` CLI: spawned as the official SDKs spawn it (see [`Settings::args`]; the
//! working directory is set on the child, there is no `--cwd`), initialized, then driven turn by turn
//! over its stream-json stdin/stdout.
//!
//! A reader task owns stdout: it skips lines that are not JSON (any length), answers the CLI's
//! own `control_request`s (hook callbacks succeed with nothing; tool-permission prompts are
//! refused: permissions are server configuration; `mcp_message`s for the client's tools are
//! answered by their MCP server, a `tools/call` once the client sent its result, see
//! [`CliProcess::answer_calls`]), completes our control requests
//! (`initialize`, `set_model`, `interrupt`) and hands every other line to the turn in progress
//! through a small bounded channel, so a slow client slows the CLI instead of filling memory.
//!
//! The CLI runs in its own process group; [`CliProcess::shutdown`] closes stdin, then sends
//! SIGTERM, then SIGKILL to the group, and dropping a `CliProcess` kills the group at once, so no
//! CLI (or tool it started) outlives its owner; a CLI in a container ([`super::docker`]) has its
//! container removed as well.

use ccproxy_protocol::claude_cli::tools::{self, ClientTools};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::AbortOnDropHandle;

/// Everything about how the CLI is started that comes from configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub path: PathBuf,
    pub cwd: PathBuf,
    pub allowed_tools: Vec<String>,
    pub disallowed_tools: Vec<String>,
    pub permission_mode: &'static str,
    pub max_turns: Option<u32>,
    pub mcp_config: Option<PathBuf>,
    /// Longest silence of the CLI during a turn, and longest wait for a control answer.
    pub silence: Duration,
    /// Keep the built-in tools for a process that offers the client's tools.
    pub builtin_tools_with_client_tools: bool,
    /// How long the CLI lets a call of a client tool take (`MCP_TOOL_TIMEOUT`): longer than
    /// CCProxy waits for the client's result, so CCProxy's limit is the one that applies.
    pub tool_timeout: Duration,
    /// Leave out the user's settings (`--setting-sources project,local`): they point Claude
    /// Code at CCProxy ([`crate::client_setup::claude_code_points_at_ccproxy`]).
    pub skip_user_settings: bool,
    /// Run the CLI in a container (`claude.isolation = "docker"`); `path` is then `docker`.
    pub container: Option<Arc<super::docker::Container>>,
}

/// System prompts longer than this go to the CLI in a file (`--system-prompt-file`): on the
/// command line they would hit the OS's argument limit (128 KiB for one argument on Linux).
pub const INLINE_PROMPT_MAX: usize = 64 * 1024;

/// How the system prompt reaches the CLI.
pub enum PromptArg<'a> {
    /// `--system-prompt <text>`.
    Inline(&'a str),
    /// `--system-prompt-file <path>`.
    File(&'a Path),
}

impl Settings {
    /// The command line, without the program: `--output-format stream-json --verbose
    /// (--system-prompt <text> | --system-prompt-file <path>) [--model M] [--max-turns N] [--allowedTools a,b]
    /// [--disallowedTools a,b] [--permission-mode M] [--mcp-config F] --include-partial-messages
    /// --input-format stream-json` (no `-p`).
    ///
    /// With the client's tools (`client_tools`), also `--mcp-config` naming the in-process server,
    /// `mcp__client` among the allowed tools (its calls are answered by the client, so they need
    /// no prompt), and `--tools ""` (no built-in tools) unless `builtin_tools_with_client_tools`.
    pub fn args(
        &self,
        system_prompt: &PromptArg<'_>,
        model: Option<&str>,
        client_tools: bool,
    ) -> Vec<String> {
        let mut args: Vec<String> = ["--output-format", "stream-json", "--verbose"]
            .map(String::from)
            .to_vec();
        if self.skip_user_settings {
            args.push("--setting-sources".into());
            args.push("project,local".into());
        }
        match system_prompt {
            PromptArg::Inline(text) => {
                args.push("--system-prompt".into());
                args.push(text.to_string());
            }
            PromptArg::File(path) => {
                args.push("--system-prompt-file".into());
                args.push(path.display().to_string());
            }
        }
        if let Some(model) = model {
            args.push("--model".into());
            args.push(model.to_string());
        }
        if let Some(n) = self.max_turns {
            args.push("--max-turns".into());
            args.push(n.to_string());
        }
        let mut allowed = self.allowed_tools.clone();
        if client_tools {
            allowed.push(format!("mcp__{}", tools::SERVER_NAME));
            if !self.builtin_tools_with_client_tools {
                args.push("--tools".into());
                args.push(String::new());
            }
        }
        if !allowed.is_empty() {
            args.push("--allowedTools".into());
            args.push(allowed.join(","));
        }
        if !self.disallowed_tools.is_empty() {
            args.push("--disallowedTools".into());
            args.push(self.disallowed_tools.join(","));
        }
        args.push("--permission-mode".into());
        args.push(self.permission_mode.to_string());
        if self.mcp_config.is_some() || client_tools {
            args.push("--mcp-config".into());
            if let Some(mcp) = &self.mcp_config {
                args.push(mcp.display().to_string());
            }
            if client_tools {
                args.push(tools::mcp_config());
            }
        }
        args.extend(
            [
                "--include-partial-messages",
                "--input-format",
                "stream-json",
            ]
            .map(String::from),
        );
        args
    }
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Result<Value, String>>>>>;

/// The CLI's calls of the client's tools, by `tool_use` id.
#[derive(Default)]
struct Calls {
    /// `tools/call`s waiting for the client's result: the control request's id and the
    /// JSON-RPC id to answer.
    waiting: HashMap<String, (Value, Value)>,
    /// Results the client sent before the CLI asked (the CLI makes parallel calls one after
    /// another unless they are marked read-only).
    ready: HashMap<String, Value>,
}

/// What the reader task shares with its process.
#[derive(Clone)]
struct Shared {
    pending: Pending,
    stdin: Arc<tokio::sync::Mutex<Option<ChildStdin>>>,
    tools: Option<Arc<ClientTools>>,
    calls: Arc<Mutex<Calls>>,
}

/// The control response carrying a JSON-RPC answer of the client's MCP server.
fn mcp_response(request_id: &Value, rpc: Value) -> Value {
    json!({"subtype": "success", "request_id": request_id, "response": {"mcp_response": rpc}})
}

/// What went wrong with a CLI process; the messages say what to look at (the CLI's last stderr
/// lines are included where it exited).
#[derive(Debug, Clone, thiserror::Error)]
pub enum CliError {
    /// It could not be started.
    #[error("cannot start {path}: {reason}")]
    Start { path: String, reason: String },
    /// It did not complete `initialize`.
    #[error("the claude CLI did not initialize: {0}")]
    Initialize(Box<CliError>),
    /// It exited (with what it last wrote to stderr).
    #[error("{0}")]
    Exited(String),
    /// Writing to its stdin failed.
    #[error("writing to the CLI: {0}")]
    Write(String),
    /// It stayed silent past `claude.silence_timeout`.
    #[error("{0}")]
    Silent(String),
    /// It answered a control request with an error.
    #[error("{0}")]
    Refused(String),
}

/// The longest line kept; a longer one is skipped (the CLI's lines are far shorter).
const MAX_LINE: usize = 256 * 1024 * 1024;

/// A running, initialized CLI.
pub struct CliProcess {
    child: Child,
    pid: Option<u32>,
    stdin: Arc<tokio::sync::Mutex<Option<ChildStdin>>>,
    lines: mpsc::Receiver<Value>,
    pending: Pending,
    calls: Arc<Mutex<Calls>>,
    /// The client's tools this process offers (fixed at start: the CLI lists them once).
    pub tools: Option<Arc<ClientTools>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    next_request: u64,
    /// The `initialize` answer (models, account, version).
    pub init: Value,
    /// The model last set with `set_model`.
    pub model: Option<String>,
    silence: Duration,
    /// The stdout and stderr readers: owned by the process, ended with it.
    _readers: [AbortOnDropHandle<()>; 2],
    /// The system prompt's file, when it was too long for the command line (removed on drop).
    _prompt_file: Option<tempfile::NamedTempFile>,
    /// The private directory holding it, for a container.
    _prompt_dir: Option<tempfile::TempDir>,
    /// The `docker` executable and the container's name, when the CLI runs in a container:
    /// removed unless the process ended by itself ([`CliProcess::shutdown`]).
    container: Option<(PathBuf, String)>,
}

impl CliProcess {
    /// Starts the CLI (on `model` when given, saving a `set_model` later) and performs
    /// `initialize`.
    pub async fn spawn(
        settings: &Settings,
        system_prompt: &str,
        model: Option<&str>,
        client_tools: Option<Arc<ClientTools>>,
    ) -> Result<Self, CliError> {
        // A long prompt goes in a private file that lives as long as the process. For a
        // container's user (another uid) the file is readable, inside a private directory.
        let cannot = |e: std::io::Error| CliError::Start {
            path: settings.path.display().to_string(),
            reason: format!("cannot write the system prompt to a file: {e}"),
        };
        let mut prompt_dir = None;
        let prompt_file = if system_prompt.len() > INLINE_PROMPT_MAX {
            let mut builder = tempfile::Builder::new();
            builder.prefix(".ccproxy-system-prompt-");
            let mut file = if settings.container.is_some() {
                let dir = builder.tempdir().map_err(cannot)?;
                #[cfg(unix)]
                builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
                let file = builder.tempfile_in(dir.path()).map_err(cannot)?;
                prompt_dir = Some(dir);
                file
            } else {
                builder.tempfile().map_err(cannot)?
            };
            std::io::Write::write_all(&mut file, system_prompt.as_bytes()).map_err(cannot)?;
            Some(file)
        } else {
            None
        };
        let prompt = match &prompt_file {
            Some(file) => PromptArg::File(file.path()),
            None => PromptArg::Inline(system_prompt),
        };
        // The CLI, and every tool it runs, gets the proxy's environment minus its secrets.
        let mut vars: Vec<(&str, String)> = vec![
            ("CLAUDE_CODE_ENTRYPOINT", "sdk-rs".into()),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
        ];
        if client_tools.is_some() {
            // The model sees the client's names (`get_weather`, not `mcp__client__get_weather`)
            // and the tools themselves, not a ToolSearch tool that would hide them.
            vars.extend([
                ("CLAUDE_AGENT_SDK_MCP_NO_PREFIX", "1".into()),
                ("ENABLE_TOOL_SEARCH", "false".into()),
                (
                    "MCP_TOOL_TIMEOUT",
                    settings.tool_timeout.as_millis().to_string(),
                ),
            ]);
        }
        let (mut command, container) = match &settings.container {
            None => {
                let mut command = super::locate::without_secrets(Command::new(&settings.path));
                command
                    .args(settings.args(&prompt, model, client_tools.is_some()))
                    .current_dir(&settings.cwd);
                (command, None)
            }
            Some(container) => {
                // Files the CLI reads are mounted read-only at fixed paths inside.
                let mut files: Vec<(&Path, &str)> = Vec::new();
                let prompt = match &prompt_file {
                    Some(file) => {
                        files.push((file.path(), super::docker::PROMPT_FILE));
                        PromptArg::File(Path::new(super::docker::PROMPT_FILE))
                    }
                    None => PromptArg::Inline(system_prompt),
                };
                let mut inside = settings.clone();
                if let Some(mcp) = &settings.mcp_config {
                    files.push((mcp, super::docker::MCP_CONFIG));
                    inside.mcp_config = Some(super::docker::MCP_CONFIG.into());
                }
                let names: Vec<&str> = vars.iter().map(|(name, _)| *name).collect();
                let (command, name) = container.command(
                    &settings.cwd,
                    &files,
                    &names,
                    inside.args(&prompt, model, client_tools.is_some()),
                );
                (command, Some((container.docker.clone(), name)))
            }
        };
        command.envs(vars.iter().map(|(k, v)| (k, v)));
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn().map_err(|e| CliError::Start {
            path: settings.path.display().to_string(),
            reason: e.to_string(),
        })?;
        let pid = child.id();
        let stdin = Arc::new(tokio::sync::Mutex::new(child.stdin.take()));
        let no_pipe = |which: &str| CliError::Start {
            path: settings.path.display().to_string(),
            reason: format!("it has no {which}"),
        };
        let stdout = child.stdout.take().ok_or_else(|| no_pipe("stdout"))?;
        let stderr = child.stderr.take().ok_or_else(|| no_pipe("stderr"))?;
        let pending: Pending = Arc::default();
        let calls: Arc<Mutex<Calls>> = Arc::default();
        let stderr_tail: Arc<Mutex<VecDeque<String>>> = Arc::default();
        let (tx, lines) = mpsc::channel(64);
        let shared = Shared {
            pending: pending.clone(),
            stdin: stdin.clone(),
            tools: client_tools.clone(),
            calls: calls.clone(),
        };
        // Owned by the process (aborted when it is dropped).
        #[allow(clippy::disallowed_methods)]
        let readers = [
            AbortOnDropHandle::new(tokio::spawn(read_stdout(stdout, tx, shared))),
            AbortOnDropHandle::new(tokio::spawn(read_stderr(stderr, stderr_tail.clone()))),
        ];
        let mut process = Self {
            child,
            pid,
            stdin,
            lines,
            pending,
            calls,
            tools: client_tools,
            stderr_tail,
            next_request: 0,
            _readers: readers,
            _prompt_file: prompt_file,
            _prompt_dir: prompt_dir,
            container,
            init: Value::Null,
            model: model.map(String::from),
            silence: settings.silence,
        };
        let init = process
            .control(json!({"subtype": "initialize", "hooks": null}))
            .await
            .map_err(|e| CliError::Initialize(Box::new(e)))?;
        process.init = init;
        Ok(process)
    }

    /// The OS process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Whether the process still runs.
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last lines the CLI wrote to stderr, for error messages.
    pub fn stderr_tail(&self) -> String {
        let tail = self.stderr_tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.iter().cloned().collect::<Vec<_>>().join(" | ")
    }

    async fn write_line(&self, line: &str) -> Result<(), CliError> {
        let mut stdin = self.stdin.lock().await;
        let pipe = stdin
            .as_mut()
            .ok_or_else(|| CliError::Write("its stdin is closed".into()))?;
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        pipe.write_all(&bytes)
            .await
            .map_err(|e| CliError::Write(e.to_string()))?;
        pipe.flush()
            .await
            .map_err(|e| CliError::Write(e.to_string()))
    }

    /// Sends a control request and waits for its answer.
    pub async fn control(&mut self, request: Value) -> Result<Value, CliError> {
        self.next_request += 1;
        let id = format!("req_{}_{:08x}", self.next_request, rand::random::<u32>());
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), tx);
        let line =
            json!({"type": "control_request", "request_id": id, "request": request}).to_string();
        self.write_line(&line).await?;
        match tokio::time::timeout(self.silence, rx).await {
            Ok(Ok(answer)) => answer.map_err(CliError::Refused),
            Ok(Err(_)) => Err(self.exited("the CLI exited")),
            Err(_) => Err(CliError::Silent(format!(
                "no answer to `{}` within {:?}",
                request["subtype"].as_str().unwrap_or("?"),
                self.silence
            ))),
        }
    }

    fn exited(&self, what: &str) -> CliError {
        let tail = self.stderr_tail();
        CliError::Exited(if tail.is_empty() {
            what.to_string()
        } else {
            format!("{what}: {tail}")
        })
    }

    /// Switches the model for the next turns (skipped when it is already the one).
    pub async fn set_model(&mut self, model: &str) -> Result<(), CliError> {
        if self.model.as_deref() == Some(model) {
            return Ok(());
        }
        self.control(json!({"subtype": "set_model", "model": model}))
            .await?;
        self.model = Some(model.to_string());
        Ok(())
    }

    /// Starts a turn with a user message.
    pub async fn send_user(&mut self, content: &Value) -> Result<(), CliError> {
        self.write_line(&ccproxy_protocol::claude_cli::user_line(content))
            .await
    }

    /// Gives the CLI the client's results of its tool calls (MCP `tools/call` results, by
    /// `tool_use` id): a call already waiting is answered now, a later one as soon as it comes.
    pub async fn answer_calls(&self, results: Vec<(String, Value)>) -> Result<(), CliError> {
        let mut now = Vec::new();
        {
            let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
            for (id, result) in results {
                match calls.waiting.remove(&id) {
                    Some((request_id, rpc_id)) => now.push(mcp_response(
                        &request_id,
                        json!({"jsonrpc": "2.0", "id": rpc_id, "result": result}),
                    )),
                    None => {
                        calls.ready.insert(id, result);
                    }
                }
            }
        }
        for response in now {
            let line = json!({"type": "control_response", "response": response}).to_string();
            self.write_line(&line).await?;
        }
        Ok(())
    }

    /// The next line of the turn; `Err` when the CLI exited or stayed silent too long.
    pub async fn next_line(&mut self) -> Result<Value, CliError> {
        match tokio::time::timeout(self.silence, self.lines.recv()).await {
            Ok(Some(line)) => Ok(line),
            Ok(None) => Err(self.exited("the claude CLI exited in the middle of the turn")),
            Err(_) => Err(CliError::Silent(format!(
                "the claude CLI said nothing for {:?}",
                self.silence
            ))),
        }
    }

    /// Asks the CLI to stop the turn; its `result` line follows. Not waited for: the answer
    /// comes through the reader, which may be waiting for the turn's lines to be read.
    pub async fn interrupt(&mut self) {
        self.next_request += 1;
        let line = json!({
            "type": "control_request",
            "request_id": format!("req_{}_interrupt", self.next_request),
            "request": {"subtype": "interrupt"}
        })
        .to_string();
        let _ = self.write_line(&line).await;
    }

    /// Interrupts the turn in progress and reads to its `result` (up to `within`); `true` when
    /// the process is ready for another turn.
    pub async fn cancel_turn(&mut self, within: Duration) -> bool {
        self.interrupt().await;
        let drained = tokio::time::timeout(within, async {
            while let Some(line) = self.lines.recv().await {
                if line["type"] == "result" {
                    return true;
                }
            }
            false
        })
        .await;
        matches!(drained, Ok(true))
    }

    /// Stops the CLI: stdin EOF, then SIGTERM, then SIGKILL (to the whole process group).
    /// A container is gone once `docker run --rm` exited by itself; otherwise it is removed.
    pub async fn shutdown(mut self) {
        self.stdin.lock().await.take();
        let grace = Duration::from_secs(2);
        if tokio::time::timeout(grace, self.child.wait()).await.is_ok() {
            self.kill_group(Signal::Kill);
            self.container = None;
            return;
        }
        self.kill_group(Signal::Term);
        if tokio::time::timeout(grace, self.child.wait())
            .await
            .is_err()
        {
            self.kill_group(Signal::Kill);
            let _ = self.child.wait().await;
        }
        if let Some((docker, name)) = self.container.take() {
            super::docker::remove(&docker, &name).await;
        }
    }

    fn kill_group(&mut self, signal: Signal) {
        #[cfg(unix)]
        if let Some(pid) = self.pid.and_then(|p| i32::try_from(p).ok()) {
            let sig = match signal {
                Signal::Term => libc::SIGTERM,
                Signal::Kill => libc::SIGKILL,
            };
            // SAFETY: killpg only sends a signal; the group is the one the child leads.
            #[allow(unsafe_code)]
            unsafe {
                libc::killpg(pid, sig);
            }
            return;
        }
        let _ = signal;
        let _ = self.child.start_kill();
    }
}

#[derive(Clone, Copy)]
enum Signal {
    Term,
    Kill,
}

impl Drop for CliProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill_group(Signal::Kill);
        }
        // Killing the `docker` client does not stop its container.
        if let Some((docker, name)) = self.container.take() {
            super::docker::remove_soon(&docker, &name);
        }
    }
}

async fn read_stdout(stdout: tokio::process::ChildStdout, tx: mpsc::Sender<Value>, shared: Shared) {
    let pending = &shared.pending;
    let mut reader = BufReader::with_capacity(64 * 1024, stdout);
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        buf.clear();
        match tokio::io::AsyncReadExt::take(&mut reader, MAX_LINE as u64)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if buf.len() >= MAX_LINE && buf.last() != Some(&b'\n') {
            tracing::warn!("skipping a line of more than {MAX_LINE} bytes from the claude CLI");
            // Drop the rest of that line.
            let mut rest = Vec::new();
            let _ = reader.read_until(b'\n', &mut rest).await;
            continue;
        }
        let trimmed = buf.trim_ascii();
        if trimmed.is_empty() {
            continue;
        }
        let Ok(line) = serde_json::from_slice::<Value>(trimmed) else {
            tracing::debug!("skipping a line from the claude CLI that is not JSON");
            continue;
        };
        match line["type"].as_str() {
            Some("control_response") => {
                let response = &line["response"];
                let id = response["request_id"].as_str().unwrap_or("");
                let waiter = pending.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
                if let Some(waiter) = waiter {
                    let answer = if response["subtype"] == "success" {
                        Ok(response["response"].clone())
                    } else {
                        Err(response["error"]
                            .as_str()
                            .unwrap_or("the CLI refused the request")
                            .to_string())
                    };
                    let _ = waiter.send(answer);
                }
            }
            Some("control_request") => answer_control(&line, &shared).await,
            // Heartbeats of a pending call: nobody reads them while a turn waits for the
            // client, and they must not fill the channel meanwhile.
            Some("tool_progress") => {}
            _ => {
                if tx.send(line).await.is_err() {
                    // Nobody reads turns any more; keep answering control requests.
                    continue;
                }
            }
        }
    }
    pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// Answers a request the CLI sends us (a `tools/call` of a client tool waits for its result).
async fn answer_control(line: &Value, shared: &Shared) {
    let id = line["request_id"].clone();
    let request = &line["request"];
    let response = match request["subtype"].as_str() {
        Some("mcp_message") => {
            let message = &request["message"];
            match &shared.tools {
                Some(tools) if request["server_name"] == tools::SERVER_NAME => {
                    match tools::mcp_answer(message, tools) {
                        Some(rpc) => mcp_response(&id, rpc),
                        None => {
                            let call = message["params"]["_meta"]["claudecode/toolUseId"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string();
                            let ready = {
                                let mut calls =
                                    shared.calls.lock().unwrap_or_else(|e| e.into_inner());
                                let ready = calls.ready.remove(&call);
                                if ready.is_none() {
                                    calls
                                        .waiting
                                        .insert(call, (id.clone(), message["id"].clone()));
                                }
                                ready
                            };
                            match ready {
                                Some(result) => mcp_response(
                                    &id,
                                    json!({"jsonrpc": "2.0", "id": message["id"], "result": result}),
                                ),
                                None => return,
                            }
                        }
                    }
                }
                _ => json!({"subtype": "error", "request_id": id, "error": format!(
                    "ccproxy has no MCP server `{}`", request["server_name"].as_str().unwrap_or("?"))}),
            }
        }
        Some("can_use_tool") => {
            tracing::info!(
                tool = request["tool_name"].as_str().unwrap_or("?"),
                "the claude CLI asked to use a tool that claude.allowed_tools does not allow; refused"
            );
            json!({"subtype": "success", "request_id": id, "response": {
                "behavior": "deny",
                "message": "This tool is not allowed by the CCProxy server's configuration (claude.allowed_tools)."
            }})
        }
        Some("hook_callback") => json!({"subtype": "success", "request_id": id, "response": {}}),
        other => json!({"subtype": "error", "request_id": id,
            "error": format!("ccproxy does not handle `{}` requests", other.unwrap_or("?"))}),
    };
    let text = json!({"type": "control_response", "response": response}).to_string() + "\n";
    if let Some(pipe) = shared.stdin.lock().await.as_mut() {
        let _ = pipe.write_all(text.as_bytes()).await;
        let _ = pipe.flush().await;
    }
}

async fn read_stderr(stderr: tokio::process::ChildStderr, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = crate::redact::line(&line);
        tracing::debug!(target: "ccproxy::claude_cli", "{line}");
        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.len() == 5 {
            tail.pop_front();
        }
        tail.push_back(line.chars().take(500).collect());
    }
}
