//! What a stored body may not keep: credentials and inline file data.
//!
//! JSON bodies are walked: values of credential-like keys become `[redacted]`, base64 sources
//! and `data:` URLs become a note of their size. Other bodies are kept as text. Either way the
//! result is capped at a size, on a character boundary.

use serde_json::Value;

const SECRET_KEYS: [&str; 9] = [
    "api_key",
    "apikey",
    "authorization",
    "password",
    "secret",
    "token",
    "access_token",
    "refresh_token",
    "x-api-key",
];

fn walk(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let base64_source = map.get("type").and_then(Value::as_str) == Some("base64");
            for (k, child) in map.iter_mut() {
                let key = k.to_ascii_lowercase();
                if SECRET_KEYS.contains(&key.as_str()) && !child.is_null() {
                    *child = Value::String("[redacted]".into());
                } else if base64_source && key == "data" {
                    let n = child.as_str().map_or(0, str::len);
                    *child = Value::String(format!("[{n} bytes of base64 removed]"));
                } else {
                    walk(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(walk),
        Value::String(s) if s.starts_with("data:") && s.contains(";base64,") => {
            let n = s.len();
            *s = format!("[data URL of {n} bytes removed]");
        }
        _ => {}
    }
}

/// The body as it may be stored: redacted, at most `cap` bytes.
pub fn for_storage(body: &[u8], cap: usize) -> String {
    let mut text = match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            walk(&mut v);
            v.to_string()
        }
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    if text.len() > cap {
        let mut end = cap;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let cut = text.len() - end;
        text.truncate(end);
        text.push_str(&format!("…[{cut} more bytes not stored]"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::for_storage;

    #[test]
    fn secrets_and_file_data_are_removed() {
        let body = br#"{"metadata":{"api_key":"sk-123","user_id":"u"},"messages":[{"content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}},{"type":"image_url","image_url":{"url":"data:image/png;base64,QUJD"}}]}]}"#;
        let out = for_storage(body, 10_000);
        assert!(
            !out.contains("sk-123") && !out.contains("AAAA") && !out.contains("QUJD"),
            "{out}"
        );
        assert!(
            out.contains("[redacted]") && out.contains("[4 bytes of base64 removed]"),
            "{out}"
        );
        assert!(out.contains("\"user_id\":\"u\""));
    }

    #[test]
    fn long_bodies_are_capped_on_a_char_boundary() {
        let out = for_storage("ééééé".as_bytes(), 3);
        assert!(
            out.starts_with('é') && out.contains("more bytes not stored"),
            "{out}"
        );
    }
}

/// A free-text line (e.g. the `claude` CLI's stderr) with token-looking words masked:
/// Anthropic keys and tokens (`sk-ant-…`) and whatever follows `Bearer `.
pub fn line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut mask_next = false;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if mask_next || word.contains("sk-ant-") {
            out.push_str("[redacted]");
        } else {
            out.push_str(word);
        }
        mask_next = word.eq_ignore_ascii_case("bearer");
    }
    out
}

#[cfg(test)]
mod line_tests {
    #[test]
    fn masks_tokens() {
        assert_eq!(
            super::line("auth Bearer abc.def failed for sk-ant-oat01-xyz ok"),
            "auth Bearer [redacted] failed for [redacted] ok"
        );
    }
}
