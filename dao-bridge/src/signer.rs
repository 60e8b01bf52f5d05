//! Signing keys: an encrypted JSON keystore (password from a file or a prompt) or the
//! `ETH_PRIVATE_KEY` environment variable. Keys and passwords are never printed or logged:
//! the `Debug` impls here show the address only, or nothing.

use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256};
use alloy::signers::local::PrivateKeySigner;
use zeroize::Zeroizing;

use crate::error::{DaoError, Result};

/// The environment variable a raw private key is read from.
pub const PRIVATE_KEY_ENV: &str = "ETH_PRIVATE_KEY";

/// A signing key. `Debug` shows its address only.
#[derive(Clone)]
pub struct Signer {
    inner: PrivateKeySigner,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("address", &self.inner.address())
            .finish_non_exhaustive()
    }
}

/// A keystore password. `Debug` prints `Password(<redacted>)`; the memory is zeroed on drop.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Wraps a password held in memory.
    pub fn new(password: String) -> Self {
        Self(Zeroizing::new(password))
    }

    /// Reads the password from the first line of `path` (a trailing newline is not part of it).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
            DaoError::PasswordFile {
                path: path.to_owned(),
                source,
            }
        })?);
        let line = text.lines().next().unwrap_or_default();
        Ok(Self::new(line.to_owned()))
    }

    /// Asks for the password on the terminal without echoing it.
    pub fn prompt(message: &str) -> Result<Self> {
        rpassword::prompt_password(message)
            .map(Self::new)
            .map_err(|source| DaoError::PasswordPrompt { source })
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Where a keystore's password comes from.
#[derive(Clone, Debug)]
pub enum PasswordSource {
    /// The first line of this file.
    File(PathBuf),
    /// Prompted on the terminal, without echo.
    Prompt,
    /// Already in memory.
    Given(Password),
}

/// Where the signing key comes from.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// The `ETH_PRIVATE_KEY` environment variable (64 hex digits, `0x` optional).
    Env,
    /// An encrypted JSON keystore (Web3 Secret Storage) and its password.
    Keystore {
        /// The keystore file.
        path: PathBuf,
        /// Its password.
        password: PasswordSource,
    },
}

impl KeySource {
    /// The source the CLI options describe: `--keystore` (with `--password-file`, else a
    /// prompt) when given, else `ETH_PRIVATE_KEY`.
    pub fn from_options(keystore: Option<PathBuf>, password_file: Option<PathBuf>) -> Self {
        match keystore {
            Some(path) => Self::Keystore {
                path,
                password: password_file.map_or(PasswordSource::Prompt, PasswordSource::File),
            },
            None => Self::Env,
        }
    }
}

impl Signer {
    /// Loads the key from `source`.
    pub fn load(source: &KeySource) -> Result<Self> {
        match source {
            KeySource::Env => Self::from_env(),
            KeySource::Keystore { path, password } => {
                let password = match password {
                    PasswordSource::File(file) => Password::from_file(file)?,
                    PasswordSource::Prompt => {
                        Password::prompt(&format!("password for keystore {}: ", path.display()))?
                    }
                    PasswordSource::Given(p) => p.clone(),
                };
                Self::from_keystore(path, &password)
            }
        }
    }

    /// Loads the key from `source`, except that on the local dev chain (chain id
    /// [`DEVNET_CHAIN_ID`](crate::chain::DEVNET_CHAIN_ID)) with no key given at all (`Env` with
    /// `ETH_PRIVATE_KEY` unset) it falls back to anvil's funded dev account 0, so that the
    /// whole flow works on a devnet with no account anywhere. Never falls back elsewhere.
    pub fn load_for(source: &KeySource, chain: &crate::chain::ChainConfig) -> Result<Self> {
        match Self::load(source) {
            Err(DaoError::MissingKey) if chain.chain_id == crate::chain::DEVNET_CHAIN_ID => {
                crate::devnet::dev_signer(0)
            }
            other => other,
        }
    }

    /// Reads the key from the `ETH_PRIVATE_KEY` environment variable.
    pub fn from_env() -> Result<Self> {
        let value =
            Zeroizing::new(std::env::var(PRIVATE_KEY_ENV).map_err(|_| DaoError::MissingKey)?);
        Self::from_private_key_hex(&value)
    }

