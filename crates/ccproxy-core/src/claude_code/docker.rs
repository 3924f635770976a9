//! Claude Code mode in a container (`claude.isolation = "docker"`): every CLI process runs as
//! `docker run --rm -i --init … <image> claude <the same arguments>`, speaking the same
//! stream-json over the container's stdin/stdout, so the pool, sessions, interrupts and
//! streaming work unchanged.
//!
//! What the container gets ([`Container::command`]):
//! - the workspace, bind-mounted read-write at its own path (so paths in prompts and tool output
//!   are the host's), as the working directory; the system prompt's file and `claude.mcp_config`
//!   read-only when there are any; nothing else of the host's filesystem;
//! - Claude Code's own directory (`$CLAUDE_CONFIG_DIR`, default `~/.claude`) read-write at
//!   [`CONFIG_DIR`], with `CLAUDE_CONFIG_DIR` pointing there: the CLI's login and settings are
//!   the host's, and a token the CLI rotates is written back to the host's file;
//! - a non-root user (`claude.docker.user`), `--cap-drop ALL`, `no-new-privileges`, a read-only
//!   root filesystem with tmpfs `/tmp` and home, the limits from `claude.docker`;
//! - the variables the CLI gets today, by name only (`-e NAME`: values are read by the `docker`
//!   client from its own environment, so none appears on a command line), minus CCProxy's
//!   configuration and secrets ([`crate::config::passed_to_container`]);
//! - `claude.docker.network` (default the host's, so an upstream or proxy on loopback works).
//!
//! Containers carry [`LABEL`] and the server's pid ([`PID_LABEL`]); a process that does not end
//! cleanly has its container removed (`docker rm -f`), and containers of servers that are gone
//! are removed at start-up ([`remove_leftovers`]).

use super::locate::{self, CliInfo, LocateError};
use crate::config::{Config, DockerConfig, Environment};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::process::Command;

/// The image `ccproxy docker build-image` builds and `claude.docker.image` defaults to.
pub const DEFAULT_IMAGE: &str = "ccproxy-claude-code:latest";
/// The Dockerfile of that image (`docker/claude-code.Dockerfile`).
pub const DOCKERFILE: &str = include_str!("../../../../docker/claude-code.Dockerfile");
/// The Claude Code version that image installs by default: the one CCProxy is tested with.
pub const CLI_VERSION: &str = "2.1.331";
/// Every container CCProxy starts has this label.
pub const LABEL: &str = "io.ccproxy.claude-code";
/// The pid of the server that started the container.
pub const PID_LABEL: &str = "io.ccproxy.server-pid";
/// Where Claude Code's directory is mounted.
pub const CONFIG_DIR: &str = "/claude-config";
/// The CLI's home: a tmpfs (the image's root filesystem is read-only).
pub const HOME: &str = "/home/ccproxy";
/// Where the system prompt's file is mounted, when the prompt is too long for the command line.
pub const PROMPT_FILE: &str = "/run/ccproxy/system-prompt.txt";
/// Where `claude.mcp_config` is mounted.
pub const MCP_CONFIG: &str = "/run/ccproxy/mcp-config.json";

/// `docker run` options `claude.docker.extra_args` may use, each followed by a value.
const ALLOWED_OPTIONS: [&str; 16] = [
    "--add-host",
    "--dns",
    "--dns-option",
    "--dns-search",
    "-e",
    "--env",
    "-l",
    "--label",
    "--ulimit",
    "--shm-size",
    "--cpuset-cpus",
    "--memory-swap",
    "--memory-reservation",
    "--platform",
    "--stop-timeout",
    "--tmpfs",
];
/// Mount options, allowed for the paths `claude.docker.allow_mounts` lists.
const MOUNT_OPTIONS: [&str; 3] = ["-v", "--volume", "--mount"];

/// How CLI processes are started in containers: from `claude.docker`, with the `docker`
/// executable found.
#[derive(Debug, Clone)]
pub struct Container {
    pub docker: PathBuf,
    pub config: DockerConfig,
    /// Claude Code's directory on the host.
    pub claude_dir: Option<PathBuf>,
    /// Variables of the server's environment the CLI gets.
    pub vars: Vec<String>,
}

