//! One trusted issuer's signing keys: discovered on the first token that needs them, cached,
//! fetched again after a TTL or for an unknown `kid`, never more often than a bound allows, and
//! kept when the issuer is down (stale keys beat no keys).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

use super::IssuerUrl;
use super::fetch::Fetcher;

/// Keys beyond this many in one key set are ignored (real issuers publish two or three).
const MAX_KEYS: usize = 32;

/// A published key we verify with, and the algorithms it may verify. The algorithms come from
/// the key (`kty`, `crv`, `alg`), never from a token's header.
pub struct VerifyingKey {
    pub algorithms: Vec<Algorithm>,
    pub key: DecodingKey,
}

const RSA_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// The key `jwk` publishes, if it is a public signing key of a kind we accept. `oct` keys
/// (shared HMAC secrets) never are: a published secret signs anything.
pub fn verifying_key(jwk: &Jwk) -> Option<VerifyingKey> {
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return None;
    }
    if jwk
        .common
        .key_operations
        .as_ref()
        .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
    {
        return None;
    }
    let declared = jwk.common.key_algorithm;
    let algorithms = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => match declared {
            None => RSA_ALGORITHMS.to_vec(),
            Some(alg) => vec![
                Algorithm::try_from(alg)
                    .ok()
                    .filter(|a| RSA_ALGORITHMS.contains(a))?,
            ],
        },
        AlgorithmParameters::EllipticCurve(params) => match (&params.curve, declared) {
            (EllipticCurve::P256, None | Some(KeyAlgorithm::ES256)) => vec![Algorithm::ES256],
            (EllipticCurve::P384, None | Some(KeyAlgorithm::ES384)) => vec![Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(params) => match (&params.curve, declared) {
            (EllipticCurve::Ed25519, None | Some(KeyAlgorithm::EdDSA)) => vec![Algorithm::EdDSA],
            _ => return None,
        },
        _ => return None,
    };
    Some(VerifyingKey {
        algorithms,
        key: DecodingKey::from_jwk(jwk).ok()?,
    })
}

/// Why no key could be had for a `kid`.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The issuer does not publish it (as of the last fetch).
    Unknown,
    /// The issuer's keys could not be fetched and none are cached.
    Unavailable(String),
}

#[derive(Default)]
struct KeyState {
    metadata: Option<Arc<Metadata>>,
    /// The last key fetch failed: look the metadata up again before the next one.
    rediscover: bool,
    keys: HashMap<String, Arc<VerifyingKey>>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
    /// Why the last attempt failed, when it did.
    last_error: Option<String>,
}

impl KeyState {
    fn get(&self, kid: &str) -> Result<Arc<VerifyingKey>, KeyError> {
        match (self.keys.get(kid), &self.last_error) {
            (Some(key), _) => Ok(key.clone()),
            (None, Some(error)) if self.keys.is_empty() => {
                Err(KeyError::Unavailable(error.clone()))
            }
            (None, _) => Err(KeyError::Unknown),
        }
    }
}

/// A trusted issuer and the keys it publishes.
pub struct Issuer {
    pub url: IssuerUrl,
    fetcher: Fetcher,
    ttl: Duration,
    min_refresh: Duration,
    state: RwLock<KeyState>,
    /// One fetch at a time; whoever waited for it uses its result.
    refresh: Mutex<()>,
}

/// The issuer's metadata document (OpenID Connect Discovery or RFC 8414), as published.
pub struct Metadata {
    pub document: serde_json::Map<String, serde_json::Value>,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct KeySet {
    keys: Vec<serde_json::Value>,
}

impl Issuer {
    pub fn new(url: IssuerUrl, fetcher: Fetcher, ttl: Duration, min_refresh: Duration) -> Self {
        Issuer {
            url,
            fetcher,
            ttl,
            min_refresh,
            state: RwLock::default(),
            refresh: Mutex::new(()),
        }
    }

    /// The key `kid` names. Cached keys are used while fresh; otherwise the key set is fetched
    /// again, at most once per `min_refresh` however many tokens ask. A known key that has gone
    /// stale is used as is while another request refreshes, or when the refresh fails.
    pub async fn key(&self, kid: &str) -> Result<Arc<VerifyingKey>, KeyError> {
        let asked = Instant::now();
        let known = {
            let state = self.state.read().await;
            let fresh = state.fetched_at.is_some_and(|t| asked - t < self.ttl);
            let cooling = state
                .last_attempt
                .is_some_and(|t| asked - t < self.min_refresh);
            match state.keys.get(kid) {
                Some(key) if fresh || cooling => return Ok(key.clone()),
                None if cooling => return state.get(kid),
                known => known.cloned(),
            }
        };
        let _one_fetch = match &known {
            Some(stale) => match self.refresh.try_lock() {
                Ok(guard) => guard,
                Err(_) => return Ok(stale.clone()),
            },
            None => self.refresh.lock().await,
        };
        self.refresh_unless_fetched_since(asked).await;
        self.state.read().await.get(kid)
    }

