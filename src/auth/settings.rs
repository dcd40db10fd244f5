//! How callers authenticate and where their principals come from. Plain data, filled from the
//! environment by `config` and turned into an [`super::Authenticator`] at start.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::oauth::{IssuerUrl, ResourceUrl};
use super::policy::SubjectPrefix;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthSettings {
    /// `AUTH_MODE`.
    pub mode: AuthMode,
    /// The principals document; required for API keys and IAM, optional for OAuth when
    /// `OAUTH_DEFAULT_PREFIX` gives every signed-in caller a folder.
    pub principals: Option<PrincipalsLocation>,
    /// How long the document is trusted before it is re-read (`API_KEYS_TTL_SECONDS`).
    pub ttl: Duration,
    /// `ALLOW_UNAUTHENTICATED=true`: permits `AUTH_MODE=none` where it is otherwise refused.
    pub allow_unauthenticated: bool,
    /// Region of the Secrets Manager secret (`AWS_REGION`).
    pub region: Option<String>,
    /// Present exactly when `mode` accepts OAuth access tokens.
    pub oauth: Option<OAuthSettings>,
}

impl AuthSettings {
    pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
}

/// Which credentials the MCP endpoint accepts (`AUTH_MODE`, a comma-separated list such as
/// `api_key,oauth`: any one of them admits a request). All false is `none`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthMode {
    /// `Authorization: Bearer <key>` or `x-api-key: <key>`, matched against the principals.
    pub api_key: bool,
    /// `Authorization: Bearer <JWT access token>` from a trusted OAuth/OIDC issuer.
    pub oauth: bool,
    /// The Function URL's `AWS_IAM` auth; the caller's ARN comes from the request context.
    pub iam: bool,
}

impl AuthMode {
    /// No authentication: only on loopback, or with ALLOW_UNAUTHENTICATED=true.
    pub const NONE: AuthMode = AuthMode {
        api_key: false,
        oauth: false,
        iam: false,
    };
    pub const API_KEY: AuthMode = AuthMode {
        api_key: true,
        ..AuthMode::NONE
    };
    pub const OAUTH: AuthMode = AuthMode {
        oauth: true,
        ..AuthMode::NONE
    };
    pub const IAM: AuthMode = AuthMode {
        iam: true,
        ..AuthMode::NONE
    };

    pub fn is_none(self) -> bool {
        self == AuthMode::NONE
    }

    /// Whether callers are matched against the principals document by key or ARN.
    pub fn needs_principals(self) -> bool {
        self.api_key || self.iam
    }
}

impl FromStr for AuthMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut mode = AuthMode::NONE;
        let mut none = false;
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word.to_ascii_lowercase().as_str() {
                "api_key" | "apikey" | "api-key" => mode.api_key = true,
                "oauth" => mode.oauth = true,
                "iam" => mode.iam = true,
                "none" => none = true,
                other => {
                    return Err(format!(
                        "{other:?} is not a mode; use api_key, oauth, iam, or a list such as api_key,oauth (or none)"
                    ));
                }
            }
        }
        match (none, mode.is_none()) {
            (true, false) => Err(format!(
                "none cannot be combined with {mode}: it would admit every caller anyway"
            )),
            (false, true) => Err("is empty; use api_key, oauth, iam, a list, or none".into()),
            _ => Ok(mode),
        }
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [
            (self.api_key, "api_key"),
            (self.oauth, "oauth"),
            (self.iam, "iam"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

/// Where the principals document (API key digests, IAM ARNs, OAuth groups and subjects, with
/// their policies) is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrincipalsLocation {
    /// `API_KEYS_SECRET_ID`: a Secrets Manager secret (name or ARN).
    Secret(String),
    /// `API_KEYS_FILE`: a local JSON file.
    File(PathBuf),
}

/// This server as an OAuth 2.1 resource server: whose access tokens it trusts, which it accepts,
/// and what it publishes about itself (RFC 9728).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthSettings {
    /// Trusted issuers (`OAUTH_ISSUER`), exactly as their tokens' `iss` reads.
    pub issuers: Vec<IssuerUrl>,
    /// Accepted `aud` values (`OAUTH_AUDIENCE`); empty = this server's resource URL.
    pub audiences: Vec<String>,
    /// Accepted `client_id`s for tokens without `aud`, e.g. Amazon Cognito's (`OAUTH_CLIENT_IDS`).
    pub client_ids: Vec<String>,
    /// Scopes every token must carry (`OAUTH_REQUIRED_SCOPES`); also advertised to clients.
    pub required_scopes: Vec<String>,
    /// The claim holding the caller's groups (`OAUTH_GROUPS_CLAIM`).
    pub groups_claim: String,
    /// The policy of a valid token that matches no principal (`OAUTH_DEFAULT_PREFIX`); without
    /// it such a token is refused.
    pub default_prefix: Option<SubjectPrefix>,
    /// The MCP endpoint's public URL (`MCP_RESOURCE_URL`); unset = derived from each request's
    /// Host, once the Host check has accepted it.
    pub resource: Option<ResourceUrl>,
    /// How long fetched signing keys are used before they are fetched again
    /// (`OAUTH_JWKS_TTL_SECONDS`).
    pub jwks_ttl: Duration,
    /// The least time between two fetches of an issuer's keys, whatever tokens arrive
    /// (`OAUTH_JWKS_MIN_REFRESH_SECONDS`): unknown `kid`s cannot make the server hammer the issuer.
    pub jwks_min_refresh: Duration,
    /// Serve the (single) issuer's metadata from this server, with PKCE S256 advertised
    /// (`OAUTH_METADATA_PROXY`): for Cognito and Entra ID, whose discovery documents omit
    /// `code_challenge_methods_supported`, which MCP clients then refuse.
    pub metadata_proxy: bool,
}

impl OAuthSettings {
    pub const DEFAULT_GROUPS_CLAIM: &str = "groups";
    pub const DEFAULT_JWKS_TTL: Duration = Duration::from_secs(600);
    pub const DEFAULT_JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);

    /// Settings trusting `issuers` with every other value at its default.
    pub fn for_issuers(issuers: Vec<IssuerUrl>) -> Self {
        OAuthSettings {
            issuers,
            audiences: Vec::new(),
            client_ids: Vec::new(),
            required_scopes: Vec::new(),
            groups_claim: Self::DEFAULT_GROUPS_CLAIM.to_owned(),
            default_prefix: None,
            resource: None,
            jwks_ttl: Self::DEFAULT_JWKS_TTL,
            jwks_min_refresh: Self::DEFAULT_JWKS_MIN_REFRESH,
            metadata_proxy: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_modes_are_comma_lists_and_single_values_keep_working() {
        assert_eq!("api_key".parse::<AuthMode>().unwrap(), AuthMode::API_KEY);
        assert_eq!("IAM".parse::<AuthMode>().unwrap(), AuthMode::IAM);
        assert_eq!("none".parse::<AuthMode>().unwrap(), AuthMode::NONE);
        let both = "api_key, oauth".parse::<AuthMode>().unwrap();
        assert!(both.api_key && both.oauth && !both.iam);
        assert_eq!(both.to_string(), "api_key,oauth");
        assert_eq!(AuthMode::NONE.to_string(), "none");
        assert!(
            "none,oauth"
                .parse::<AuthMode>()
                .unwrap_err()
                .contains("cannot be combined")
        );
        assert!("saml".parse::<AuthMode>().unwrap_err().contains("oauth"));
        assert!(",".parse::<AuthMode>().is_err());
    }
}