/// Distinguishes the containers of one server.
static NEXT: AtomicU64 = AtomicU64::new(0);

impl Container {
    pub fn new(config: &Config, docker: PathBuf) -> Self {
        Self {
            docker,
            config: config.claude.docker.clone(),
            claude_dir: config.env.claude_dir.clone(),
            vars: config.env.container_vars.clone(),
        }
    }

    /// `docker run …` for one CLI process in `cwd`, with `files` (host path, path inside)
    /// mounted read-only and the variables `set` (set on the returned command) passed in; and
    /// the container's name.
    pub fn command(
        &self,
        cwd: &Path,
        files: &[(&Path, &str)],
        set: &[&str],
        cli_args: Vec<String>,
    ) -> (Command, String) {
        let name = format!(
            "ccproxy-claude-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let c = &self.config;
        let mut args: Vec<String> = vec![
            "run".into(),
            "--rm".into(),
            "-i".into(),
            "--init".into(),
            "--name".into(),
            name.clone(),
            "--label".into(),
            LABEL.into(),
            "--label".into(),
            format!("{PID_LABEL}={}", std::process::id()),
            "--user".into(),
            c.user.clone(),
            "--cap-drop".into(),
            "ALL".into(),
            "--security-opt".into(),
            "no-new-privileges".into(),
            "--read-only".into(),
            "--tmpfs".into(),
            "/tmp:rw,nosuid,nodev,exec,size=512m".into(),
            "--tmpfs".into(),
            format!("{HOME}:rw,nosuid,nodev,exec,size=256m,mode=1777"),
            "--network".into(),
            c.network.clone(),
        ];
        if !c.memory.is_empty() {
            args.extend(["--memory".into(), c.memory.clone()]);
        }
        if !c.cpus.is_empty() {
            args.extend(["--cpus".into(), c.cpus.clone()]);
        }
        if c.pids_limit > 0 {
            args.extend(["--pids-limit".into(), c.pids_limit.to_string()]);
        }
        let cwd = cwd.display().to_string();
        args.extend([
            "--volume".into(),
            format!("{cwd}:{cwd}:rw"),
            "--workdir".into(),
            cwd,
        ]);
        if let Some(dir) = &self.claude_dir {
            args.extend([
                "--volume".into(),
                format!("{}:{CONFIG_DIR}:rw", dir.display()),
            ]);
        }
        for (host, inside) in files {
            args.extend(["--volume".into(), format!("{}:{inside}:ro", host.display())]);
        }
        // Paths inside the container, by value (the `docker` client keeps its own HOME: its
        // configuration and contexts live there).
        args.extend([
            "--env".into(),
            format!("CLAUDE_CONFIG_DIR={CONFIG_DIR}"),
            "--env".into(),
            format!("HOME={HOME}"),
        ]);
        for var in set.iter().map(|s| s.to_string()).chain(
            self.vars
                .iter()
                .filter(|v| !set.contains(&v.as_str()))
                .cloned(),
        ) {
            args.extend(["--env".into(), var]);
        }
        let mut command = locate::without_secrets(Command::new(&self.docker));
        args.extend(c.extra_args.iter().cloned());
        args.push(c.image.clone());
        args.push("claude".into());
        args.extend(cli_args);
        command.args(args);
        (command, name)
    }
}

/// Why `claude.docker.user` cannot be used: root, or not a user.
pub fn user_problem(user: &str) -> Option<String> {
    let name = user.split(':').next().unwrap_or("");
    if name.is_empty() {
        Some("must name a user (a uid like 1000, or uid:gid)".into())
    } else if name == "0" || name == "root" {
        Some("the CLI must not run as root in its container".into())
    } else if !user
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b))
    {
        Some(format!("`{user}` is not a user or uid:gid"))
    } else {
        None
    }
}