    /// The issuer's metadata, discovered once (with its keys), within the same bound on fetches.
    pub async fn metadata(&self) -> Result<Arc<Metadata>, String> {
        let asked = Instant::now();
        {
            let state = self.state.read().await;
            if let Some(metadata) = &state.metadata {
                return Ok(metadata.clone());
            }
            if state
                .last_attempt
                .is_some_and(|t| asked - t < self.min_refresh)
            {
                return Err(state.last_error.clone().unwrap_or_default());
            }
        }
        let _one_fetch = self.refresh.lock().await;
        self.refresh_unless_fetched_since(asked).await;
        let state = self.state.read().await;
        state
            .metadata
            .clone()
            .ok_or_else(|| state.last_error.clone().unwrap_or_default())
    }

    /// Refreshes, unless whoever held the fetch lock before us fetched after `asked`: then its
    /// result is ours. Call with the lock held.
    async fn refresh_unless_fetched_since(&self, asked: Instant) {
        let fetched_since = self
            .state
            .read()
            .await
            .last_attempt
            .is_some_and(|t| t >= asked);
        if !fetched_since {
            self.refresh().await;
        }
    }

    /// Fetches the key set (discovering where it is first, if need be) and records the outcome.
    async fn refresh(&self) {
        let cached = {
            let state = self.state.read().await;
            state.metadata.clone().filter(|_| !state.rediscover)
        };
        let fetched = self.fetch(cached).await;
        let mut state = self.state.write().await;
        state.last_attempt = Some(Instant::now());
        match fetched {
            Ok((metadata, keys)) => {
                tracing::info!(issuer = %self.url, keys = keys.len(), "fetched the issuer's signing keys");
                state.metadata = Some(metadata);
                state.rediscover = false;
                state.keys = keys;
                state.fetched_at = state.last_attempt;
                state.last_error = None;
            }
            Err(error) => {
                tracing::warn!(issuer = %self.url, %error, cached_keys = state.keys.len(),
                    "fetching the issuer's signing keys failed; keeping the cached ones");
                // Discover again next time: the key set may have moved.
                state.rediscover = true;
                state.last_error = Some(error);
            }
        }
    }

    async fn fetch(
        &self,
        cached: Option<Arc<Metadata>>,
    ) -> Result<(Arc<Metadata>, HashMap<String, Arc<VerifyingKey>>), String> {
        let metadata = match cached {
            Some(metadata) => metadata,
            None => Arc::new(self.discover().await?),
        };
        let jwks_uri = &metadata.jwks_uri;
        let set: KeySet = self
            .fetcher
            .json(&self.url, jwks_uri)
            .await
            .map_err(|e| e.to_string())?;
        let keys: HashMap<_, _> = set
            .keys
            .into_iter()
            .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, Arc::new(verifying_key(&jwk)?))))
            .take(MAX_KEYS)
            .collect();
        if keys.is_empty() {
            return Err(format!(
                "{jwks_uri} publishes no usable signing key (RSA, EC P-256/P-384 or Ed25519, with a kid)"
            ));
        }
        Ok((metadata, keys))
    }

    /// The issuer's metadata, which must name this issuer and say where its keys are.
    async fn discover(&self) -> Result<Metadata, String> {
        let mut failures = Vec::new();
        for url in self.url.metadata_urls() {
            let document = match self
                .fetcher
                .json::<serde_json::Map<String, serde_json::Value>>(&self.url, &url)
                .await
            {
                Ok(document) => document,
                Err(e) => {
                    failures.push(e.to_string());
                    continue;
                }
            };
            let text = |field: &str| {
                document
                    .get(field)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            let issuer = text("issuer").unwrap_or_default();
            if issuer != self.url.as_str() {
                return Err(format!(
                    "{url} names issuer {issuer:?}, not {:?}; set OAUTH_ISSUER exactly as the issuer writes it",
                    self.url.as_str()
                ));
            }
            let jwks_uri = text("jwks_uri").ok_or_else(|| format!("{url} has no jwks_uri"))?;
            return Ok(Metadata { document, jwks_uri });
        }
        Err(format!("no issuer metadata: {}", failures.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk(value: serde_json::Value) -> Jwk {
        serde_json::from_value(value).unwrap()
    }

    const N: &str = "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw";

    #[test]
    fn keys_verify_only_the_algorithms_they_declare_and_secrets_never() {
        let rsa = verifying_key(&jwk(
            serde_json::json!({"kty": "RSA", "kid": "r", "n": N, "e": "AQAB", "alg": "RS256", "use": "sig"}),
        ))
        .unwrap();
        assert_eq!(rsa.algorithms, [Algorithm::RS256]);
        let undeclared = verifying_key(&jwk(
            serde_json::json!({"kty": "RSA", "kid": "r", "n": N, "e": "AQAB"}),
        ))
        .unwrap();
        assert!(!undeclared.algorithms.contains(&Algorithm::HS256));
        // An RSA key that says it is for HS256 is not a key we use.
        assert!(
            verifying_key(&jwk(
                serde_json::json!({"kty": "RSA", "kid": "r", "n": N, "e": "AQAB", "alg": "HS256"})
            ))
            .is_none()
        );
        assert!(
            verifying_key(&jwk(
                serde_json::json!({"kty": "oct", "kid": "s", "k": "c2VjcmV0", "alg": "HS256"})
            ))
            .is_none()
        );
        assert!(
            verifying_key(&jwk(
                serde_json::json!({"kty": "RSA", "kid": "e", "n": N, "e": "AQAB", "use": "enc"})
            ))
            .is_none()
        );
    }
}
