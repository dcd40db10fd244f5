//! How callers authenticate and where their principals come from. Plain data, filled from the
//! environment by `config` and turned into an [`super::Authenticator`] at start.

use std::path::PathBuf;
use std::time::Duration;

use super::AuthMode;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthSettings {
    /// `AUTH_MODE`.
    pub mode: AuthMode,
    /// The principals document; required unless `mode` is `none`.
    pub principals: Option<PrincipalsLocation>,
    /// How long the document is trusted before it is re-read (`API_KEYS_TTL_SECONDS`).
    pub ttl: Duration,
    /// `ALLOW_UNAUTHENTICATED=true`: permits `AUTH_MODE=none` where it is otherwise refused.
    pub allow_unauthenticated: bool,
    /// Region of the Secrets Manager secret (`AWS_REGION`).
    pub region: Option<String>,
}

impl AuthSettings {
    pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
}

/// Where the principals document (API key digests, IAM ARNs, policies) is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrincipalsLocation {
    /// `API_KEYS_SECRET_ID`: a Secrets Manager secret (name or ARN).
    Secret(String),
    /// `API_KEYS_FILE`: a local JSON file.
    File(PathBuf),
}
