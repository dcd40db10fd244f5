//! Who is calling and what they may write: API keys, OAuth access tokens, IAM identities, and
//! their policies. Transport-free: the app extracts credentials from HTTP, this module decides.

pub mod keys;
pub mod oauth;
pub mod policy;
mod settings;

use std::sync::Arc;

pub use keys::{KeySource, KeyStore, PrincipalsError};
pub use oauth::{IssuerUrl, OAuth, ResourceUrl, TokenError};
pub use policy::{Policy, SubjectPrefix};
pub use settings::{AuthMode, AuthSettings, OAuthSettings, PrincipalsLocation};

/// An authenticated caller and its policy.
#[derive(Clone, Debug)]
pub struct Principal {
    /// Stable id for logs and metrics ("designer", "design-team"); never the key itself.
    pub id: String,
    /// The person (or machine client) behind an OAuth principal, from the token's `sub`: a
    /// group principal is shared, its members are not.
    pub subject: Option<String>,
    pub policy: Policy,
}

impl Principal {
    /// The caller of an unauthenticated local server (stdio, `serve` on loopback).
    pub fn local() -> Self {
        Principal {
            id: "local".into(),
            subject: None,
            policy: Policy::unrestricted(),
        }
    }

    /// The id of signed-in callers no principal names, when `OAUTH_DEFAULT_PREFIX` admits them.
    /// One id for all of them (each with its `subject`) keeps per-principal metrics bounded.
    pub const OAUTH_DEFAULT_ID: &str = "oauth-default";
}

/// What a request presented.
#[derive(Debug)]
pub enum Credential<'a> {
    ApiKey(&'a str),
    /// A JWT access token, presented to `resource` (the URL the request reached; `None` when the
    /// request named no usable host).
    AccessToken {
        token: &'a str,
        resource: Option<&'a ResourceUrl>,
    },
    IamArn(&'a str),
}

/// Why a request was not let in. The messages never echo what was presented.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing credentials: {}", accepted_credentials(*.0))]
    MissingCredentials(AuthMode),
    #[error("invalid API key")]
    InvalidCredentials,
    #[error("the caller's IAM identity is not listed in the principals document")]
    UnknownIdentity,
    /// An access token that is not valid here (401 `invalid_token`, or 403 `insufficient_scope`).
    #[error("invalid access token: {0}")]
    Token(TokenError),
    /// A valid token that no principal and no default policy admits.
    #[error(
        "your sign-in is valid, but no policy lets subject {subject:?} (groups: {groups}) upload here; \
         ask the server's operator to add an oauth_group or oauth_subject entry for you to the \
         principals document, or to set OAUTH_DEFAULT_PREFIX"
    )]
    NoPolicy { subject: String, groups: String },
}

fn accepted_credentials(mode: AuthMode) -> String {
    let mut ways = Vec::new();
    if mode.api_key || mode.oauth {
        let what = match (mode.api_key, mode.oauth) {
            (true, true) => "an OAuth access token or an API key",
            (false, true) => "an OAuth access token",
            _ => "<key>",
        };
        ways.push(format!("send `Authorization: Bearer {what}`"));
    }
    if mode.api_key {
        ways.push("`x-api-key: <key>`".into());
    }
    if mode.iam {
        ways.push("sign the request with SigV4 (AWS_IAM)".into());
    }
    ways.join(" or ")
}

/// Decides who a request comes from. Built once at start.
#[derive(Clone)]
pub struct Authenticator {
    mode: AuthMode,
    store: Option<Arc<KeyStore>>,
    oauth: Option<Arc<OAuth>>,
    default_prefix: Option<SubjectPrefix>,
}

impl Authenticator {
    /// No authentication: every request is the local principal.
    pub fn open() -> Self {
        Authenticator {
            mode: AuthMode::NONE,
            store: None,
            oauth: None,
            default_prefix: None,
        }
    }

    /// API keys or IAM identities matched against `store`.
    pub fn new(mode: AuthMode, store: KeyStore) -> Self {
        Authenticator {
            mode,
            store: Some(Arc::new(store)),
            oauth: None,
            default_prefix: None,
        }
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// The access token validator, when `AUTH_MODE` includes `oauth`.
    pub fn oauth(&self) -> Option<&OAuth> {
        self.oauth.as_deref()
    }

    pub async fn authenticate(
        &self,
        credential: Option<Credential<'_>>,
    ) -> Result<Principal, AuthError> {
        if self.mode.is_none() {
            return Ok(Principal::local());
        }
        match (credential, &self.store, &self.oauth) {
            (Some(Credential::ApiKey(key)), Some(store), _) if self.mode.api_key => {
                store.by_api_key(key).await
            }
            (Some(Credential::IamArn(arn)), Some(store), _) if self.mode.iam => {
                store.by_iam_arn(arn).await
            }
            (Some(Credential::AccessToken { token, resource }), _, Some(oauth)) => {
                let token = oauth
                    .validate(token, resource)
                    .await
                    .map_err(AuthError::Token)?;
                self.authorize(&token).await
            }
            _ => Err(AuthError::MissingCredentials(self.mode)),
        }
    }

    /// The principal a valid access token stands for: a matching entry of the principals
    /// document, else the default per-subject policy, else none.
    async fn authorize(&self, token: &oauth::AccessToken) -> Result<Principal, AuthError> {
        if let Some(store) = &self.store
            && let Some(principal) = store.by_access_token(&token.subject, &token.groups).await
        {
            return Ok(principal);
        }
        match &self.default_prefix {
            Some(prefix) => Ok(Principal {
                id: Principal::OAUTH_DEFAULT_ID.to_owned(),
                subject: Some(token.subject.clone()),
                policy: prefix.policy_for(&token.subject),
            }),
            None => Err(AuthError::NoPolicy {
                subject: token.subject.clone(),
                groups: listed(&token.groups),
            }),
        }
    }
}

/// Groups for a message: a few names (Entra ID tokens can carry hundreds of ids), or "none".
fn listed(groups: &[String]) -> String {
    const SHOWN: usize = 5;
    match groups.len() {
        0 => "none".to_owned(),
        n if n <= SHOWN => groups.join(", "),
        n => format!("{}, and {} more", groups[..SHOWN].join(", "), n - SHOWN),
    }
}

impl Authenticator {
    /// The authenticator `settings` ask for, with its principals document loaded (a missing or
    /// invalid document stops the server at start). OAuth issuers are contacted on the first
    /// token, not here: a cold start without one stays as fast as before.
    pub async fn from_settings(settings: &AuthSettings) -> Result<Authenticator, PrincipalsError> {
        if settings.mode.is_none() {
            return Ok(Authenticator::open());
        }
        let store = match &settings.principals {
            Some(location) => Some(Arc::new(load_principals(settings, location).await?)),
            None if settings.mode.needs_principals() => {
                return Err(PrincipalsError::Unreadable {
                    origin: "the principals document".into(),
                    detail: "AUTH_MODE needs API_KEYS_SECRET_ID or API_KEYS_FILE".into(),
                });
            }
            None => None,
        };
        let oauth = match (&settings.oauth, settings.mode.oauth) {
            (Some(oauth), true) => Some(oauth),
            _ => None,
        };
        Ok(Authenticator {
            mode: settings.mode,
            store,
            oauth: oauth.map(|o| Arc::new(OAuth::new(o))),
            default_prefix: oauth.and_then(|o| o.default_prefix.clone()),
        })
    }
}

async fn load_principals(
    settings: &AuthSettings,
    location: &PrincipalsLocation,
) -> Result<KeyStore, PrincipalsError> {
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
    KeyStore::load(source, settings.ttl).await
}
