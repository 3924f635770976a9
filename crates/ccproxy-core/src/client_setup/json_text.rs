//! Edits of a JSON document's text that change only the member they touch: every other byte
//! (other keys, their order, comments-free formatting, the final newline) stays as it was.
//! Values are found with `serde_json`'s borrowed [`RawValue`]s, whose text is a slice of the
//! document, so a value's place in the file is known exactly.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::ops::Range;

/// The document is not JSON, or a key on the way to the one edited is not an object.
#[derive(Debug, thiserror::Error)]
pub enum JsonTextError {
    #[error("it is not valid JSON ({0})")]
    Invalid(String),
    #[error("`{0}` in it is not a JSON object")]
    NotAnObject(String),
}

/// An object in the document: where it is and where its members' values are.
struct Object {
    span: Range<usize>,
    members: Vec<(String, Range<usize>)>,
}

/// The members of an object, in order, as slices of the text they were read from.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Ordered)
    }
}

/// Where `part` (a slice of `text`) is in `text`.
fn span_of(text: &str, part: &str) -> Range<usize> {
    let start = part.as_ptr() as usize - text.as_ptr() as usize;
    start..start + part.len()
}

fn object_at(text: &str, span: Range<usize>, name: &str) -> Result<Object, JsonTextError> {
    if !text[span.clone()].starts_with('{') {
        return Err(JsonTextError::NotAnObject(name.to_string()));
    }
    let Members(members) = serde_json::from_str(&text[span.clone()])
        .map_err(|e| JsonTextError::Invalid(e.to_string()))?;
    let members = members
        .into_iter()
        .map(|(key, raw)| (key, span_of(text, raw.get())))
        .collect();
    Ok(Object { span, members })
}

fn root(text: &str) -> Result<Object, JsonTextError> {
    let raw: &RawValue =
        serde_json::from_str(text).map_err(|e| JsonTextError::Invalid(e.to_string()))?;
    object_at(text, span_of(text, raw.get()), "the document")
}

/// The object at `path` (`[]` is the document), or `None` where a key on the way is missing.
fn walk(text: &str, path: &[&str]) -> Result<Option<Object>, JsonTextError> {
    let mut object = root(text)?;
    for (depth, key) in path.iter().enumerate() {
        let Some((_, value)) = object.members.iter().find(|(k, _)| k == key) else {
            return Ok(None);
        };
        object = object_at(text, value.clone(), &path[..=depth].join("."))?;
    }
    Ok(Some(object))
}

/// The raw JSON text of the value at `path`, if it is there.
pub fn get(text: &str, path: &[&str]) -> Result<Option<String>, JsonTextError> {
    let Some((key, parents)) = path.split_last() else {
        return Ok(None);
    };
    Ok(walk(text, parents)?.and_then(|object| {
        object
            .members
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| text[value.clone()].to_string())
    }))
}

/// The text with the value at `path` set to `raw` (JSON text). Missing objects on the way are
/// created; an existing value is replaced in place; a new member goes after the last one, on a
/// line of its own when the object is written one member per line.
pub fn set(text: &str, path: &[&str], raw: &str) -> Result<String, JsonTextError> {
    let unit = indent_unit(text);
    let mut object = root(text)?;
    for (depth, key) in path.iter().enumerate() {
        let found = object.members.iter().find(|(k, _)| k == key).cloned();
        match found {
            Some((_, value)) if depth + 1 == path.len() => {
                return Ok(splice(text, value, raw));
            }
            Some((_, value)) => {
                object = object_at(text, value, &path[..=depth].join("."))?;
            }
            None => {
                let indent = format!("{}{unit}", line_indent(text, object.span.start));
                let value = nested(&path[depth + 1..], raw, &indent, &unit);
                return Ok(insert(text, &object, key, &value, &indent));
            }
        }
    }
    unreachable!("the loop returns at the last key")
}

/// The text without the member at `path` (unchanged if it is not there).
pub fn remove(text: &str, path: &[&str]) -> Result<String, JsonTextError> {
    let Some((key, parents)) = path.split_last() else {
        return Ok(text.to_string());
    };
    let Some(object) = walk(text, parents)? else {
        return Ok(text.to_string());
    };
    let Some(i) = object.members.iter().position(|(k, _)| k == key) else {
        return Ok(text.to_string());
    };
    let value = &object.members[i].1;
    let cut = if i > 0 {
        // `, "key": value` after the previous member.
        object.members[i - 1].1.end..value.end
    } else if let Some((_, next)) = object.members.get(1) {
        // `"key": value, ` up to the next member's key.
        key_start(text, value.start)..key_start(text, next.start)
    } else {
        // The only member: the object becomes `{}`.
        object.span.start + 1..object.span.end - 1
    };
    Ok(splice(text, cut, ""))
}

/// Whether the object at `path` is there and has no members.
pub fn is_empty_object(text: &str, path: &[&str]) -> Result<bool, JsonTextError> {
    Ok(walk(text, path)?.is_some_and(|o| o.members.is_empty()))
}

fn splice(text: &str, range: Range<usize>, with: &str) -> String {
    let mut out = String::with_capacity(text.len() + with.len());
    out.push_str(&text[..range.start]);
    out.push_str(with);
    out.push_str(&text[range.end..]);
    out
}

/// `{"b": {"c": raw}}` for `["b", "c"]`, one member per line at `indent`; `raw` for `[]`.
fn nested(path: &[&str], raw: &str, indent: &str, unit: &str) -> String {
    match path.split_first() {
        None => raw.to_string(),
        Some((key, rest)) => {
            let inner = format!("{indent}{unit}");
            format!(
                "{{\n{inner}{}: {}\n{indent}}}",
                quote(key),
                nested(rest, raw, &inner, unit)
            )
        }
    }
}

