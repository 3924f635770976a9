//! Who pays, over HTTP: `GET /api/alerts` (the alerts the web UI's banner shows) and
//! `POST /api/billing/allow-extra-usage` (the one-click, time-limited override of the
//! extra-usage guard — an action that can spend money, so the owner's only: [`crate::owner`]).

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::owner;
use crate::state::AppState;
use axum::extract::{FromRequest, Request, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ccproxy_protocol::error::ErrorKind;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Since {
    /// Only alerts with a greater id.
    since: u64,
}

/// `GET /api/alerts?since=ID`: the kept alerts newer than `since` (all kept ones by default).
pub async fn alerts(
    State(state): State<Arc<AppState>>,
    ApiQuery(q): ApiQuery<Since>,
) -> Json<Value> {
    let alerts = state.alerts.since(q.since);
    let latest = alerts.last().map_or(q.since, |a| a.id);
    Json(json!({"alerts": alerts, "latest": latest}))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Allow {
    /// `true`: allow extra usage until the reset; `false`: end the override.
    allow: bool,
}

/// `POST /api/billing/allow-extra-usage` `{"allow": true}`: requests go on even if upstream
/// bills them to extra usage, until the plan window's reset (`{"allow": false}` ends it).
pub async fn allow_extra_usage(State(state): State<Arc<AppState>>, request: Request) -> Response {
    if let Err(refused) = owner::check(&state.config, request.headers()) {
        let (parts, body) = request.into_parts();
        let limit = state.max_body_bytes();
        return crate::body::answer_unread(limit, &parts.headers, body, refused.into_response())
            .await;
    }
    let body = match ApiJson::<Value>::from_request(request, &state).await {
        Ok(ApiJson(body)) => body,
        Err(e) => return e.into_response(),
    };
    let allow: Allow = match serde_json::from_value(body) {
        Ok(a) => a,
        Err(e) => {
            return ApiError::new(
                ErrorKind::InvalidRequest,
                format!("the body must be {{\"allow\": true}} or {{\"allow\": false}}: {e}"),
            )
            .into_response()
        }
    };
    let now = crate::clock::unix_secs();
    let until = state.billing.allow_until_reset(allow.allow, now);
    match until {
        Some(t) => tracing::warn!(
            until = %crate::clock::utc_text(t),
            "extra usage allowed by the owner until the reset"
        ),
        None => tracing::info!("the extra-usage override was ended"),
    }
    Json(json!({"allowed_until": until, "billing": state.billing.state(now)})).into_response()
}
