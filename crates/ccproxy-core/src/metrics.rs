//! Prometheus metrics, served at `GET /metrics`. Labels come from route templates and the
//! configured model names (anything else is `other`), so their number stays bounded.
//!
//! Per request, the label sets are looked up once: [`Metrics::ended`] finds (or makes) the
//! request's [`Handles`] — shared handles of every series it updates — in a small cache keyed by
//! borrowed labels, and the request log's writer adds tokens and cost through the same handles.

use crate::record::RequestRecord;
use hashbrown::{Equivalent, HashMap};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock, RwLock};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    mode: String,
    surface: String,
    route: String,
    model: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeSurface {
    mode: String,
    surface: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    mode: String,
    model: String,
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeModel {
    mode: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeStatus {
    mode: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeBucket {
    mode: String,
    bucket: String,
}

/// The modes and buckets of `ccproxy_billed_requests` (a fixed set: its series are made once).
const BILLED_MODES: [&str; 2] = ["api", "sdk"];
const BUCKETS: [&str; 3] = ["plan", "extra_usage", "unknown"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Window {
    window: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Build {
    version: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Every metric, registered once.
pub struct Metrics {
    registry: Registry,
    known_models: HashSet<String>,
    requests: Family<RequestLabels, Counter>,
    duration: Family<ModeSurface, Histogram, fn() -> Histogram>,
    ttft: Family<ModeSurface, Histogram, fn() -> Histogram>,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<ModeModel, Counter<f64, AtomicU64>>,
    active: Gauge,
    upstream_errors: Family<ModeStatus, Counter>,
    /// `ccproxy_billed_requests{mode, bucket}`, by [`BILLED_MODES`] × [`BUCKETS`].
    billed: [[Counter; 3]; 2],
    quota: Family<Window, Gauge<f64, AtomicU64>>,
    quota_5h: OnceLock<Gauge<f64, AtomicU64>>,
    quota_7d: OnceLock<Gauge<f64, AtomicU64>>,
    dropped: Counter,
    connections: Gauge,
    connections_waited: Counter,
    handles: RwLock<HashMap<Key, Arc<Handles>>>,
}

/// The labels that choose a request's [`Handles`], owned (as stored in the cache).
#[derive(PartialEq, Eq)]
struct Key {
    mode: Box<str>,
    surface: Box<str>,
    route: Box<str>,
    model: Box<str>,
    status: u16,
}

/// The same labels, borrowed from a record (to look the cache up without allocating).
struct KeyRef<'a> {
    mode: &'a str,
    surface: &'a str,
    route: &'a str,
    model: &'a str,
    status: u16,
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.borrowed().hash(h)
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (self.mode, self.surface, self.route, self.model, self.status).hash(h)
    }
}

impl Key {
    fn borrowed(&self) -> KeyRef<'_> {
        KeyRef {
            mode: &self.mode,
            surface: &self.surface,
            route: &self.route,
            model: &self.model,
            status: self.status,
        }
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, k: &Key) -> bool {
        let k = k.borrowed();
        (self.mode, self.surface, self.route, self.model, self.status)
            == (k.mode, k.surface, k.route, k.model, k.status)
    }
}

/// Handles of the series one kind of request (mode, surface, route, model, status) updates.
/// Series that may never be used (time to first token, tokens by type, cost) are made on first
/// use, so `/metrics` shows no zero series a request never touched.
pub struct Handles {
    mode: Box<str>,
    model: Box<str>,
    requests: Counter,
    duration: Histogram,
    ttft: OnceLock<Histogram>,
    tokens: [OnceLock<Counter>; 4],
    cost: OnceLock<Counter<f64, AtomicU64>>,
}

const TOKEN_TYPES: [&str; 4] = ["input", "output", "cache_read", "cache_write"];

impl Metrics {
    /// `known_models`: model names that may appear as label values.
    pub fn new(known_models: impl IntoIterator<Item = String>) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<ModeSurface, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let ttft = Family::<ModeSurface, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let tokens = Family::<TokenLabels, Counter>::default();
        let cost = Family::<ModeModel, Counter<f64, AtomicU64>>::default();
        let active = Gauge::default();
        let upstream_errors = Family::<ModeStatus, Counter>::default();
        let quota = Family::<Window, Gauge<f64, AtomicU64>>::default();
        let dropped = Counter::default();
        let connections = Gauge::default();
        let connections_waited = Counter::default();
        let build = Family::<Build, Gauge>::default();
        build
            .get_or_create(&Build {
                version: env!("CARGO_PKG_VERSION").into(),
            })
            .set(1);
        registry.register("ccproxy_requests", "Requests answered", requests.clone());
        registry.register(
            "ccproxy_request_duration_seconds",
            "Time from request to the end of the response",
            duration.clone(),
        );
        registry.register(
            "ccproxy_time_to_first_token_seconds",
            "Time from request to the first token of the answer",
            ttft.clone(),
        );
        registry.register(
            "ccproxy_tokens",
            "Tokens by type (input, output, cache_read, cache_write)",
            tokens.clone(),
        );
        registry.register(
            "ccproxy_cost_usd",
            "Cost at API list prices, in USD",
            cost.clone(),
        );
        registry.register(
            "ccproxy_active_requests",
            "Requests in progress",
            active.clone(),
        );
        registry.register(
            "ccproxy_upstream_errors",
            "Upstream answers with an error status",
            upstream_errors.clone(),
        );
        let billed_family = Family::<ModeBucket, Counter>::default();
        let billed = BILLED_MODES.map(|mode| {
            BUCKETS.map(|bucket| {
                billed_family
                    .get_or_create(&ModeBucket {
                        mode: mode.into(),
                        bucket: bucket.into(),
                    })
                    .clone()
            })
        });
        registry.register(
            "ccproxy_billed_requests",
            "Model requests by who paid, as upstream's quota reading said (plan, extra_usage, unknown)",
            billed_family,
        );
        registry.register(
            "ccproxy_quota_utilization",
            "Subscription quota used, 0–1, by window",
            quota.clone(),
        );
        registry.register(
            "ccproxy_log_dropped",
            "Request records dropped because the log queue was full",
            dropped.clone(),
        );
        registry.register(
            "ccproxy_connections_open",
            "Client connections open (at most server.max_connections)",
            connections.clone(),
        );
        registry.register(
            "ccproxy_connections_waited",
            "Times new connections had to wait because server.max_connections were open",
            connections_waited.clone(),
        );
        registry.register("ccproxy_build_info", "Build information", build);
        Self {
            registry,
            known_models: known_models.into_iter().collect(),
            requests,
            duration,
            ttft,
            tokens,
            cost,
            active,
            upstream_errors,
            billed,
            quota,
            quota_5h: OnceLock::new(),
            quota_7d: OnceLock::new(),
            dropped,
            connections,
            connections_waited,
            handles: RwLock::default(),
        }
    }

    fn model_label<'a>(&'a self, model: Option<&'a str>) -> &'a str {
        match model {
            Some(m) if self.known_models.contains(m) => m,
            Some(_) => "other",
            None => "none",
        }
    }

    /// The handles for a record's labels, from the cache or made (once per label set).
    fn handles(&self, r: &RequestRecord) -> Arc<Handles> {
        let key = KeyRef {
            mode: &r.mode,
            surface: &r.surface,
            route: &r.route,
            model: self.model_label(r.model_requested.as_deref()),
            status: r.status,
        };
        let cached = self.handles.read().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = cached.get(&key) {
            return h.clone();
        }
        drop(cached);
        let mode_surface = ModeSurface {
            mode: key.mode.into(),
            surface: key.surface.into(),
        };
        let made = Arc::new(Handles {
            mode: key.mode.into(),
            model: key.model.into(),
            requests: self
                .requests
                .get_or_create(&RequestLabels {
                    mode: key.mode.into(),
                    surface: key.surface.into(),
                    route: key.route.into(),
                    model: key.model.into(),
                    status: key.status.to_string(),
                })
                .clone(),
            duration: self.duration.get_or_create(&mode_surface).clone(),
            ttft: OnceLock::new(),
            tokens: Default::default(),
            cost: OnceLock::new(),
        });
        let mut cache = self.handles.write().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(Key {
                mode: key.mode.into(),
                surface: key.surface.into(),
                route: key.route.into(),
                model: key.model.into(),
                status: key.status,
            })
            .or_insert(made)
            .clone()
    }

    /// A request started.
    pub fn started(&self) {
        self.active.inc();
    }

    /// A request ended (before its usage is known). Returns its handles, for [`Metrics::usage`].
    pub fn ended(&self, r: &RequestRecord) -> Arc<Handles> {
        self.active.dec();
        let h = self.handles(r);
        h.requests.inc();
        h.duration.observe(r.duration_ms / 1000.0);
        if let Some(t) = r.ttft_ms {
            h.ttft
                .get_or_init(|| {
                    self.ttft
                        .get_or_create(&ModeSurface {
                            mode: r.mode.to_string(),
                            surface: r.surface.to_string(),
                        })
                        .clone()
                })
                .observe(t / 1000.0);
        }
        if let Some(bucket) = &r.billing {
            let mode = BILLED_MODES.iter().position(|m| *m == r.mode);
            let bucket = BUCKETS.iter().position(|b| *b == bucket.as_ref());
            if let (Some(m), Some(b)) = (mode, bucket) {
                self.billed[m][b].inc();
            }
        }
        if let Some(s) = r.upstream_status.filter(|s| *s >= 400) {
            self.upstream_errors
                .get_or_create(&ModeStatus {
                    mode: r.mode.to_string(),
                    status: s.to_string(),
                })
                .inc();
        }
        for (value, gauge, window) in [
            (r.quota_5h_utilization, &self.quota_5h, "5h"),
            (r.quota_7d_utilization, &self.quota_7d, "7d"),
        ] {
            if let Some(u) = value {
                gauge
                    .get_or_init(|| {
                        self.quota
                            .get_or_create(&Window {
                                window: window.into(),
                            })
                            .clone()
                    })
                    .set(u);
            }
        }
        h
    }

    /// A record's tokens and cost became known; `h` are the handles [`Metrics::ended`] gave.
    pub fn usage(&self, h: &Handles, r: &RequestRecord) {
        let counts = [
            r.input_tokens,
            r.output_tokens,
            r.cache_read_tokens,
            r.cache_write_tokens,
        ];
        for ((n, kind), counter) in counts.into_iter().zip(TOKEN_TYPES).zip(&h.tokens) {
            if n > 0 {
                counter
                    .get_or_init(|| {
                        self.tokens
                            .get_or_create(&TokenLabels {
                                mode: h.mode.to_string(),
                                model: h.model.to_string(),
                                r#type: kind.into(),
                            })
                            .clone()
                    })
                    .inc_by(n);
            }
        }
        if let Some(c) = r.cost_usd.filter(|c| *c > 0.0) {
            h.cost
                .get_or_init(|| {
                    self.cost
                        .get_or_create(&ModeModel {
                            mode: h.mode.to_string(),
                            model: h.model.to_string(),
                        })
                        .clone()
                })
                .inc_by(c);
        }
    }

    /// A client connection was accepted (`+1`) or closed (`-1`).
    pub fn connections(&self, change: i64) {
        self.connections.inc_by(change);
    }

    /// All `server.max_connections` slots were taken when the next connection was to be accepted.
    pub fn connections_waited(&self) {
        self.connections_waited.inc();
    }

    /// A record could not be queued for the log.
    pub fn dropped(&self) {
        self.dropped.inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
