//! The kept Responses API answers (`response_store`): `GET` and `DELETE /v1/responses/{id}`,
//! `GET /v1/responses/{id}/input_items`, on both modes; each caller sees only what its own
//! credential made. Errors are in OpenAI's shape.

use crate::error::{ApiError, ErrorShape};
use crate::response_store::Owner;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::Value;
use std::sync::Arc;

type Answer = Result<Json<Value>, ApiError>;

fn openai(result: Result<Value, ApiError>) -> Answer {
    result.map(Json).map_err(|e| e.in_shape(ErrorShape::OpenAi))
}

/// `GET …/responses/{id}`
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    openai(state.responses.get(Owner::of(&headers), &id))
}

/// `DELETE …/responses/{id}`
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    openai(state.responses.delete(Owner::of(&headers), &id))
}

/// `GET …/responses/{id}/input_items`
pub async fn input_items(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Answer {
    openai(state.responses.input_items(Owner::of(&headers), &id))
}