    /// Parses a private key given as 64 hex digits (`0x` optional). The error never contains
    /// the key.
    pub fn from_private_key_hex(hex: &str) -> Result<Self> {
        let trimmed = hex.trim();
        let digits = trimmed.strip_prefix("0x").unwrap_or(trimmed);
        if digits.len() != 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DaoError::BadPrivateKey {
                reason: format!("{} characters, not 64 hex digits", digits.len()),
            });
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        alloy::primitives::hex::decode_to_slice(digits, bytes.as_mut_slice()).map_err(|_| {
            DaoError::BadPrivateKey {
                reason: "not hexadecimal".to_owned(),
            }
        })?;
        let inner = PrivateKeySigner::from_bytes(&B256::from(*bytes)).map_err(|_| {
            DaoError::BadPrivateKey {
                reason: "zero or out of the curve's range".to_owned(),
            }
        })?;
        Ok(Self { inner })
    }

    /// Decrypts an encrypted JSON keystore.
    pub fn from_keystore(path: &Path, password: &Password) -> Result<Self> {
        if !path.is_file() {
            return Err(DaoError::Keystore {
                path: path.to_owned(),
                detail: "no such file".to_owned(),
            });
        }
        let inner = PrivateKeySigner::decrypt_keystore(path, password.as_bytes()).map_err(|e| {
            DaoError::Keystore {
                path: path.to_owned(),
                detail: format!("{e} (wrong password, or not a Web3 Secret Storage JSON file)"),
            }
        })?;
        Ok(Self { inner })
    }

    /// Creates a new random key, stores it encrypted with `password` in `dir` under `name`,
    /// and returns it with the keystore's path.
    pub fn new_keystore(dir: &Path, name: &str, password: &Password) -> Result<(Self, PathBuf)> {
        std::fs::create_dir_all(dir).map_err(|e| DaoError::Keystore {
            path: dir.to_owned(),
            detail: format!("cannot create the directory: {e}"),
        })?;
        let (inner, _) = PrivateKeySigner::new_keystore(
            dir,
            &mut rand::thread_rng(),
            password.as_bytes(),
            Some(name),
        )
        .map_err(|e| DaoError::Keystore {
            path: dir.join(name),
            detail: e.to_string(),
        })?;
        Ok((Self { inner }, dir.join(name)))
    }

    /// The account address of this key.
    pub fn address(&self) -> Address {
        self.inner.address()
    }

    pub(crate) fn local(&self) -> &PrivateKeySigner {
        &self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

    #[test]
    fn debug_does_not_leak() {
        let s = Signer::from_private_key_hex(KEY).unwrap();
        let shown = format!("{s:?} {:?}", Password::new("hunter2".into()));
        assert!(
            !shown.contains(&KEY[2..]) && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(
            shown
                .to_lowercase()
                .contains(&s.address().to_string().to_lowercase()),
            "{shown}"
        );
    }

    #[test]
    fn dev_key_only_on_the_dev_chain() {
        if std::env::var_os(PRIVATE_KEY_ENV).is_some() {
            eprintln!("skipped: {PRIVATE_KEY_ENV} is set in this environment");
            return;
        }
        let dev = crate::chain::ChainConfig::default();
        let s = Signer::load_for(&KeySource::Env, &dev).unwrap();
        assert_eq!(s.address(), crate::devnet::dev_signer(0).unwrap().address());
        let mainnet = crate::chain::ChainConfig { chain_id: 1, ..dev };
        let err = Signer::load_for(&KeySource::Env, &mainnet).unwrap_err();
        assert!(matches!(err, DaoError::MissingKey), "{err}");
    }

    #[test]
    fn bad_key_error_does_not_echo_it() {
        let bad = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b7869zz";
        let msg = Signer::from_private_key_hex(bad).unwrap_err().to_string();
        assert!(!msg.contains("59c6995e"), "{msg}");
        assert!(msg.contains("ETH_PRIVATE_KEY"), "{msg}");
    }

    #[test]
    fn keystore_round_trip_and_wrong_password() {
        let dir = tempfile::tempdir().unwrap();
        let pw = Password::new("correct horse".into());
        let (s, path) = Signer::new_keystore(dir.path(), "key.json", &pw).unwrap();
        let pw_file = dir.path().join("pw");
        std::fs::write(&pw_file, "correct horse\n").unwrap();
        let src = KeySource::from_options(Some(path.clone()), Some(pw_file));
        assert_eq!(Signer::load(&src).unwrap().address(), s.address());
        let err = Signer::from_keystore(&path, &Password::new("wrong".into())).unwrap_err();
        assert!(err.to_string().contains("wrong password"), "{err}");
    }
}