fn insert(text: &str, object: &Object, key: &str, value: &str, indent: &str) -> String {
    let member = format!("{}: {value}", quote(key));
    match object.members.last() {
        Some((_, last)) => {
            let multiline = text[object.span.start..last.start].contains('\n');
            let sep = if multiline {
                format!(",\n{indent}")
            } else {
                ", ".to_string()
            };
            splice(text, last.end..last.end, &format!("{sep}{member}"))
        }
        None => {
            let close = line_indent(text, object.span.start);
            let interior = object.span.start + 1..object.span.end - 1;
            splice(text, interior, &format!("\n{indent}{member}\n{close}"))
        }
    }
}

/// Where the key of the member whose value starts at `value_start` begins (its opening quote).
fn key_start(text: &str, value_start: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = value_start;
    // Back over the blanks and the colon, to the key's closing quote.
    while i > 0 && bytes[i - 1] != b'"' {
        i -= 1;
    }
    i -= 1;
    // Back to the opening quote: the previous quote that is not escaped.
    loop {
        i -= 1;
        let escaped = bytes[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1;
        if bytes[i] == b'"' && !escaped {
            return i;
        }
    }
}

/// The blanks at the start of the line that holds byte `at`.
fn line_indent(text: &str, at: usize) -> String {
    let line = text[..at].rfind('\n').map_or(0, |n| n + 1);
    text[line..]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect()
}

/// The document's indentation step: that of its first indented line, else two spaces (what
/// Claude Code writes).
fn indent_unit(text: &str) -> String {
    text.lines()
        .map(|l| {
            l.chars()
                .take_while(|c| *c == ' ' || *c == '\t')
                .collect::<String>()
        })
        .find(|i| !i.is_empty())
        .unwrap_or_else(|| "  ".to_string())
}

fn quote(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "{\n  \"model\": \"opus\",\n  \"env\": {\n    \"FOO\": \"1\"\n  },\n  \"permissions\": {\"allow\": [\"Bash(ls)\"]}\n}\n";

    #[test]
    fn set_adds_a_member_after_the_last_one_and_keeps_every_other_byte() {
        let out = set(FILE, &["env", "ANTHROPIC_BASE_URL"], "\"http://x\"").unwrap();
        assert_eq!(
            out,
            "{\n  \"model\": \"opus\",\n  \"env\": {\n    \"FOO\": \"1\",\n    \"ANTHROPIC_BASE_URL\": \"http://x\"\n  },\n  \"permissions\": {\"allow\": [\"Bash(ls)\"]}\n}\n"
        );
        assert_eq!(
            get(&out, &["env", "ANTHROPIC_BASE_URL"])
                .unwrap()
                .as_deref(),
            Some("\"http://x\"")
        );
        assert_eq!(remove(&out, &["env", "ANTHROPIC_BASE_URL"]).unwrap(), FILE);
    }

    #[test]
    fn set_replaces_in_place_and_creates_missing_objects() {
        let out = set(FILE, &["env", "FOO"], "\"2\"").unwrap();
        assert_eq!(out, FILE.replace("\"FOO\": \"1\"", "\"FOO\": \"2\""));
        let out = set("{\n\t\"a\": 1\n}", &["env", "K"], "\"v\"").unwrap();
        assert_eq!(
            out,
            "{\n\t\"a\": 1,\n\t\"env\": {\n\t\t\"K\": \"v\"\n\t}\n}"
        );
        let out = set("{}", &["env", "K"], "\"v\"").unwrap();
        assert_eq!(out, "{\n  \"env\": {\n    \"K\": \"v\"\n  }\n}");
        assert_eq!(
            set("{\"a\":1}", &["b"], "2").unwrap(),
            "{\"a\":1, \"b\": 2}"
        );
    }

    #[test]
    fn remove_takes_out_the_first_middle_last_and_only_member() {
        let text = "{\n  \"a\": 1,\n  \"b\": \"x\\\"y\",\n  \"c\": 3\n}";
        assert_eq!(
            remove(text, &["a"]).unwrap(),
            "{\n  \"b\": \"x\\\"y\",\n  \"c\": 3\n}"
        );
        assert_eq!(
            remove(text, &["b"]).unwrap(),
            "{\n  \"a\": 1,\n  \"c\": 3\n}"
        );
        assert_eq!(
            remove(text, &["c"]).unwrap(),
            "{\n  \"a\": 1,\n  \"b\": \"x\\\"y\"\n}"
        );
        let one = "{\"env\": {\"K\": \"v\"}}";
        assert_eq!(remove(one, &["env", "K"]).unwrap(), "{\"env\": {}}");
        assert!(is_empty_object("{\"env\": {}}", &["env"]).unwrap());
        assert_eq!(remove(one, &["env", "missing"]).unwrap(), one);
    }

    #[test]
    fn refuses_what_is_not_an_object_of_objects() {
        assert!(matches!(
            set("[1]", &["env", "K"], "1"),
            Err(JsonTextError::NotAnObject(_))
        ));
        assert!(matches!(
            set("{\"env\": 3}", &["env", "K"], "1"),
            Err(JsonTextError::NotAnObject(p)) if p == "env"
        ));
        assert!(matches!(
            set("{\"env\": ", &["env", "K"], "1"),
            Err(JsonTextError::Invalid(_))
        ));
    }
}
