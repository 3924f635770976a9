//! Login documents in Claude Code's JSON shape:
//! `{"claudeAiOauth":{"accessToken","refreshToken","expiresAt"(epoch ms),"scopes",…},…}`.
//!
//! plus `{"ccproxy":{"account":{…}}}` for who logged in. Edits keep every key this module does
//! not own; file writes are atomic (temporary file in the same directory, mode 0600, rename).

use serde::Deserialize;
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

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

/// What CCProxy stores beside Claude Code's entry (top-level key `ccproxy`): who logged in.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct Account {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_uuid: Option<String>,
}

#[derive(Deserialize)]
struct CcproxyKey {
    #[serde(default)]
    account: Option<Account>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileShape {
    claude_ai_oauth: Option<OAuthEntry>,
    #[serde(default, rename = "ccproxy")]
    ccproxy: Option<CcproxyKey>,
}

/// Parses a credentials file's bytes; `Ok(None)` when it holds no OAuth entry.
pub fn parse(bytes: &[u8]) -> Result<Option<(OAuthEntry, Account)>, String> {
    let shape: FileShape =
        serde_json::from_slice(bytes).map_err(|e| format!("not a credentials file: {e}"))?;
    let account = shape.ccproxy.and_then(|c| c.account).unwrap_or_default();
    Ok(shape
        .claude_ai_oauth
        .filter(|entry| !entry.access_token.is_empty())
        .map(|entry| (entry, account)))
}

/// A complete login to store.
pub struct NewLogin<'a> {
    pub access_token: &'a str,
    pub refresh_token: Option<&'a str>,
    pub expires_at: Option<u64>,
    pub scopes: &'a [String],
    pub subscription_type: Option<&'a str>,
    pub account: &'a Account,
}

fn object(existing: Option<&[u8]>) -> Map<String, Value> {
    // A corrupt document is replaced whole; its other keys cannot be recovered anyway.
    existing
        .and_then(|bytes| serde_json::from_slice(bytes).ok())
        .unwrap_or_default()
}

/// `existing` with a new login in it (replacing any previous one, keeping unrelated keys).
pub fn login_document(existing: Option<&[u8]>, login: &NewLogin<'_>) -> Vec<u8> {
    let mut root = object(existing);
    let mut entry = Map::new();
    entry.insert("accessToken".into(), login.access_token.into());
    if let Some(refresh) = login.refresh_token {
        entry.insert("refreshToken".into(), refresh.into());
    }
    if let Some(at) = login.expires_at {
        entry.insert("expiresAt".into(), at.into());
    }
    entry.insert("scopes".into(), login.scopes.to_vec().into());
    if let Some(sub) = login.subscription_type {
        entry.insert("subscriptionType".into(), sub.into());
    }
    root.insert("claudeAiOauth".into(), Value::Object(entry));
    let account = serde_json::to_value(login.account).unwrap_or_default();
    root.insert("ccproxy".into(), serde_json::json!({ "account": account }));
    pretty(root)
}

fn pretty(root: Map<String, Value>) -> Vec<u8> {
    // Serialising a map of JSON values cannot fail.
    serde_json::to_vec_pretty(&Value::Object(root)).unwrap_or_default()
}

/// New token values from a refresh.
pub struct Rotation<'a> {
    pub access_token: &'a str,
    pub refresh_token: Option<&'a str>,
    pub expires_at: Option<u64>,
    pub scopes: Option<Vec<String>>,
}

/// `existing` with the rotated tokens in it, every other key kept.
pub fn rotation_document(existing: Option<&[u8]>, rotation: &Rotation<'_>) -> Vec<u8> {
    let mut root = object(existing);
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
    pretty(root)
}

/// Replaces `path` with `bytes` through a temporary file in the same directory (mode 0600).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.exists() {
        crate::private::create_dir(dir)?;
    }
    // tempfile creates the file with mode 0600 on Unix; nothing else can read it in between.
    let mut tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .suffix(TMP_SUFFIX)
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

/// The temporary files [`write_atomic`] makes next to `path`'s file.
const TMP_PREFIX: &str = ".credentials-";
const TMP_SUFFIX: &str = ".tmp";

/// Whether temporary files of [`write_atomic`] are left next to `path` (cheap: one listing).
pub fn has_leftovers(path: &Path) -> bool {
    let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return false;
    };
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX)
        })
    })
}

/// A write cut short by a crash: refresh tokens rotate, so when the process dies after the token
/// endpoint answered and before the new file was renamed into place, the only copy of the new
/// refresh token is the temporary file left next to `path` (the old token in `path` is already
/// dead). Puts the newest complete one that holds a later login than `path` in its place, and
/// removes the stale ones. Call under the refresh lock (other writers hold it too). Returns the
/// temporary file recovered, if any.
pub fn recover(path: &Path) -> Option<PathBuf> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty())?;
    let expires = |bytes: &[u8]| {
        parse(bytes)
            .ok()
            .flatten()
            .map(|(entry, _)| entry.expires_at.unwrap_or(0))
    };
    let current = std::fs::read(path).ok().and_then(|b| expires(&b));
    let mut candidates: Vec<(u64, std::time::SystemTime, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX)) {
            continue;
        }
        let tmp = entry.path();
        let modified = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        match std::fs::read(&tmp).ok().and_then(|b| expires(&b)) {
            Some(at) => candidates.push((at, modified, tmp)),
            // Not a complete document: a write in progress elsewhere, or a crash mid-write.
            // Only an old one is removed.
            None => {
                if modified.elapsed().is_ok_and(|age| age.as_secs() > 600) {
                    let _ = std::fs::remove_file(&tmp);
                }
            }
        }
    }
    candidates.sort();
    let newest = candidates.pop();
    for (_, _, stale) in &candidates {
        let _ = std::fs::remove_file(stale);
    }
    let (at, _, tmp) = newest?;
    if current.is_some_and(|c| c >= at) {
        let _ = std::fs::remove_file(&tmp);
        return None;
    }
    match std::fs::rename(&tmp, path) {
        Ok(()) => {
            tracing::warn!(
                path = %path.display(),
                "recovered a login saved by a write that was cut short (a crash during a token refresh)"
            );
            Some(tmp)
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), "cannot recover an interrupted credentials write: {e}");
            None
        }
    }
}

/// Makes a credentials file private (0600) if others can read it; true if it had to.
pub fn make_private(path: &Path) -> std::io::Result<bool> {
    crate::private::restrict(path)
}

/// [`lock`], or `None` at once when another process holds it (or it cannot be made).
pub fn try_lock(lock_path: &Path) -> Option<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(lock_path).ok()?;
    file.try_lock().ok()?;
    Some(file)
}

/// An exclusive lock on the file `lock_path`, held until the returned file is dropped.
/// Serialises refreshes across processes (the server and `ccproxy auth …`). It holds nothing.
pub fn lock(lock_path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = lock_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(lock_path)?;
    file.lock()?;
    Ok(file)
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
        let existing = std::fs::read(&path).unwrap();
        let doc = rotation_document(
            Some(&existing),
            &Rotation {
                access_token: "a2",
                refresh_token: None,
                expires_at: Some(99),
                scopes: None,
            },
        );
        write_atomic(&path, &doc).unwrap();
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
        let (e, account) = parse(
            br#"{"claudeAiOauth":{"accessToken":"secret-t","expiresAt":5},"ccproxy":{"account":{"email":"a@b.c"}}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.expires_at, Some(5));
        assert_eq!(account.email.as_deref(), Some("a@b.c"));
        assert!(!format!("{e:?}").contains("secret-t"));
    }
}
