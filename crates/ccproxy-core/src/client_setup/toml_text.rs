//! The same edits as [`super::json_text`] for a TOML document, through `toml_edit`, which keeps
//! comments, order and formatting of everything it does not touch.

use toml_edit::{DocumentMut, Item, Table, Value};

/// The document is not TOML, or a key on the way to the one edited is not a table.
#[derive(Debug, thiserror::Error)]
pub enum TomlTextError {
    #[error("it is not valid TOML ({0})")]
    Invalid(String),
    #[error("`{0}` in it is not a table")]
    NotATable(String),
    #[error("{0} is not a TOML value")]
    BadValue(String),
}

fn parse(text: &str) -> Result<DocumentMut, TomlTextError> {
    text.parse()
        .map_err(|e: toml_edit::TomlError| TomlTextError::Invalid(e.message().to_string()))
}

fn table<'a>(doc: &'a DocumentMut, path: &[&str]) -> Option<&'a Table> {
    path.iter()
        .try_fold(doc.as_table(), |t, key| t.get(key)?.as_table())
}

/// The value at `path` as TOML text (`"x"`, `3`), if it is there.
pub fn get(text: &str, path: &[&str]) -> Result<Option<String>, TomlTextError> {
    let Some((key, parents)) = path.split_last() else {
        return Ok(None);
    };
    let doc = parse(text)?;
    Ok(table(&doc, parents)
        .and_then(|t| t.get(key))
        .and_then(Item::as_value)
        .map(|v| v.clone().decorated("", "").to_string()))
}

/// The text with the value at `path` set to `raw` (TOML value text). Missing tables on the way
/// are created as `[a.b]` sections (the parents implicit, so no empty `[a]` header appears).
pub fn set(text: &str, path: &[&str], raw: &str) -> Result<String, TomlTextError> {
    let Some((key, parents)) = path.split_last() else {
        return Ok(text.to_string());
    };
    let mut value: Value = raw
        .parse()
        .map_err(|_| TomlTextError::BadValue(raw.to_string()))?;
    let mut doc = parse(text)?;
    let mut t = doc.as_table_mut();
    for (depth, name) in parents.iter().enumerate() {
        let item = t.entry(name).or_insert_with(|| {
            let mut new = Table::new();
            new.set_implicit(depth + 1 < parents.len());
            Item::Table(new)
        });
        t = item
            .as_table_mut()
            .ok_or_else(|| TomlTextError::NotATable(path[..=depth].join(".")))?;
    }
    match t.get_mut(key).and_then(Item::as_value_mut) {
        // Keep the comment or spacing around the value being replaced.
        Some(old) => {
            let decor = old.decor().clone();
            *value.decor_mut() = decor;
            *old = value;
        }
        None => {
            t.insert(key, Item::Value(value));
        }
    }
    Ok(doc.to_string())
}

/// The text without the key at `path` (unchanged if it is not there).
pub fn remove(text: &str, path: &[&str]) -> Result<String, TomlTextError> {
    let Some((key, parents)) = path.split_last() else {
        return Ok(text.to_string());
    };
    let mut doc = parse(text)?;
    let mut t = doc.as_table_mut();
    for name in parents {
        match t.get_mut(name).and_then(Item::as_table_mut) {
            Some(next) => t = next,
            None => return Ok(text.to_string()),
        }
    }
    if t.remove(key).is_none() {
        return Ok(text.to_string());
    }
    Ok(doc.to_string())
}

/// The text without the table at `path` if it is there and empty (its parents too, when that
/// leaves them empty and implicit).
pub fn remove_if_empty(text: &str, path: &[&str]) -> Result<String, TomlTextError> {
    let mut doc = parse(text)?;
    let mut changed = false;
    'levels: for len in (1..=path.len()).rev() {
        let Some((key, parents)) = path[..len].split_last() else {
            break;
        };
        let empty = table(&doc, &path[..len]).is_some_and(|t| t.is_empty());
        if !empty {
            break;
        }
        let mut t = doc.as_table_mut();
        for name in parents {
            match t.get_mut(name).and_then(Item::as_table_mut) {
                Some(next) => t = next,
                None => break 'levels,
            }
        }
        t.remove(key);
        changed = true;
    }
    Ok(if changed {
        doc.to_string()
    } else {
        text.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# my Codex settings\nmodel = \"o3\" # the best\n\n[mcp_servers.docs]\ncommand = \"docs-mcp\"\n";

    #[test]
    fn set_puts_root_keys_before_tables_and_sections_after_and_remove_undoes_it() {
        let out = set(FILE, &["model_provider"], "\"ccproxy\"").unwrap();
        let out = set(
            &out,
            &["model_providers", "ccproxy", "base_url"],
            "\"http://x/v1\"",
        )
        .unwrap();
        assert!(
            out.starts_with(
                "# my Codex settings\nmodel = \"o3\" # the best\nmodel_provider = \"ccproxy\"\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("[mcp_servers.docs]\ncommand = \"docs-mcp\"\n"),
            "{out}"
        );
        assert!(
            out.contains("\n[model_providers.ccproxy]\nbase_url = \"http://x/v1\"\n"),
            "{out}"
        );
        assert!(!out.contains("[model_providers]\n"), "{out}");
        assert_eq!(
            get(&out, &["model_providers", "ccproxy", "base_url"])
                .unwrap()
                .as_deref(),
            Some("\"http://x/v1\"")
        );
        let back = remove(&out, &["model_providers", "ccproxy", "base_url"]).unwrap();
        let back = remove_if_empty(&back, &["model_providers", "ccproxy"]).unwrap();
        let back = remove(&back, &["model_provider"]).unwrap();
        assert_eq!(back, FILE);
    }

    #[test]
    fn replacing_a_value_keeps_its_comment() {
        let out = set(FILE, &["model"], "\"gpt-5\"").unwrap();
        assert!(out.contains("model = \"gpt-5\" # the best\n"), "{out}");
    }

    #[test]
    fn refuses_what_is_not_a_table() {
        assert!(matches!(
            set("model_providers = 3\n", &["model_providers", "x", "k"], "1"),
            Err(TomlTextError::NotATable(p)) if p == "model_providers"
        ));
        assert!(matches!(
            set("a = ", &["k"], "1"),
            Err(TomlTextError::Invalid(_))
        ));
    }
}
