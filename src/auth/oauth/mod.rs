//! This server as an OAuth 2.1 resource server: validates JWT access tokens from the issuers it
//! trusts (signature, issuer, lifetime, audience or client, scopes) and describes itself to
//! clients (RFC 9728 Protected Resource Metadata). Transport-free: the app hands it the token and
//! the resource the request reached, and maps its errors to HTTP challenges.

mod fetch;
mod jwks;
mod url;

use std::collections::HashMap;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::{Value, json};

pub use url::{IssuerUrl, ResourceUrl};

use super::OAuthSettings;
use fetch::Fetcher;
use jwks::{Issuer, KeyError};

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY: Duration = Duration::from_secs(30);

/// Whether a bearer value has the shape of a JWS compact serialization (`xxx.yyy.zzz`, the
/// header a base64url JSON object). API keys never do: they have no dots.
pub fn looks_like_jwt(value: &str) -> bool {
    let mut parts = value.split('.');
    let shape = (parts.next(), parts.next(), parts.next(), parts.next());
    let (Some(header), Some(_), Some(_), None) = shape else {
        return false;
    };
    header.starts_with("eyJ")
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// What a valid access token says about its holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken {
    /// `sub`: who the token is for (a person, or a machine client's id).
    pub subject: String,
    /// The groups claim (`OAUTH_GROUPS_CLAIM`), possibly empty.
    pub groups: Vec<String>,
    pub scopes: Vec<String>,
    pub client_id: Option<String>,
}

/// Why a token was refused. The messages are short ASCII (they become `error_description`) and
/// never repeat what the token contains.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(
        "not a JWT signed with an accepted algorithm (RS256/384/512, PS256/384/512, ES256, ES384, EdDSA)"
    )]
    Malformed,
    #[error("the token header has no kid")]
    NoKeyId,
    #[error("the token's issuer is not one this server trusts")]
    UntrustedIssuer,
    #[error("the token is signed with a key its issuer does not publish")]
    UnknownKey,
    #[error("the token signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is for another audience; request it for this server's resource URL")]
    WrongAudience,
    #[error("the token has no aud and its client_id is not an accepted client")]
    WrongClient,
    #[error("the token lacks the {0} claim")]
    MissingClaim(String),
    #[error("the token is an ID token, not an access token")]
    NotAccessToken,
    #[error("the token lacks the required scope")]
    InsufficientScope,
    /// The issuer's keys cannot be fetched and none are cached; not the caller's fault.
    #[error("the token issuer's signing keys are unavailable: {0}")]
    IssuerUnavailable(String),
}

/// Validates access tokens for this server. Built once at start; keys are fetched on first use.
pub struct OAuth {
    issuers: HashMap<String, Issuer>,
    audiences: Vec<String>,
    client_ids: Vec<String>,
    required_scopes: Vec<String>,
    groups_claim: String,
    resource: Option<ResourceUrl>,
    /// When an issuer that could not be reached will be tried again.
    retry_after: Duration,
    /// Serve the issuer's metadata as this server's (`OAUTH_METADATA_PROXY`).
    metadata_proxy: bool,
}

impl OAuth {
    /// The validator `settings` describe; no network (nor HTTP client) until the first token.
    pub fn new(settings: &OAuthSettings) -> Self {
        let fetcher = Fetcher::default();
        let issuers = settings
            .issuers
            .iter()
            .map(|url| {
                let issuer = Issuer::new(
                    url.clone(),
                    fetcher.clone(),
                    settings.jwks_ttl,
                    settings.jwks_min_refresh,
                );
                (url.as_str().to_owned(), issuer)
            })
            .collect();
        OAuth {
            issuers,
            audiences: settings.audiences.clone(),
            client_ids: settings.client_ids.clone(),
            required_scopes: settings.required_scopes.clone(),
            groups_claim: settings.groups_claim.clone(),
            resource: settings.resource.clone(),
            retry_after: settings.jwks_min_refresh,
            metadata_proxy: settings.metadata_proxy,
        }
    }

    /// The resource URL configured for this server (`MCP_RESOURCE_URL`), if any.
    pub fn configured_resource(&self) -> Option<&ResourceUrl> {
        self.resource.as_ref()
    }

