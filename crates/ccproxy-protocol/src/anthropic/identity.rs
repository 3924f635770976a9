//! The Claude Code identity line that upstream requires at the head of the system prompt of
//! every request made with a subscription token: without one, upstream answers 400 "This
//! credential is only authorized for use with Claude Code and cannot be used for other API
//! requests." The line may follow one text block that starts with `x-anthropic-billing-header:`.
//!
//! [`ensure_identity`] edits the request body as bytes: it finds the byte range of the top-level
//! `system` value and splices the identity block in, so every other byte of the body — unknown
//! fields, key order, whitespace, thinking blocks — reaches upstream exactly as the client sent it.
//! A request that already carries an accepted identity line is not touched at all.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// The identity lines upstream accepts (Claude Code 2.1.331).
pub const ACCEPTED_IDENTITIES: [&str; 3] = [
    "You are Claude Code, Anthropic's official CLI for Claude.",
    "You are Claude Code, Anthropic's official CLI for Claude, running within the Claude Agent SDK.",
    "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
];

/// The system block inserted when a request carries no identity line.
pub const IDENTITY_BLOCK: &str =
    r#"{"type":"text","text":"You are Claude Code, Anthropic's official CLI for Claude."}"#;

/// Prefix of the optional billing block Claude Code puts before the identity line.
const BILLING_PREFIX: &str = "x-anthropic-billing-header:";

/// Why a body could not be inspected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError(pub String);

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BodyError {}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    system: Option<&'a RawValue>,
    // Read leniently (raw), so a body this module does not own is never refused for them.
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
    #[serde(borrow, default)]
    stream: Option<&'a RawValue>,
}

/// A request body made ready for upstream, and what the request log needs to know of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The rewritten body; `None` when the original passes untouched.
    pub body: Option<Vec<u8>>,
    /// The top-level `model`, when it is a string.
    pub model: Option<String>,
    /// Whether `stream` is `true`.
    pub stream: bool,
}

/// Keeps an explicit `null` distinguishable from an absent field.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct TextBlock<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
}

fn is_identity(text: &str) -> bool {
    ACCEPTED_IDENTITIES
        .iter()
        .any(|line| text.starts_with(line))
}

/// The text of a `{"type":"text","text":…}` block, if `raw` is one.
fn block_text(raw: &RawValue) -> Option<String> {
    let block: TextBlock<'_> = serde_json::from_str(raw.get()).ok()?;
    match (block.kind.as_deref(), block.text) {
        (Some("text"), Some(text)) => Some(text.into_owned()),
        _ => None,
    }
}

/// Byte offset of `inner` (a slice borrowed from `outer`) within `outer`.
fn offset_in(outer: &[u8], inner: &str) -> usize {
    inner.as_ptr() as usize - outer.as_ptr() as usize
}

fn splice(body: &[u8], at: std::ops::Range<usize>, with: &[&[u8]]) -> Vec<u8> {
    let added: usize = with.iter().map(|part| part.len()).sum();
    let mut out = Vec::with_capacity(body.len() - at.len() + added);
    out.extend_from_slice(&body[..at.start]);
    for part in with {
        out.extend_from_slice(part);
    }
    out.extend_from_slice(&body[at.end..]);
    out
}

fn first_non_ws(bytes: &[u8], from: usize) -> Option<(usize, u8)> {
    bytes[from..]
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| (from + i, bytes[from + i]))
}

/// Returns the body with the identity block inserted, or `None` when the body must pass
/// untouched (it already starts with an accepted identity line, or `system` has a shape this
/// function does not own — upstream is the judge of those).
///
/// Errors only when the body is not a JSON object at all.
pub fn ensure_identity(body: &[u8]) -> Result<Option<Vec<u8>>, BodyError> {
    prepare(body).map(|p| p.body)
}