/// `512m`, `4g`, `1073741824`: a size `docker run --memory` takes.
pub fn is_size(text: &str) -> bool {
    let digits = text.trim_end_matches(['b', 'k', 'm', 'g', 'B', 'K', 'M', 'G']);
    !digits.is_empty()
        && text.len() - digits.len() <= 1
        && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Checks `claude.docker.extra_args`: only options from an allow-list (no `--privileged`,
/// `--cap-add`, `--security-opt`, `--user`, `--network`, `--pid`, devices, …), and mounts only
/// of paths under `allow_mounts`.
pub fn extra_args_problem(args: &[String], allow_mounts: &[PathBuf]) -> Result<(), String> {
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let (option, inline) = match arg.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                args.get(i)
                    .cloned()
                    .ok_or_else(|| format!("`{option}` needs a value"))?
            }
        };
        if MOUNT_OPTIONS.contains(&option) {
            let Some(source) = mount_source(option, &value) else {
                // A tmpfs: nothing of the host.
                i += 1;
                continue;
            };
            if !source.is_absolute()
                || source
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
                || !allow_mounts
                    .iter()
                    .any(|allowed| source.starts_with(allowed))
            {
                return Err(format!(
                    "`{option} {value}` mounts {}, which claude.docker.allow_mounts does not list \
                     (the workspace is mounted already)",
                    source.display()
                ));
            }
        } else if !ALLOWED_OPTIONS.contains(&option) {
            return Err(format!(
                "`{option}` is not allowed (isolation would not hold); allowed: {}, and {} \
                 of paths in claude.docker.allow_mounts",
                ALLOWED_OPTIONS.join(" "),
                MOUNT_OPTIONS.join(" ")
            ));
        }
        i += 1;
    }
    Ok(())
}

/// The host path (or volume name) a `-v`/`--mount` value mounts; `None` for a tmpfs. A mount
/// without a source is an anonymous volume: named `""`, so it is refused.
fn mount_source(option: &str, value: &str) -> Option<PathBuf> {
    if option == "--mount" {
        let mut source = PathBuf::new();
        for part in value.split(',') {
            match part.split_once('=') {
                Some(("type", "tmpfs")) => return None,
                Some(("source" | "src", s)) => source = PathBuf::from(s),
                _ => {}
            }
        }
        Some(source)
    } else if !value.contains(':') {
        Some(PathBuf::new())
    } else {
        value
            .split(':')
            .next()
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    }
}

/// `docker` on `PATH`.
fn find_docker(env: &Environment) -> Result<PathBuf, LocateError> {
    env.path
        .iter()
        .map(|d| d.join("docker"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            LocateError::Docker(
                "claude.isolation is \"docker\", but Docker is not installed (no `docker` on \
                 PATH): install it (e.g. `apt install docker.io`), or set claude.isolation = \
                 \"none\""
                    .into(),
            )
        })
}

/// Runs `docker args…` (up to `within`); its stdout, or what went wrong.
async fn docker(docker: &Path, args: &[&str], within: Duration) -> Result<String, String> {
    let run = locate::without_secrets(Command::new(docker))
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(within, run).await {
        Ok(Ok(out)) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        }
        Ok(Ok(out)) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {within:?}")),
    }
}

/// Checks that Docker runs and has the image, and asks the image's CLI its version.
pub async fn probe(config: &Config) -> Result<CliInfo, LocateError> {
    let path = find_docker(&config.env)?;
    let image = &config.claude.docker.image;
    docker(
        &path,
        &["version", "--format", "{{.Server.Version}}"],
        Duration::from_secs(20),
    )
    .await
    .map_err(|e| {
        LocateError::Docker(format!(
            "claude.isolation is \"docker\", but the Docker daemon does not answer ({e}): start \
             it (e.g. `sudo systemctl start docker`), or set claude.isolation = \"none\""
        ))
    })?;
    docker(
        &path,
        &["image", "inspect", "--format", "{{.Id}}", image],
        Duration::from_secs(20),
    )
    .await
    .map_err(|_| {
        LocateError::Docker(format!(
            "the image {image} (claude.docker.image) is not here: build it with `ccproxy docker \
             build-image`, or pull an image with `claude` on PATH and set claude.docker.image"
        ))
    })?;
    // Claude Code's directory is mounted: create it, so that Docker does not (as root).
    if let Some(dir) = &config.env.claude_dir {
        if let Err(e) = crate::private::create_dir(dir) {
            tracing::warn!("cannot create {}: {e}", dir.display());
        }
    }
    let c = &config.claude.docker;
    if let Some(workspace) = config.workspace() {
        let _ = std::fs::create_dir_all(workspace);
    }
    for dir in config.workspace().iter().chain(&config.env.claude_dir) {
        if let Some(problem) = not_writable_by(dir, &c.user) {
            tracing::warn!("{problem}");
        }
    }
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        locate::without_secrets(Command::new(&path))
            .args([
                "run",
                "--rm",
                "--network",
                "none",
                "--user",
                &c.user,
                "--cap-drop",
                "ALL",
                "--read-only",
                "--label",
                LABEL,
                image,
                "claude",
                "--version",
            ])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await;
    let (version, problem) = locate::judge_version(&format!("docker run {image} claude"), out);
    Ok(CliInfo {
        path,
        version,
        problem,
        image: Some(image.clone()),
    })
}