    /// How long until an issuer whose keys could not be fetched is tried again.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// Scopes every token must carry, for challenges (`scope="…"`).
    pub fn required_scopes(&self) -> &[String] {
        &self.required_scopes
    }

    /// The Protected Resource Metadata document (RFC 9728 §2) for `resource`.
    pub fn metadata(&self, resource: &ResourceUrl) -> Value {
        let mut servers: Vec<&str> = if self.metadata_proxy {
            vec![resource.origin()]
        } else {
            self.issuers.keys().map(String::as_str).collect()
        };
        servers.sort_unstable();
        let mut document = json!({
            "resource": resource.to_string(),
            "authorization_servers": servers,
            "bearer_methods_supported": ["header"],
            "resource_name": env!("CARGO_PKG_NAME"),
        });
        if !self.required_scopes.is_empty() {
            document["scopes_supported"] = json!(self.required_scopes);
        }
        document
    }

    /// Whether this server publishes its issuer's metadata as its own (`OAUTH_METADATA_PROXY`).
    pub fn proxies_metadata(&self) -> bool {
        self.metadata_proxy
    }

    /// The issuer's metadata as this server (`origin`) publishes it when it proxies metadata:
    /// the issuer's endpoints unchanged, `issuer` set to `origin` (RFC 8414 §3.3: it must equal
    /// the URL it was fetched from), and PKCE S256 advertised where the issuer leaves it out.
    pub async fn authorization_server_metadata(&self, origin: &str) -> Result<Value, String> {
        let issuer = self
            .issuers
            .values()
            .next()
            .ok_or_else(|| "no issuer configured".to_owned())?;
        let metadata = issuer.metadata().await?;
        Ok(proxied_metadata(&metadata.document, origin))
    }

    /// Checks `token` as an access token for `resource` (the URL the request reached, which is
    /// the expected audience unless `OAUTH_AUDIENCE` says otherwise).
    pub async fn validate(
        &self,
        token: &str,
        resource: Option<&ResourceUrl>,
    ) -> Result<AccessToken, TokenError> {
        // `alg` must parse as a JWS algorithm we know: there is no "none" among them.
        let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
        let kid = header.kid.ok_or(TokenError::NoKeyId)?;
        // The unverified `iss` only picks the issuer: an unknown one is refused without any
        // network call; a known one is enforced again when the signed claims are validated.
        let iss = jsonwebtoken::dangerous::insecure_decode_claims::<IssuerOnly>(token)
            .map_err(|_| TokenError::Malformed)?
            .iss
            .ok_or(TokenError::UntrustedIssuer)?;
        let issuer = self.issuers.get(&iss).ok_or(TokenError::UntrustedIssuer)?;
        let key = issuer.key(&kid).await.map_err(|e| match e {
            KeyError::Unknown => TokenError::UnknownKey,
            KeyError::Unavailable(why) => TokenError::IssuerUnavailable(why),
        })?;

        let mut validation = Validation::new(header.alg);
        // From the key, never the token: an RSA key verifies RS*/PS* only, never HS256.
        validation.algorithms = key.algorithms.clone();
        validation.leeway = LEEWAY.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer.url.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        // A token WITH `aud` must name us (checked here). One WITHOUT passes this check, and is
        // accepted below only from a known client (Cognito's access tokens carry no `aud`).
        let audiences = match (&self.audiences[..], resource) {
            ([], Some(resource)) => resource.audiences(),
            (configured, _) => configured.to_vec(),
        };
        validation.set_audience(&audiences);
        let claims = decode::<Claims>(token, &key.key, &validation)
            .map_err(|e| refusal(e.kind()))?
            .claims;

        if claims.aud.is_none()
            && !claims
                .client_id
                .as_ref()
                .is_some_and(|id| self.client_ids.contains(id))
        {
            return Err(TokenError::WrongClient);
        }
        if claims.token_use.as_deref().is_some_and(|u| u != "access") {
            return Err(TokenError::NotAccessToken);
        }
        let token = AccessToken {
            scopes: claims.scopes(),
            groups: claims.strings(&self.groups_claim),
            subject: claims.sub,
            client_id: claims.client_id,
        };
        if !self
            .required_scopes
            .iter()
            .all(|needed| token.scopes.contains(needed))
        {
            return Err(TokenError::InsufficientScope);
        }
        Ok(token)
    }
}

