//! Who is calling and what they may write: API keys, IAM identities, and their policies.
//! Transport-free: the app extracts credentials from HTTP, this module decides.

pub mod keys;
pub mod policy;
mod settings;

use std::sync::Arc;

pub use keys::{KeySource, KeyStore, PrincipalsError};
pub use policy::Policy;
pub use settings::{AuthSettings, PrincipalsLocation};

/// An authenticated caller and its policy.
#[derive(Clone, Debug)]
pub struct Principal {
    /// Stable id for logs and metrics ("designer"); never the key itself.
    pub id: String,
    pub policy: Policy,
}

impl Principal {
    /// The caller of an unauthenticated local server (stdio, `serve` on loopback).
    pub fn local() -> Self {
        Principal {
            id: "local".into(),
            policy: Policy::unrestricted(),
        }
    }
}

/// How callers prove who they are (`AUTH_MODE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    /// `Authorization: Bearer <key>` or `x-api-key: <key>`.
    ApiKey,
    /// The Function URL's `AWS_IAM` auth; the caller's ARN comes from the request context.
    Iam,
    /// No authentication: only on loopback, or with ALLOW_UNAUTHENTICATED=true.
    None,
}

impl std::str::FromStr for AuthMode {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "api_key" | "apikey" | "api-key" => Ok(AuthMode::ApiKey),
            "iam" => Ok(AuthMode::Iam),
            "none" => Ok(AuthMode::None),
            _ => Err("use api_key, iam or none"),
        }
    }
}

/// What a request presented.
#[derive(Debug)]
pub enum Credential<'a> {
    ApiKey(&'a str),
    IamArn(&'a str),
}

/// Why a request was not let in. The messages never echo what was presented.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing credentials: send `Authorization: Bearer <key>` or `x-api-key: <key>`")]
    MissingCredentials,
    #[error("invalid API key")]
    InvalidCredentials,
    #[error("the caller's IAM identity is not listed in the principals document")]
    UnknownIdentity,
}

/// Decides who a request comes from. Built once at start.
#[derive(Clone)]
pub struct Authenticator {
    mode: AuthMode,
    store: Option<Arc<KeyStore>>,
}

impl Authenticator {
    /// No authentication: every request is the local principal.
    pub fn open() -> Self {
        Authenticator {
            mode: AuthMode::None,
            store: None,
        }
    }

    pub fn new(mode: AuthMode, store: KeyStore) -> Self {
        Authenticator {
            mode,
            store: Some(Arc::new(store)),
        }
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    pub async fn authenticate(
        &self,
        credential: Option<Credential<'_>>,
    ) -> Result<Principal, AuthError> {
        match (self.mode, &self.store, credential) {
            (AuthMode::None, _, _) => Ok(Principal::local()),
            (AuthMode::ApiKey, Some(store), Some(Credential::ApiKey(key))) => {
                store.by_api_key(key).await
            }
            (AuthMode::Iam, Some(store), Some(Credential::IamArn(arn))) => {
                store.by_iam_arn(arn).await
            }
            _ => Err(AuthError::MissingCredentials),
        }
    }
}

impl Authenticator {
    /// The authenticator `settings` ask for, with its principals document loaded (a missing or
    /// invalid document stops the server at start).
    pub async fn from_settings(settings: &AuthSettings) -> Result<Authenticator, PrincipalsError> {
        let location = match (&settings.principals, settings.mode) {
            (_, AuthMode::None) => return Ok(Authenticator::open()),
            (Some(location), _) => location,
            (None, _) => {
                return Err(PrincipalsError::Unreadable {
                    origin: "the principals document".into(),
                    detail: "AUTH_MODE needs API_KEYS_SECRET_ID or API_KEYS_FILE".into(),
                });
            }
        };
        let source = match location {
            PrincipalsLocation::File(path) => KeySource::File(path.clone()),
            PrincipalsLocation::Secret(secret_id) => {
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
                if let Some(region) = &settings.region {
                    loader = loader.region(aws_config::Region::new(region.clone()));
                }
                KeySource::SecretsManager {
                    client: aws_sdk_secretsmanager::Client::new(&loader.load().await),
                    secret_id: secret_id.clone(),
                }
            }
        };
        Ok(Authenticator::new(
            settings.mode,
            KeyStore::load(source, settings.ttl).await?,
        ))
    }
}
