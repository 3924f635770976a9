//! Recent Responses API answers, kept in memory so stateless clients that use ids work:
//! `previous_response_id` (the stored conversation goes before the new input), `item_reference`
//! input items (the Vercel AI SDK sends them on a tool loop's second step), and
//! `GET`/`DELETE /v1/responses/{id}`, `GET /v1/responses/{id}/input_items`.
//!
//! Bounded by count (`openai.stored_responses`, oldest out first) and age
//! (`openai.stored_response_ttl_secs`); nothing is written to disk. Each response belongs to the
//! credential its request presented (a SHA-256 of the API token, or "none"), and only requests
//! with the same credential see it. A request with `store: false` is not kept.

use crate::error::ApiError;
use axum::http::HeaderMap;
use ccproxy_protocol::error::ErrorKind;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Whose a stored response is: a digest of the credential the request presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner([u8; 32]);

impl Owner {
    /// The owner of a request with these headers (`x-api-key`, else `Authorization`).
    pub fn of(headers: &HeaderMap) -> Self {
        let presented = headers
            .get("x-api-key")
            .or_else(|| headers.get(axum::http::header::AUTHORIZATION))
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        Self(Sha256::digest(presented).into())
    }
}

struct Stored {
    id: String,
    owner: Owner,
    at: Instant,
    /// The input items the response answered (the whole conversation before its output).
    input: Arc<Vec<Value>>,
    response: Value,
}

/// The kept responses, newest last.
pub struct ResponseStore {
    kept: Mutex<VecDeque<Stored>>,
    capacity: usize,
    ttl: Duration,
}

/// What a request's answer is kept with, once it completes.
#[derive(Clone)]
pub struct Save {
    pub store: Arc<ResponseStore>,
    pub owner: Owner,
    pub input: Arc<Vec<Value>>,
}

impl Save {
    /// Keeps `response` when it completed.
    pub fn put(&self, response: &Value) {
        if response["status"] == "completed" {
            self.store
                .put(self.owner, self.input.clone(), response.clone());
        }
    }
}

fn not_found(what: &str, id: &str, store: &ResponseStore) -> ApiError {
    ApiError::new(
        ErrorKind::NotFound,
        format!(
            "{what} with id '{id}' not found: CCProxy keeps the last {} responses for {} minutes, \
             in memory (openai.stored_responses, openai.stored_response_ttl_secs)",
            store.capacity,
            store.ttl.as_secs() / 60
        ),
    )
}