/// Why the container's `user` (a numeric `uid[:gid]`) may be unable to write to the mounted
/// `dir`: it belongs to another uid and is not writable by everyone. Names are not resolved
/// (they mean the image's users), so they are not checked.
fn not_writable_by(dir: &Path, user: &str) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let uid: u32 = user.split(':').next()?.parse().ok()?;
        let meta = std::fs::metadata(dir).ok()?;
        (meta.uid() != uid && meta.mode() & 0o002 == 0).then(|| {
            format!(
                "{} belongs to uid {}, and the container runs as uid {uid} \
                 (claude.docker.user): the CLI may be unable to write to it; set \
                 claude.docker.user = \"{}:{}\", or give uid {uid} the directory",
                dir.display(),
                meta.uid(),
                meta.uid(),
                meta.gid()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = (dir, user);
        None
    }
}

/// Removes the container `name` at once (`docker rm -f`), without waiting: for a process
/// dropped while running.
pub fn remove_soon(docker: &Path, name: &str) {
    let mut command = std::process::Command::new(docker);
    command
        .args(["rm", "-f", name])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for var in crate::config::SECRET_ENV_VARS {
        command.env_remove(var);
    }
    if let Ok(mut child) = command.spawn() {
        // Reaped by a thread, so no zombie is left.
        std::thread::spawn(move || child.wait());
    }
}

/// Removes the container `name` and waits for it.
pub async fn remove(docker_path: &Path, name: &str) {
    let _ = docker(docker_path, &["rm", "-f", name], Duration::from_secs(30)).await;
}

/// Removes the containers left by servers that are gone (a crash, a SIGKILL).
pub async fn remove_leftovers(docker_path: &Path) {
    let format = format!("{{{{.ID}}}} {{{{.Label \"{PID_LABEL}\"}}}}");
    let Ok(list) = docker(
        docker_path,
        &[
            "ps",
            "-a",
            "--filter",
            &format!("label={LABEL}"),
            "--format",
            &format,
        ],
        Duration::from_secs(30),
    )
    .await
    else {
        return;
    };
    let gone: Vec<&str> = list
        .lines()
        .filter_map(|line| line.split_once(' '))
        .filter(|(_, pid)| !pid.parse::<u32>().is_ok_and(alive))
        .map(|(id, _)| id)
        .collect();
    if gone.is_empty() {
        return;
    }
    tracing::info!(
        "removing {} container(s) left by an earlier CCProxy",
        gone.len()
    );
    let mut args = vec!["rm", "-f"];
    args.extend(gone);
    let _ = docker(docker_path, &args, Duration::from_secs(60)).await;
}

/// Whether process `pid` runs (this server's own containers are never leftovers).
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(unix)]
    {
        let Ok(pid) = i32::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 only checks that the process exists.
        #[allow(unsafe_code)]
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn extra_args_are_checked() {
        let allowed = [PathBuf::from("/srv/data")];
        for ok in [
            &["--add-host", "up:10.0.0.1"][..],
            &["--dns=1.1.1.1", "-e", "FOO=1"],
            &["-v", "/srv/data/x:/x:ro"],
            &["--mount", "type=bind,source=/srv/data,target=/data"],
            &["--mount", "type=tmpfs,target=/cache"],
        ] {
            assert_eq!(extra_args_problem(&args(ok), &allowed), Ok(()), "{ok:?}");
        }
        for bad in [
            &["--privileged"][..],
            &["--cap-add", "SYS_ADMIN"],
            &["--cap-add=ALL"],
            &["--security-opt", "seccomp=unconfined"],
            &["--user", "0"],
            &["-u", "root"],
            &["--network", "container:x"],
            &["--pid=host"],
            &["--device", "/dev/sda"],
            &["-v", "/:/host"],
            &["-v", "/srv/data/../../etc:/etc2"],
            &["-v", "myvolume:/v"],
            &["--mount", "type=bind,src=/home,dst=/h"],
            &["--volumes-from", "other"],
            &["--dns"],
        ] {
            assert!(
                extra_args_problem(&args(bad), &allowed).is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn the_image_installs_the_tested_cli() {
        assert!(DOCKERFILE.contains(&format!("ARG CLAUDE_CODE_VERSION={CLI_VERSION}\n")));
        let pinned = include_str!("../../../../tests/e2e/package.json");
        assert!(
            pinned.contains(&format!("\"@anthropic-ai/claude-code\": \"{CLI_VERSION}\"")),
            "the tests pin another version"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_of_another_uid_is_named() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let mine = std::fs::metadata(dir.path()).unwrap().uid();
        assert_eq!(not_writable_by(dir.path(), &mine.to_string()), None);
        let other = (mine + 1).to_string();
        let problem = not_writable_by(dir.path(), &other).unwrap();
        assert!(
            problem.contains(&format!("claude.docker.user = \"{mine}:")),
            "{problem}"
        );
        assert_eq!(
            not_writable_by(dir.path(), "claude"),
            None,
            "names are not resolved"
        );
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(not_writable_by(dir.path(), &other), None);
    }

    #[test]
    fn users_and_sizes() {
        assert_eq!(user_problem("1000"), None);
        assert_eq!(user_problem("1000:1000"), None);
        assert!(user_problem("0").is_some());
        assert!(user_problem("root:root").is_some());
        assert!(user_problem("").is_some());
        assert!(user_problem("a b").is_some());
        assert!(is_size("4g") && is_size("512m") && is_size("1073741824"));
        assert!(!is_size("") && !is_size("g") && !is_size("4gb") && !is_size("-1"));
    }

    #[test]
    fn the_command_isolates_and_passes_names_only() {
        let config = DockerConfig::default();
        let container = Container {
            docker: "/usr/bin/docker".into(),
            config,
            claude_dir: Some("/home/u/.claude".into()),
            vars: vec!["ANTHROPIC_BASE_URL".into(), "CLAUDE_CODE_ENTRYPOINT".into()],
        };
        let (command, name) = container.command(
            Path::new("/work space"),
            &[(Path::new("/tmp/p.txt"), PROMPT_FILE)],
            &["CLAUDE_CODE_ENTRYPOINT"],
            args(&["--output-format", "stream-json"]),
        );
        let argv: Vec<String> = command
            .as_std()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let line = argv.join(" ");
        assert!(name.starts_with("ccproxy-claude-"));
        for part in [
            "run --rm -i --init --name ccproxy-claude-",
            "--user 1000 --cap-drop ALL --security-opt no-new-privileges --read-only",
            "--network host --memory 4g --pids-limit 1024",
            "--volume /work space:/work space:rw --workdir /work space",
            "--volume /home/u/.claude:/claude-config:rw",
            "--volume /tmp/p.txt:/run/ccproxy/system-prompt.txt:ro",
            "ccproxy-claude-code:latest claude --output-format stream-json",
        ] {
            assert!(line.contains(part), "{part} not in {line}");
        }
        let vars: Vec<&str> = argv
            .windows(2)
            .filter(|w| w[0] == "--env")
            .map(|w| w[1].as_str())
            .collect();
        assert_eq!(
            vars,
            [
                "CLAUDE_CONFIG_DIR=/claude-config",
                "HOME=/home/ccproxy",
                "CLAUDE_CODE_ENTRYPOINT",
                "ANTHROPIC_BASE_URL"
            ],
            "paths inside by value; the rest each once, by name only"
        );
        assert!(
            command.as_std().get_envs().all(|(k, _)| k != "HOME"),
            "the docker client keeps its own HOME"
        );
    }
}
