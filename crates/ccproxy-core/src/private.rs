//! Files and folders only the user may read: CCProxy's configuration and data folders (0700),
//! credentials and the request log with its WAL and shared-memory files (0600). Existing ones
//! that others can read are fixed, with a warning. Where Unix modes do not exist, nothing is done.

use std::path::Path;

/// Creates `dir` (and missing parents) with mode 0700.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Takes group and other permissions off `path` (a file: 0600, a folder: 0700) if it has any;
/// `Ok(true)` if it had to. A missing path is `Ok(false)`.
#[cfg(unix)]
pub fn restrict(path: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if meta.permissions().mode() & 0o077 == 0 {
        return Ok(false);
    }
    let mode = if meta.is_dir() { 0o700 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(true)
}

/// Nothing to do where modes do not exist.
#[cfg(not(unix))]
pub fn restrict(_path: &Path) -> std::io::Result<bool> {
    Ok(false)
}

/// [`restrict`], saying so in the log when it changed something (and when it could not).
pub fn restrict_and_warn(path: &Path, what: &str) {
    match restrict(path) {
        Ok(true) => tracing::warn!(
            path = %path.display(),
            "{what} was readable by other users; made private"
        ),
        Ok(false) => {}
        Err(e) => tracing::warn!(path = %path.display(), "cannot make {what} private: {e}"),
    }
}
