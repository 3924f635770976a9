//! Claude Code mode's own routes: `GET /sdk/v1/models` (and `/sdk/models`) and
//! `GET /sdk/status`. Its model requests run through [`crate::exchange`].

use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

/// `GET /sdk/v1/models`, `GET /sdk/models`: the CLI's models (from its `initialize` answer),
/// else the configured list, in the shape both SDKs read.
pub async fn models(State(state): State<Arc<AppState>>) -> Response {
    let from_cli = state.claude_code.cli_models();
    let ids: Vec<(String, String)> = match &from_cli {
        Some(Value::Array(models)) => models
            .iter()
            .filter_map(|m| {
                let id = m["value"].as_str()?;
                Some((
                    id.to_string(),
                    m["displayName"].as_str().unwrap_or(id).to_string(),
                ))
            })
            .collect(),
        _ => state
            .config
            .claude
            .models
            .iter()
            .map(|m| (m.clone(), m.clone()))
            .collect(),
    };
    let data: Vec<Value> = ids
        .iter()
        .map(|(id, name)| {
            json!({
                "id": id, "object": "model", "created": 0, "owned_by": "anthropic",
                "type": "model", "display_name": name, "created_at": "1970-01-01T00:00:00Z",
            })
        })
        .collect();
    Json(json!({
        "object": "list",
        "data": data,
        "has_more": false,
        "first_id": ids.first().map(|m| &m.0),
        "last_id": ids.last().map(|m| &m.0),
        "source": if from_cli.is_some() { "claude-cli" } else { "config" },
    }))
    .into_response()
}

/// `GET /sdk/status`: the CLI (found, path, version), the pool, the CLI's login.
pub async fn status(State(state): State<Arc<AppState>>) -> Json<Value> {
    let cli = state.claude_code.cli_status().await;
    let c = &state.config.claude;
    Json(json!({
        "mode": "sdk",
        "cli": cli,
        "pool": state.claude_code.pool_status(),
        "account": state.claude_code.cli_account(),
        "permission_mode": c.permission_mode.as_str(),
        "allowed_tools": c.allowed_tools,
        "disallowed_tools": c.disallowed_tools,
        "max_turns": c.max_turns,
        "cwd": state.config.workspace(),
        "client_tools": {
            "builtin_tools_kept": c.builtin_tools_with_client_tools,
            "tool_result_timeout_secs": c.tool_result_timeout_secs,
        },
        // The last "Claude Code version too old" answer upstream gave a CLI turn.
        "version_floor": state.version_floor.get(crate::version_floor::Side::Cli),
    }))
}
