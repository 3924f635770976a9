//! [`AppState`]: what the server's request handlers share — the configuration, the upstream
//! client, credentials, the request log and metrics, the quota reading, Claude Code mode's
//! processes — built once by `server::start` and dropped when the server stops.

use crate::billing::Bucket;
use crate::config::Config;
use crate::credentials::Credentials;
use crate::metrics::Metrics;
use crate::quota::{LatestQuota, Quota};
use crate::request_log::RequestLog;
use ccproxy_protocol::openai::chat_request::Options;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// What every request handler can reach.
pub struct AppState {
    pub config: Arc<Config>,
    /// The one pooled upstream client.
    pub http: reqwest::Client,
    /// `claude.api_base_url`, parsed once at start.
    pub upstream_base: reqwest::Url,
    pub credentials: Arc<Credentials>,
    pub started: Instant,
    /// The bound address (the login callback URL is built from its port).
    pub addr: SocketAddr,
    /// `openai.model_aliases` as pairs, for the translation.
    pub aliases: Vec<(String, String)>,
    pub metrics: Arc<Metrics>,
    pub request_log: Arc<RequestLog>,
    /// The latest subscription quota seen in upstream's headers.
    pub quota: LatestQuota,
    /// The extra-usage guard (`billing.extra_usage`).
    pub billing: crate::billing::Guard,
    /// What the user should hear about (thresholds, extra usage, blocks, login, CLI).
    pub alerts: crate::alerts::Alerts,
    /// The last Claude Code version upstream asked for (client's and CLI's).
    pub version_floor: crate::version_floor::LatestFloor,
    /// Becomes `true` when the server begins to shut down (long streams end then).
    pub stopping: watch::Receiver<bool>,
    /// Logins started through `GET /oauth/login`, waiting for their callback.
    pub logins: tokio::sync::Mutex<Vec<crate::login::PendingLogin>>,
    /// Claude Code mode: the CLI, its warm pool and sessions.
    pub claude_code: Arc<crate::claude_code::ClaudeCode>,
    /// Where UI changes to settings go, and the restart request.
    pub settings: crate::settings::SettingsHost,
    /// Recent Responses API answers (`previous_response_id`, `GET /v1/responses/{id}`).
    pub responses: Arc<crate::response_store::ResponseStore>,
}

impl AppState {
    /// Learns a response's quota reading (upstream's headers, or the CLI's `rate_limit_event`):
    /// it becomes the latest for `/api/quota`, feeds the guard and the alerts, and its bucket is
    /// returned for the request's record and `x-ccproxy-billing`.
    pub fn note_quota(&self, q: &Quota) -> Bucket {
        let bucket = Bucket::of(q);
        self.quota.update(q.clone());
        if let Some(block) = self.billing.note(q, bucket) {
            use crate::config::ExtraUsagePolicy as P;
            match self.config.billing.extra_usage {
                P::Block => self.alerts.on_block(&block, true),
                P::Warn => self.alerts.on_block(&block, false),
                P::Allow => {}
            }
        }
        self.alerts.on_reading(q, bucket);
        bucket
    }

    /// What the OpenAI translations need: the default `max_tokens` and the model aliases.
    pub fn translation_options(&self) -> Options<'_> {
        Options {
            default_max_tokens: self.config.openai.default_max_tokens,
            aliases: &self.aliases,
        }
    }

    /// `server.max_body_bytes`: the largest request body read.
    pub fn max_body_bytes(&self) -> u64 {
        self.config.server.max_body_bytes
    }

    /// Whether request bodies are kept for the request log (`observability.store_bodies`).
    pub fn stores_bodies(&self) -> bool {
        self.config.observability.store_bodies
    }
}