/// [`ensure_identity`], and the request's `model` and `stream`, from one parse of the body.
pub fn prepare(body: &[u8]) -> Result<Prepared, BodyError> {
    let open = match first_non_ws(body, 0) {
        Some((i, b'{')) => i,
        _ => return Err(BodyError("the request body must be a JSON object".into())),
    };
    let probe: Probe<'_> = serde_json::from_slice(body)
        .map_err(|e| BodyError(format!("the request body is not valid JSON: {e}")))?;
    let model = probe
        .model
        .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok());
    let stream = probe.stream.is_some_and(|raw| raw.get() == "true");
    Ok(Prepared {
        body: splice_identity(body, open, probe.system)?,
        model,
        stream,
    })
}

fn splice_identity(
    body: &[u8],
    open: usize,
    system: Option<&RawValue>,
) -> Result<Option<Vec<u8>>, BodyError> {
    let identity = IDENTITY_BLOCK.as_bytes();
    let Some(system) = system else {
        // No system prompt: add one as the first field of the object.
        let empty = matches!(first_non_ws(body, open + 1), Some((_, b'}')));
        let sep: &[u8] = if empty { b"" } else { b"," };
        return Ok(Some(splice(
            body,
            open + 1..open + 1,
            &[b"\"system\":[", identity, b"]", sep],
        )));
    };

    let start = offset_in(body, system.get());
    let range = start..start + system.get().len();
    let raw = system.get();
    match raw.as_bytes()[0] {
        b'"' => {
            let text: Cow<'_, str> = serde_json::from_str(raw)
                .map_err(|e| BodyError(format!("invalid `system` string: {e}")))?;
            if is_identity(&text) {
                return Ok(None);
            }
            if text.is_empty() {
                return Ok(Some(splice(body, range, &[b"[", identity, b"]"])));
            }
            Ok(Some(splice(
                body,
                range,
                &[
                    b"[",
                    identity,
                    b",{\"type\":\"text\",\"text\":",
                    raw.as_bytes(),
                    b"}]",
                ],
            )))
        }
        b'[' => {
            let blocks: Vec<&RawValue> = serde_json::from_str(raw)
                .map_err(|e| BodyError(format!("invalid `system` array: {e}")))?;
            let billing = blocks
                .first()
                .and_then(|b| block_text(b))
                .is_some_and(|t| t.starts_with(BILLING_PREFIX));
            let head = usize::from(billing);
            if blocks
                .get(head)
                .and_then(|b| block_text(b))
                .is_some_and(|t| is_identity(&t))
            {
                return Ok(None);
            }
            if billing {
                // Right after the billing block.
                let first = blocks[0].get();
                let at = offset_in(body, first) + first.len();
                return Ok(Some(splice(body, at..at, &[b",", identity])));
            }
            let sep: &[u8] = if blocks.is_empty() { b"" } else { b"," };
            Ok(Some(splice(body, start + 1..start + 1, &[identity, sep])))
        }
        b'n' => Ok(Some(splice(body, range, &[b"[", identity, b"]"]))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `ensure_identity` and returns the resulting body as a string (`None`: untouched).
    fn check(input: &str) -> Option<String> {
        ensure_identity(input.as_bytes())
            .expect("valid body")
            .map(|b| String::from_utf8(b).expect("utf-8"))
    }

    const ID: &str = IDENTITY_BLOCK;

    #[test]
    fn absent_system_is_added_first() {
        assert_eq!(
            check(r#"{"model":"m", "messages":[]}"#).unwrap(),
            format!(r#"{{"system":[{ID}],"model":"m", "messages":[]}}"#)
        );
        assert_eq!(
            check(" { } ").unwrap(),
            format!(r#" {{"system":[{ID}] }} "#)
        );
    }

    #[test]
    fn string_system_becomes_blocks_after_identity() {
        assert_eq!(
            check(r#"{"system":"Be \"brief\".\n","x":1}"#).unwrap(),
            format!(r#"{{"system":[{ID},{{"type":"text","text":"Be \"brief\".\n"}}],"x":1}}"#)
        );
        assert_eq!(
            check(r#"{"system":""}"#).unwrap(),
            format!(r#"{{"system":[{ID}]}}"#)
        );
        assert_eq!(
            check(r#"{"system":null}"#).unwrap(),
            format!(r#"{{"system":[{ID}]}}"#)
        );
    }

    #[test]
    fn array_system_gets_identity_prepended() {
        assert_eq!(
            check(
                r#"{"system":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}"#
            )
            .unwrap(),
            format!(
                r#"{{"system":[{ID},{{"type":"text","text":"hi","cache_control":{{"type":"ephemeral"}}}}]}}"#
            )
        );
        assert_eq!(
            check(r#"{"system": [ ]}"#).unwrap(),
            format!(r#"{{"system": [{ID} ]}}"#)
        );
    }

    #[test]
    fn identity_goes_after_billing_block() {
        let input = r#"{"system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=1"},{"type":"text","text":"rules"}]}"#;
        assert_eq!(
            check(input).unwrap(),
            format!(
                r#"{{"system":[{{"type":"text","text":"x-anthropic-billing-header: cc_version=1"}},{ID},{{"type":"text","text":"rules"}}]}}"#
            )
        );
    }

    #[test]
    fn requests_with_identity_pass_untouched() {
        for line in ACCEPTED_IDENTITIES {
            let line = serde_json::to_string(line).unwrap();
            assert_eq!(check(&format!(r#"{{"system":{line}}}"#)), None);
            assert_eq!(
                check(&format!(
                    r#"{{"system":[{{"type":"text","text":{line},"cache_control":{{"type":"ephemeral"}}}},{{"type":"text","text":"more"}}]}}"#
                )),
                None
            );
            assert_eq!(
                check(&format!(
                    r#"{{"system":[{{"type":"text","text":"x-anthropic-billing-header: a"}},{{"type":"text","text":{line}}}]}}"#
                )),
                None
            );
        }
    }

    #[test]
    fn identity_later_in_the_prompt_does_not_count() {
        let line = serde_json::to_string(ACCEPTED_IDENTITIES[0]).unwrap();
        let input = format!(
            r#"{{"system":[{{"type":"text","text":"first"}},{{"type":"text","text":{line}}}]}}"#
        );
        assert!(check(&input)
            .unwrap()
            .starts_with(&format!(r#"{{"system":[{ID},"#)));
    }

    #[test]
    fn unknown_system_shapes_are_left_to_upstream() {
        assert_eq!(check(r#"{"system":42}"#), None);
        assert_eq!(check(r#"{"system":{"a":1}}"#), None);
    }

    #[test]
    fn prepare_reads_model_and_stream_leniently() {
        let p = prepare(br#"{"model":"claude-x","stream":true,"system":"You are Claude Code, Anthropic's official CLI for Claude."}"#).unwrap();
        assert_eq!(
            (p.body, p.model.as_deref(), p.stream),
            (None, Some("claude-x"), true)
        );
        let p = prepare(br#"{"model":5,"stream":"yes"}"#).unwrap();
        assert_eq!((p.model, p.stream), (None, false));
        assert!(p.body.is_some());
    }

    #[test]
    fn non_objects_are_rejected() {
        assert!(ensure_identity(b"[1,2]").is_err());
        assert!(ensure_identity(b"").is_err());
        assert!(ensure_identity(b"{\"a\":").is_err());
        assert!(ensure_identity(b"not json").is_err());
    }

    #[test]
    fn the_rest_of_the_body_is_byte_identical() {
        let rest = r#""messages":[{"role":"system","content":"s"},{"role":"assistant","content":[{"type":"thinking","thinking":"…","signature":"sig=="},{"type":"redacted_thinking","data":"abc"}]}],  "context_management" : {"edits":[]}, "zzz_unknown":[1.50e3,true]"#;
        let out = check(&format!("{{\"system\":\"s\",{rest}}}")).unwrap();
        assert!(out.ends_with(&format!(",{rest}}}")), "{out}");
    }
}
