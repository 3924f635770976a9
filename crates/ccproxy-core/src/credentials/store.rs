//! Where a login document lives: a file (Claude Code's JSON shape, mode 0600, replaced
//! atomically) or an OS keychain item holding the same JSON (Secret Service on Linux, Keychain on
//! macOS, Credential Manager on Windows, through the `keyring` crate).
//!
//! Keychain calls block (D-Bus, Security framework); they are rare — reads are cached by the
//! caller for a few seconds and writes happen at login, refresh and logout only.

use super::file;
use std::path::PathBuf;

/// Why a store could not be read, written or removed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    File(#[from] std::io::Error),
    #[error("keychain: {0}")]
    Keychain(#[from] keyring::Error),
    #[error("the login document is not text")]
    NotText,
}

/// A place a login document is read from and written to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Store {
    File(PathBuf),
    Keychain {
        service: String,
        account: String,
        /// Where its refresh lock file goes (CCProxy's configuration directory).
        lock_dir: Option<PathBuf>,
    },
}

impl Store {
    /// How the store is named to people: a path, or `keychain:service/account`.
    pub fn describe(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Keychain {
                service, account, ..
            } => format!("keychain:{service}/{account}"),
        }
    }

    /// The file path, for file stores.
    pub fn path(&self) -> Option<&PathBuf> {
        match self {
            Self::File(path) => Some(path),
            Self::Keychain { .. } => None,
        }
    }

    /// Runs a keychain call on its own thread: the Secret Service client drives its own async
    /// runtime, which must not be started from inside ours.
    fn keychain<T: Send>(
        service: &str,
        account: &str,
        call: impl FnOnce(keyring::Entry) -> keyring::Result<T> + Send,
    ) -> keyring::Result<T> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| call(keyring::Entry::new(service, account)?))
                .join()
                .unwrap_or_else(|_| {
                    Err(keyring::Error::PlatformFailure(
                        "the keychain call panicked".into(),
                    ))
                })
        })
    }

    /// The stored document; `Ok(None)` when there is none.
    pub fn read(&self) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Self::File(path) => match std::fs::read(path) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            },
            Self::Keychain {
                service, account, ..
            } => match Self::keychain(service, account, |e| e.get_password()) {
                Ok(text) => Ok(Some(text.into_bytes())),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Replaces the stored document (files: atomically, mode 0600).
    pub fn write(&self, bytes: &[u8]) -> Result<(), StoreError> {
        match self {
            Self::File(path) => Ok(file::write_atomic(path, bytes)?),
            Self::Keychain {
                service, account, ..
            } => {
                let text = std::str::from_utf8(bytes).map_err(|_| StoreError::NotText)?;
                Ok(Self::keychain(service, account, |e| e.set_password(text))?)
            }
        }
    }

    /// Removes the stored document; `Ok(false)` when there was none.
    pub fn remove(&self) -> Result<bool, StoreError> {
        match self {
            Self::File(path) => match std::fs::remove_file(path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e.into()),
            },
            Self::Keychain {
                service, account, ..
            } => match Self::keychain(service, account, |e| e.delete_credential()) {
                Ok(()) => Ok(true),
                Err(keyring::Error::NoEntry) => Ok(false),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// The file locked while refreshing this store's tokens (across processes).
    pub fn lock_path(&self) -> Option<PathBuf> {
        match self {
            Self::File(path) => {
                let mut name = path.as_os_str().to_owned();
                name.push(".lock");
                Some(PathBuf::from(name))
            }
            Self::Keychain {
                service, lock_dir, ..
            } => lock_dir
                .as_ref()
                .map(|d| d.join(format!("{service}.keychain.lock"))),
        }
    }
}
