//! The one error type the CLI shows users: a message, an optional hint, an exit code.

use colony_store::StoreError;

/// A user-facing failure.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    /// What went wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// Process exit code.
    pub code: i32,
}

impl CliError {
    /// An error with exit code 1.
    pub fn new(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            hint: None,
            code: 1,
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> CliError {
        self.hint = Some(hint.into());
        self
    }

    /// The exit code.
    pub fn exit_code(&self) -> i32 {
        self.code
    }

    /// Prints the error to stderr (and, with `--json`, a JSON error object to stdout).
    pub fn render(&self, json: bool) {
        if json {
            let v = serde_json::json!({ "ok": false, "error": self.message, "hint": self.hint });
            println!("{v}");
        }
        eprintln!("error: {}", self.message);
        if let Some(h) = &self.hint {
            eprintln!("hint: {h}");
        }
    }
}

/// What to do about `e` (the hint of the error wrapped with a file's path, for one that is).
fn store_hint(e: &StoreError) -> Option<String> {
    match e {
        StoreError::AtPath { source, .. } => store_hint(source),
            StoreError::NotADataset(_) => Some("run `colony init` to create one here".to_string()),
            StoreError::CorruptShard { .. } | StoreError::CorruptChunk { .. } => {
                Some("run `colony fsck` to see every damaged object and the files it affects".into())
            }
            StoreError::HostilePath { .. } => Some("the revision was made by a tool that does not check paths; inspect it with `colony show`".into()),
            StoreError::PinUnverified { .. } => Some("bring the missing shards with `colony fetch REMOTE` (or repair the store with `colony fsck`), then pin again".into()),
        StoreError::ReadThrough { remote, .. } => Some(format!("every configured remote was tried, `{remote}` first (`colony remote` lists them); check that one is reachable and honest, or bring every shard with `colony fetch {remote}`")),
        _ => None,
    }
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        let hint = store_hint(&e);
        CliError {
            message: e.to_string(),
            hint,
            code: 1,
        }
    }
}

impl From<colony_gateway::GatewayError> for CliError {
    fn from(e: colony_gateway::GatewayError) -> Self {
        use colony_gateway::GatewayError;
        let hint = match &e {
            GatewayError::Exposed { .. } => Some(
                "bind a loopback address (127.0.0.1:PORT), give `--token TOKEN` (clients then need it), or `--public` to publish anyway",
            ),
            GatewayError::InvalidBucket { .. } => Some("choose another name with --bucket"),
            GatewayError::Bind { .. } => {
                Some("choose another address or port (port 0 picks a free one)")
            }
            _ => None,
        };
        CliError {
            message: e.to_string(),
            hint: hint.map(str::to_string),
            code: 1,
        }
    }
}

impl From<colony_trainer_hook::TrainError> for CliError {
    fn from(e: colony_trainer_hook::TrainError) -> Self {
        use colony_trainer_hook::TrainError;
        match e {
            TrainError::Store(s) => s.into(),
            TrainError::IsaMismatch { .. } => CliError::new(e.to_string())
                .hint("verify on a machine of the recorded class, or re-run the training here"),
            other => CliError::new(other.to_string()),
        }
    }
}

impl From<colony_mcp::ServeError> for CliError {
    fn from(e: colony_mcp::ServeError) -> Self {
        use colony_mcp::ServeError;
        match e {
            ServeError::Store(s) => s.into(),
            ServeError::NotLoopback { .. } => CliError::new(e.to_string())
                .hint("e.g. `colony mcp --http 127.0.0.1:8765`; reach it from elsewhere through an SSH tunnel"),
            other => CliError::new(other.to_string()),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::new(e.to_string())
    }
}

impl From<colony_mount::MountError> for CliError {
    fn from(e: colony_mount::MountError) -> Self {
        use colony_mount::MountError;
        let hint = match &e {
            MountError::Store(_) => None,
            MountError::Unavailable(_) => Some(
                "FUSE needs /dev/fuse (`modprobe fuse`) and root or the fuse3 package (`apt-get install fuse3`)",
            ),
            MountError::NoSuchFolder(_) | MountError::NotAFolder(_) | MountError::NotEmpty(_) => {
                Some(
                    "mount on an empty folder, e.g. `mkdir /tmp/snap && colony mount REV /tmp/snap`",
                )
            }
            MountError::NotMounted(_) => {
                Some("`colony mount REV DIR` makes one; `grep ^colony /proc/mounts` lists them")
            }
            MountError::Busy(_) => Some(
                "close the programs reading it (`fuser -vm DIR` names them), or use `colony unmount --lazy DIR`",
            ),
            MountError::Mount { .. } | MountError::Unmount { .. } => None,
        };
        match e {
            MountError::Store(s) => s.into(),
            e => {
                let err = CliError::new(e.to_string());
                match hint {
                    Some(h) => err.hint(h),
                    None => err,
                }
            }
        }
    }
}
