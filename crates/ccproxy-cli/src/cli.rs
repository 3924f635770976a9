//! Command-line syntax. `ccproxy` with no subcommand is `ccproxy serve`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "ccproxy",
    version,
    about = "Use your Claude subscription as a local Anthropic- and OpenAI-compatible API",
    long_about = "Use your Claude subscription as a local Anthropic- and OpenAI-compatible API.\n\n\
        Point a client at http://127.0.0.1:8000/api (ANTHROPIC_BASE_URL) and it works through \
        your Claude login. With no subcommand, `ccproxy` runs `ccproxy serve`.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Print a shell completion script, e.g. `eval "$(ccproxy --show-completion zsh)"`
    #[arg(long, value_name = "SHELL")]
    pub show_completion: Option<clap_complete::Shell>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the proxy server (the default command)
    Serve(ServeArgs),
    /// Inspect the configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Sign in with your Claude account, and manage the stored login
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Open the running server's web UI as its owner (with the right to change settings)
    Ui {
        #[command(flatten)]
        source: ConfigArg,
        /// Print the link instead of opening a browser (it holds the owner key: keep it private)
        #[arg(long)]
        no_browser: bool,
    },
    /// Exit 0 when the server answers `GET /health` (for container health checks)
    Health {
        #[command(flatten)]
        source: ConfigArg,
        /// The server's address [default: 127.0.0.1 on server.port]
        #[arg(long, value_name = "HOST:PORT")]
        addr: Option<String>,
    },
    /// Claude Code mode in a container (`claude.isolation = "docker"`)
    #[command(subcommand)]
    Docker(DockerCommand),
    /// Print a new random API token for `security.auth_token`, and how to use it
    GenerateToken {
        /// Also write it to ./.env as AUTH_TOKEN (replacing an earlier token line, keeping the rest)
        #[arg(long)]
        save: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum DockerCommand {
    /// Build the image the CLI runs in (docker/claude-code.Dockerfile), tagged as
    /// `claude.docker.image`
    BuildImage {
        #[command(flatten)]
        source: ConfigArg,
        /// The tag [default: claude.docker.image]
        #[arg(long, value_name = "IMAGE")]
        tag: Option<String>,
        /// A Node.js base image with npm
        #[arg(long, value_name = "IMAGE", default_value = "node:22-bookworm-slim")]
        base: String,
        /// The `@anthropic-ai/claude-code` version to install
        #[arg(long, value_name = "VERSION", default_value = ccproxy_core::claude_code::docker::CLI_VERSION)]
        cli_version: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuthCommand {
    /// Log in: opens the browser, you approve, the login is stored for ccproxy
    Login {
        #[command(flatten)]
        source: ConfigArg,
        /// Port of the local callback listener [default: any free port]
        #[arg(long, value_name = "PORT")]
        port: Option<u16>,
        /// Print the login URL instead of opening a browser
        #[arg(long)]
        no_browser: bool,
        /// Paste the code shown after approval instead of using a local callback
        #[arg(long)]
        manual: bool,
        /// Seconds to wait for the approval [default: oauth.login_timeout_secs, 300]
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
    },
    /// Exit 0 if the stored login is valid (and say until when), else exit 1 and say why
    Validate {
        #[command(flatten)]
        source: ConfigArg,
    },
    /// Show account, subscription, scopes, expiry and where the login is stored; refreshes if expired
    Info {
        #[command(flatten)]
        source: ConfigArg,
    },
    /// Refresh the access token now
    Refresh {
        #[command(flatten)]
        source: ConfigArg,
    },
    /// Revoke and remove ccproxy's stored login (Claude Code's own login is left alone)
    Logout {
        #[command(flatten)]
        source: ConfigArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the effective configuration, secrets masked, with the source of each value
    Show {
        #[command(flatten)]
        source: ConfigArg,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug, Clone, Default)]
pub struct ConfigArg {
    /// TOML configuration file [default: ./.ccproxy.toml, ./ccproxy.toml,
    /// $XDG_CONFIG_HOME/ccproxy/config.toml, the first that exists]
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub source: ConfigArg,
    /// Address to listen on [default: 127.0.0.1]
    #[arg(long, value_name = "ADDR")]
    pub host: Option<String>,
    /// Port to listen on; 0 picks a free one [default: 8000]
    #[arg(long, short = 'p', value_name = "PORT")]
    pub port: Option<u16>,
    /// Require this API token from clients (x-api-key or Authorization: Bearer)
    #[arg(long, value_name = "TOKEN")]
    pub auth_token: Option<String>,
    /// Log filter: error, warn, info, debug, trace, or tracing directives [default: info]
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Log line format [default: text]
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormatArg>,
    /// Allow listening on a non-loopback address without an API token
    #[arg(long)]
    pub allow_remote_without_auth: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum LogFormatArg {
    Text,
    Json,
}