impl ResponseStore {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            kept: Mutex::new(VecDeque::new()),
            capacity,
            ttl,
        }
    }

    /// Whether anything is kept at all (`openai.stored_responses` > 0).
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, VecDeque<Stored>> {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let ttl = self.ttl;
        kept.retain(|s| s.at.elapsed() < ttl);
        kept
    }

    fn put(&self, owner: Owner, input: Arc<Vec<Value>>, response: Value) {
        if !self.enabled() {
            return;
        }
        let id = response["id"].as_str().unwrap_or_default().to_string();
        let mut kept = self.locked();
        while kept.len() >= self.capacity {
            kept.pop_front();
        }
        kept.push_back(Stored {
            id,
            owner,
            at: Instant::now(),
            input,
            response,
        });
    }

    /// The response `id` of `owner`.
    pub fn get(&self, owner: Owner, id: &str) -> Result<Value, ApiError> {
        self.locked()
            .iter()
            .find(|s| s.owner == owner && s.id == id)
            .map(|s| s.response.clone())
            .ok_or_else(|| not_found("Response", id, self))
    }

    /// The input items of the response `id` of `owner`, as a list object.
    pub fn input_items(&self, owner: Owner, id: &str) -> Result<Value, ApiError> {
        let kept = self.locked();
        let stored = kept
            .iter()
            .find(|s| s.owner == owner && s.id == id)
            .ok_or_else(|| not_found("Response", id, self))?;
        let data: Vec<Value> = stored.input.iter().cloned().collect();
        let first = data.first().and_then(|i| i.get("id")).cloned();
        let last = data.last().and_then(|i| i.get("id")).cloned();
        Ok(
            json!({"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": false}),
        )
    }

    /// Forgets the response `id` of `owner`.
    pub fn delete(&self, owner: Owner, id: &str) -> Result<Value, ApiError> {
        let mut kept = self.locked();
        let before = kept.len();
        kept.retain(|s| !(s.owner == owner && s.id == id));
        if kept.len() == before {
            return Err(not_found("Response", id, self));
        }
        Ok(json!({"id": id, "object": "response", "deleted": true}))
    }

    /// A Responses request with its ids resolved: `previous_response_id`'s conversation (its
    /// input and output) goes before `input`, and each `item_reference` becomes the item it
    /// names. Returns the whole input, for the answer to be kept with.
    pub fn expand(&self, owner: Owner, req: &mut Value) -> Result<Vec<Value>, ApiError> {
        let mut input = match req.get("input") {
            Some(Value::String(text)) => vec![json!({"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": text}]})],
            Some(Value::Array(items)) => items.clone(),
            // A malformed `input` is left as it is, for the translation to name it (400).
            Some(v) if !v.is_null() => return Ok(Vec::new()),
            _ => Vec::new(),
        };
        let mut changed = false;
        let kept = self.locked();
        if let Some(previous) = req["previous_response_id"]
            .as_str()
            .filter(|p| !p.is_empty())
        {
            let stored = kept
                .iter()
                .find(|s| s.owner == owner && s.id == previous)
                .ok_or_else(|| not_found("Previous response", previous, self))?;
            let mut whole: Vec<Value> = stored.input.iter().cloned().collect();
            whole.extend(
                stored.response["output"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
            whole.append(&mut input);
            input = whole;
            changed = true;
        }
        for item in input.iter_mut() {
            if item["type"] != "item_reference" {
                continue;
            }
            let id = item["id"].as_str().unwrap_or_default().to_string();
            let found = kept
                .iter()
                .rev()
                .filter(|s| s.owner == owner)
                .flat_map(|s| {
                    s.response["output"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .chain(s.input.iter())
                })
                .find(|i| i["id"] == id.as_str())
                .cloned();
            *item = found.ok_or_else(|| not_found("Item", &id, self))?;
            changed = true;
        }
        // The request is rewritten only when an id was resolved.
        if changed {
            req["input"] = Value::Array(input.clone());
        }
        Ok(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_by_owner_count_and_age() {
        let store = Arc::new(ResponseStore::new(2, Duration::from_secs(3600)));
        let a = Owner([1; 32]);
        let b = Owner([2; 32]);
        let save = |owner, id: &str| {
            Save {
                store: store.clone(),
                owner,
                input: Arc::new(vec![json!({"type": "message", "role": "user", "content": "q"})]),
            }
            .put(&json!({"id": id, "status": "completed", "output": [{"id": format!("{id}_out"), "type": "message"}]}))
        };
        save(a, "r1");
        save(a, "r2");
        assert!(store.get(b, "r1").is_err(), "another credential's");
        assert!(store.get(a, "r1").is_ok());
        save(a, "r3");
        assert!(store.get(a, "r1").is_err(), "the oldest goes at the cap");
        let mut req = json!({"previous_response_id": "r3", "input": [{"type": "item_reference", "id": "r2_out"}]});
        let input = store.expand(a, &mut req).unwrap();
        assert_eq!(input.len(), 3, "{input:?}");
        assert_eq!(req["input"][1]["id"], "r3_out");
        assert_eq!(req["input"][2]["id"], "r2_out");
        let mut unknown = json!({"previous_response_id": "r1", "input": "x"});
        let e = store.expand(a, &mut unknown).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(e.message.contains("'r1'"), "{}", e.message);
        // Nothing to resolve: the request stays as it came (a malformed input is the
        // translation's to name).
        let mut plain = json!({"input": "q"});
        store.expand(a, &mut plain).unwrap();
        assert_eq!(plain["input"], "q");
        let mut bad = json!({"previous_response_id": "r3", "input": 5});
        store.expand(a, &mut bad).unwrap();
        assert_eq!(bad["input"], 5);
        store.delete(a, "r3").unwrap();
        assert!(store.get(a, "r3").is_err());
        let gone = ResponseStore::new(5, Duration::ZERO);
        gone.put(
            a,
            Arc::new(Vec::new()),
            json!({"id": "x", "status": "completed"}),
        );
        assert!(gone.get(a, "x").is_err(), "expired");
    }
}
