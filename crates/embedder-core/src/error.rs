use std::path::PathBuf;

/// Every way embedding can fail. Each variant maps to one stable code (see [`Error::code`]) that
/// the JavaScript binding exposes as `error.code`.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} not found: looked for {}", format_paths(.looked_at))]
    ModelNotFound { what: String, looked_at: Vec<PathBuf> },

    #[error("{}: {reason}", .path.display())]
    ModelInvalid { path: PathBuf, reason: String },

    #[error("input {index}: {reason}")]
    InvalidInput { index: usize, reason: String },

    #[error("invalid option `{option}`: {reason}")]
    InvalidOption { option: &'static str, reason: String },

    #[error("the embedder was disposed; create a new one to embed again")]
    Disposed,

    #[error("the embedding was aborted")]
    Aborted,

    #[error("{max_queue} requests are already waiting; retry later or raise `maxQueue`")]
    QueueFull { max_queue: usize },

    /// An embedder implemented outside this crate (in JavaScript, say) failed.
    #[error("the base embedder failed: {0}")]
    Base(String),

    #[error("{0}")]
    Runtime(String),

    /// Data that is not one input among others: a corpus, a saved vocabulary.
    #[error("{0}")]
    InvalidData(String),

    #[error("the TF-IDF vocabulary is not fitted; call fit(corpus) first or load a fitted one with fromJSON")]
    NotFitted,

    /// The hub refused to serve a model file (HTTP 401 or 403).
    #[error("the hub refused access to {repo} (HTTP {status} for {url}): {}", auth_hint(*.token_sent))]
    Auth { repo: String, url: String, status: u16, token_sent: bool },

    /// `HF_HUB_OFFLINE` is set and the cache lacks files of the model.
    #[error(
        "{repo} (revision {revision}) is not in the cache at {} and HF_HUB_OFFLINE is set ({missing}); download it once online or unset HF_HUB_OFFLINE",
        .cache.display()
    )]
    Offline { repo: String, revision: String, cache: PathBuf, missing: String },

    /// A download failed: connection refused or reset, a body cut short, an unusable answer.
    #[error("downloading {url} failed: {reason}")]
    Network { url: String, reason: String },
}

impl Error {
    /// The stable code JavaScript callers match on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::ModelNotFound { .. } => "ERR_MODEL_NOT_FOUND",
            Error::ModelInvalid { .. } => "ERR_MODEL_INVALID",
            Error::InvalidInput { .. } => "ERR_INVALID_INPUT",
            Error::InvalidOption { .. } => "ERR_INVALID_OPTION",
            Error::Disposed => "ERR_DISPOSED",
            Error::QueueFull { .. } => "ERR_QUEUE_FULL",
            Error::Aborted => "ERR_ABORTED",
            Error::Base(_) => "ERR_BASE_FAILED",
            Error::Runtime(_) => "ERR_RUNTIME",
            Error::InvalidData(_) => "ERR_INVALID_INPUT",
            Error::NotFitted => "ERR_NOT_FITTED",
            Error::Auth { .. } => "ERR_AUTH",
            Error::Offline { .. } => "ERR_OFFLINE",
            Error::Network { .. } => "ERR_NETWORK",
        }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Error::ModelInvalid { path: path.into(), reason: reason.to_string() }
    }

    pub(crate) fn runtime(context: &str, err: impl std::fmt::Display) -> Self {
        Error::Runtime(format!("ONNX Runtime failed {context}: {err}"))
    }
}

fn auth_hint(token_sent: bool) -> &'static str {
    if token_sent {
        "the token in HF_TOKEN cannot read it (the repository is private or gated, or does not exist)"
    } else {
        "the repository is private or gated, or does not exist; set HF_TOKEN to an access token that can read it"
    }
}

fn format_paths(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