/// See [`OAuth::authorization_server_metadata`]. Cognito and Entra ID support S256 but do not say
/// so, and MCP clients must refuse an authorization server that does not.
fn proxied_metadata(document: &serde_json::Map<String, Value>, origin: &str) -> Value {
    let mut document = document.clone();
    document.insert("issuer".into(), json!(origin));
    document
        .entry("code_challenge_methods_supported")
        .or_insert_with(|| json!(["S256"]));
    Value::Object(document)
}

fn refusal(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidAudience => TokenError::WrongAudience,
        ErrorKind::InvalidIssuer => TokenError::UntrustedIssuer,
        ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => {
            TokenError::MissingClaim(claim.clone())
        }
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        _ => TokenError::Malformed,
    }
}

#[derive(Deserialize)]
struct IssuerOnly {
    iss: Option<String>,
}

/// The claims we read. `scope` is a space-separated string (RFC 9068, Cognito); some issuers
/// (Entra, Okta) write `scp`, as a string or an array.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    aud: Option<OneOrMany>,
    client_id: Option<String>,
    token_use: Option<String>,
    scope: Option<OneOrMany>,
    scp: Option<OneOrMany>,
    #[serde(flatten)]
    other: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => s.split_whitespace().map(str::to_owned).collect(),
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

impl Claims {
    fn scopes(&self) -> Vec<String> {
        [&self.scope, &self.scp]
            .into_iter()
            .flatten()
            .flat_map(OneOrMany::items)
            .collect()
    }

    /// A claim holding names: an array of strings, or one space-separated string.
    fn strings(&self, claim: &str) -> Vec<String> {
        match self.other.get(claim) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_shaped_bearer_values_are_told_from_api_keys() {
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"));
        assert!(looks_like_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")); // alg none: refused later
        assert!(!looks_like_jwt(
            "4f1c9a7e2b9d0c3aa51b88d0c3aa514f1c9a7e2b9d0c3aa51b88d0c3aa51aa00"
        ));
        assert!(!looks_like_jwt("designer-key-4f1c9a7e2b"));
        assert!(!looks_like_jwt("eyJ.a.b.c"));
        assert!(!looks_like_jwt("eyJ a.b.c"));
    }

    #[test]
    fn proxied_metadata_names_this_server_and_advertises_pkce_the_issuer_supports() {
        let cognito = json!({
            "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC",
            "authorization_endpoint": "https://mcp-x.auth.eu-west-1.amazoncognito.com/oauth2/authorize",
            "token_endpoint": "https://mcp-x.auth.eu-west-1.amazoncognito.com/oauth2/token",
            "jwks_uri": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC/.well-known/jwks.json",
        });
        let proxied = proxied_metadata(cognito.as_object().unwrap(), "https://mcp.example.com");
        assert_eq!(proxied["issuer"], "https://mcp.example.com");
        assert_eq!(proxied["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(proxied["token_endpoint"], cognito["token_endpoint"]);
        // What an issuer says itself is kept.
        let mut own = cognito.as_object().unwrap().clone();
        own.insert(
            "code_challenge_methods_supported".into(),
            json!(["S256", "plain"]),
        );
        assert_eq!(
            proxied_metadata(&own, "https://h")["code_challenge_methods_supported"],
            json!(["S256", "plain"])
        );
    }

    #[test]
    fn scopes_and_groups_are_read_in_every_shape_issuers_use() {
        let claims: Claims = serde_json::from_value(json!({
            "sub": "u", "scope": "upload read", "scp": ["extra"],
            "groups": ["designers"], "cognito:groups": "a b"
        }))
        .unwrap();
        assert_eq!(claims.scopes(), ["upload", "read", "extra"]);
        assert_eq!(claims.strings("groups"), ["designers"]);
        assert_eq!(claims.strings("cognito:groups"), ["a", "b"]);
        assert!(claims.strings("roles").is_empty());
    }
}
