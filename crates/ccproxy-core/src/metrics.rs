//! Prometheus metrics, served at `GET /metrics`. Labels come from route templates and the
//! configured model names (anything else is `other`), so their number stays bounded.

use crate::record::RequestRecord;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::sync::atomic::AtomicU64;

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
    quota: Family<Window, Gauge<f64, AtomicU64>>,
    dropped: Counter,
}

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
            quota,
            dropped,
        }
    }

    fn model_label(&self, model: Option<&str>) -> String {
        match model {
            Some(m) if self.known_models.contains(m) => m.to_string(),
            Some(_) => "other".into(),
            None => "none".into(),
        }
    }

    /// A request started.
    pub fn started(&self) {
        self.active.inc();
    }

    /// A request ended (before its usage is known).
    pub fn ended(&self, r: &RequestRecord) {
        self.active.dec();
        self.requests
            .get_or_create(&RequestLabels {
                mode: r.mode.clone(),
                surface: r.surface.clone(),
                route: r.route.clone(),
                model: self.model_label(r.model_requested.as_deref()),
                status: r.status.to_string(),
            })
            .inc();
        let ms = ModeSurface {
            mode: r.mode.clone(),
            surface: r.surface.clone(),
        };
        self.duration
            .get_or_create(&ms)
            .observe(r.duration_ms / 1000.0);
        if let Some(t) = r.ttft_ms {
            self.ttft.get_or_create(&ms).observe(t / 1000.0);
        }
        if let Some(s) = r.upstream_status.filter(|s| *s >= 400) {
            self.upstream_errors
                .get_or_create(&ModeStatus {
                    mode: r.mode.clone(),
                    status: s.to_string(),
                })
                .inc();
        }
        if let Some(u) = r.quota_5h_utilization {
            self.quota
                .get_or_create(&Window {
                    window: "5h".into(),
                })
                .set(u);
        }
        if let Some(u) = r.quota_7d_utilization {
            self.quota
                .get_or_create(&Window {
                    window: "7d".into(),
                })
                .set(u);
        }
    }

    /// A record's tokens and cost became known.
    pub fn usage(&self, r: &RequestRecord) {
        let model = self.model_label(r.model_requested.as_deref());
        for (kind, n) in [
            ("input", r.input_tokens),
            ("output", r.output_tokens),
            ("cache_read", r.cache_read_tokens),
            ("cache_write", r.cache_write_tokens),
        ] {
            if n > 0 {
                self.tokens
                    .get_or_create(&TokenLabels {
                        mode: r.mode.clone(),
                        model: model.clone(),
                        r#type: kind.into(),
                    })
                    .inc_by(n);
            }
        }
        if let Some(c) = r.cost_usd.filter(|c| *c > 0.0) {
            self.cost
                .get_or_create(&ModeModel {
                    mode: r.mode.clone(),
                    model,
                })
                .inc_by(c);
        }
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
