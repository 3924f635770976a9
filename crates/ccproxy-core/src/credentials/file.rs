//! Credential files in Claude Code's JSON shape:
//! `{"claudeAiOauth":{"accessToken","refreshToken","expiresAt"(epoch ms),"scopes",…},…}`.
//!
//! Reads are cheap to repeat (the caller caches by modification time); writes are atomic
//! (temporary file in the same directory, mode 0600, then rename) and keep every key this
//! module does not own.

use serde::Deserialize;
use serde_json::{Map, Value};
use std::io::Write;
use std::path::Path;

/// The OAuth part of a credentials file.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthEntry {
    pub access_token: String,
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// Epoch milliseconds.
    #[serde(default)]
    pub expires_at: Option<u64>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub subscription_type: Option<String>,
}

impl std::fmt::Debug for OAuthEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthEntry")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("subscription_type", &self.subscription_type)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileShape {
    claude_ai_oauth: Option<OAuthEntry>,
}

/// Parses a credentials file's bytes; `Ok(None)` when it holds no OAuth entry.
pub fn parse(bytes: &[u8]) -> Result<Option<OAuthEntry>, String> {
    let shape: FileShape =
        serde_json::from_slice(bytes).map_err(|e| format!("not a credentials file: {e}"))?;
    Ok(shape
        .claude_ai_oauth
        .filter(|entry| !entry.access_token.is_empty()))
}

/// New token values from a refresh.
pub struct Rotation<'a> {
    pub access_token: &'a str,
    pub refresh_token: Option<&'a str>,
    pub expires_at: Option<u64>,
    pub scopes: Option<Vec<String>>,
}

/// Writes `rotation` into the file at `path`, keeping every other key, atomically, mode 0600.
pub fn write_rotation(path: &Path, rotation: &Rotation<'_>) -> std::io::Result<()> {
    let mut root: Map<String, Value> = match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
        Err(e) => return Err(e),
    };
    let entry = root
        .entry("claudeAiOauth")
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(entry) = entry {
        entry.insert("accessToken".into(), rotation.access_token.into());
        if let Some(refresh) = rotation.refresh_token {
            entry.insert("refreshToken".into(), refresh.into());
        }
        if let Some(at) = rotation.expires_at {
            entry.insert("expiresAt".into(), at.into());
        }
        if let Some(scopes) = &rotation.scopes {
            entry.insert("scopes".into(), scopes.clone().into());
        }
    }
    let bytes = serde_json::to_vec_pretty(&Value::Object(root)).map_err(std::io::Error::other)?;
    write_atomic(path, &bytes)
}

/// Replaces `path` with `bytes` through a temporary file in the same directory (mode 0600).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    // tempfile creates the file with mode 0600 on Unix; nothing else can read it in between.
    let mut tmp = tempfile::Builder::new()
        .prefix(".credentials-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_unknown_keys_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(
            &path,
            r#"{"other":{"x":1},"claudeAiOauth":{"accessToken":"a","refreshToken":"r","expiresAt":1,"subscriptionType":"max","extra":true}}"#,
        )
        .unwrap();
        write_rotation(
            &path,
            &Rotation {
                access_token: "a2",
                refresh_token: None,
                expires_at: Some(99),
                scopes: None,
            },
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["other"]["x"], 1);
        assert_eq!(v["claudeAiOauth"]["accessToken"], "a2");
        assert_eq!(v["claudeAiOauth"]["refreshToken"], "r");
        assert_eq!(v["claudeAiOauth"]["expiresAt"], 99);
        assert_eq!(v["claudeAiOauth"]["extra"], true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files are left behind");
    }

    #[test]
    fn parse_rejects_garbage_and_skips_empty_entries() {
        assert!(parse(b"nope").is_err());
        assert!(parse(b"{}").unwrap().is_none());
        assert!(parse(br#"{"claudeAiOauth":{"accessToken":""}}"#)
            .unwrap()
            .is_none());
        let e = parse(br#"{"claudeAiOauth":{"accessToken":"t","expiresAt":5}}"#)
            .unwrap()
            .unwrap();
        assert_eq!(e.expires_at, Some(5));
        assert!(!format!("{e:?}").contains('t') || !format!("{e:?}").contains("\"t\""));
    }
}
