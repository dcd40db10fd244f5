//! The principals document (API key digests and IAM ARNs with their policies), loaded from
//! Secrets Manager or a file, re-read after a TTL so rotations take effect without a redeploy.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::{Mutex, RwLock};

use super::policy::{Policy, PolicyError};
use super::{AuthError, Principal};

/// Where the document lives.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// A local JSON file (`API_KEYS_FILE`), for `serve` and tests.
    File(PathBuf),
    /// An AWS Secrets Manager secret (`API_KEYS_SECRET_ID`).
    SecretsManager {
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
    },
}

impl KeySource {
    fn describe(&self) -> String {
        match self {
            KeySource::File(path) => format!("API_KEYS_FILE {}", path.display()),
            KeySource::SecretsManager { secret_id, .. } => format!("secret {secret_id}"),
        }
    }

    async fn fetch(&self) -> Result<String, PrincipalsError> {
        let unreadable = |detail: String| PrincipalsError::Unreadable {
            origin: self.describe(),
            detail,
        };
        match self {
            KeySource::File(path) => tokio::fs::read_to_string(path)
                .await
                .map_err(|e| unreadable(e.to_string())),
            KeySource::SecretsManager { client, secret_id } => {
                let output = client
                    .get_secret_value()
                    .secret_id(secret_id)
                    .send()
                    .await
                    .map_err(|e| {
                        unreadable(
                            aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
                        )
                    })?;
                output
                    .secret_string()
                    .map(str::to_owned)
                    .ok_or_else(|| unreadable("the secret has no SecretString".to_owned()))
            }
        }
    }
}

/// The document as stored. Keys are never stored in clear: only their SHA-256.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    keys: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    /// Hex SHA-256 of an API key.
    sha256: Option<String>,
    /// IAM principal ARN (glob allowed), for `AUTH_MODE=iam`.
    principal_arn: Option<String>,
    #[serde(default = "everything")]
    buckets: Vec<String>,
    #[serde(default = "everything")]
    prefixes: Vec<String>,
    max_bytes: Option<u64>,
}

fn everything() -> Vec<String> {
    vec!["*".to_owned()]
}

/// One principal, ready for matching.
#[derive(Debug)]
struct Record {
    id: String,
    digest: Option<[u8; 32]>,
    arn: Option<glob::Pattern>,
    policy: Policy,
}

/// A principals document that cannot be read or used; stops the server at start.
#[derive(Debug, thiserror::Error)]
pub enum PrincipalsError {
    #[error("cannot read {origin}: {detail}")]
    Unreadable { origin: String, detail: String },
    #[error("{origin}: {problem}")]
    Invalid {
        origin: String,
        problem: DocumentError,
    },
}

/// What is wrong inside a principals document; says which entry and why.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error(
        "not a principals document ({0}); expected {{\"keys\":[{{\"id\":…,\"sha256\":…,\"buckets\":[…],\"prefixes\":[…]}}]}}"
    )]
    Shape(String),
    #[error("an entry has an empty id")]
    EmptyId,
    #[error("id {0:?} appears twice")]
    DuplicateId(String),
    #[error("{0}: sha256 must be 64 hex digits (printf %s \"$KEY\" | sha256sum)")]
    Digest(String),
    #[error("{id}: principal_arn: {detail}")]
    Arn { id: String, detail: String },
    #[error("{0}: give exactly one of sha256 (API key) or principal_arn (IAM)")]
    Credential(String),
    #[error("{id}: {problem}")]
    Policy { id: String, problem: PolicyError },
}

/// Parses and validates a document.
fn parse(text: &str) -> Result<Vec<Record>, DocumentError> {
    let document: Document =
        serde_json::from_str(text).map_err(|e| DocumentError::Shape(e.to_string()))?;
    let mut records = Vec::with_capacity(document.keys.len());
    for entry in document.keys {
        let id = entry.id.trim().to_owned();
        if id.is_empty() {
            return Err(DocumentError::EmptyId);
        }
        if records.iter().any(|r: &Record| r.id == id) {
            return Err(DocumentError::DuplicateId(id));
        }
        let digest = match &entry.sha256 {
            Some(hex_digest) => Some(
                hex::decode(hex_digest.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| DocumentError::Digest(id.clone()))?,
            ),
            None => None,
        };
        let arn = match &entry.principal_arn {
            Some(arn) => Some(glob::Pattern::new(arn).map_err(|e| DocumentError::Arn {
                id: id.clone(),
                detail: e.to_string(),
            })?),
            None => None,
        };
        if digest.is_none() == arn.is_none() {
            return Err(DocumentError::Credential(id));
        }
        let policy =
            Policy::new(&entry.buckets, &entry.prefixes, entry.max_bytes).map_err(|problem| {
                DocumentError::Policy {
                    id: id.clone(),
                    problem,
                }
            })?;
        records.push(Record {
            id,
            digest,
            arn,
            policy,
        });
    }
    Ok(records)
}

struct Loaded {
    records: Arc<Vec<Record>>,
    checked_at: Instant,
}

/// The current principals, refreshed from their source at most once per TTL.
pub struct KeyStore {
    source: KeySource,
    ttl: Duration,
    current: RwLock<Loaded>,
    refreshing: Mutex<()>,
}

impl KeyStore {
    /// Loads the document once; a missing or invalid document stops the server at start.
    pub async fn load(source: KeySource, ttl: Duration) -> Result<Self, PrincipalsError> {
        let text = source.fetch().await?;
        let records = parse(&text).map_err(|problem| PrincipalsError::Invalid {
            origin: source.describe(),
            problem,
        })?;
        tracing::info!(source = %source.describe(), principals = records.len(), "principals loaded");
        Ok(KeyStore {
            source,
            ttl,
            current: RwLock::new(Loaded {
                records: Arc::new(records),
                checked_at: Instant::now(),
            }),
            refreshing: Mutex::new(()),
        })
    }

    /// The principal whose key digest equals the presented key's (compared in constant time).
    pub async fn by_api_key(&self, presented: &str) -> Result<Principal, AuthError> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let records = self.records().await;
        let mut found = None;
        // Every digest is compared, whatever matched before.
        for record in records.iter() {
            if let Some(expected) = &record.digest
                && bool::from(expected.ct_eq(&digest))
                && found.is_none()
            {
                found = Some(record);
            }
        }
        found.map(to_principal).ok_or(AuthError::InvalidCredentials)
    }

    /// The principal whose `principal_arn` pattern matches the caller's IAM identity.
    pub async fn by_iam_arn(&self, arn: &str) -> Result<Principal, AuthError> {
        let arn = normalize_arn(arn);
        let records = self.records().await;
        records
            .iter()
            .find(|r| r.arn.as_ref().is_some_and(|p| p.matches(&arn)))
            .map(to_principal)
            .ok_or(AuthError::UnknownIdentity)
    }

    /// The loaded records, re-read from the source once the TTL has passed. One caller refreshes
    /// while the others keep using the current set; a failed refresh keeps the last good one.
    async fn records(&self) -> Arc<Vec<Record>> {
        {
            let current = self.current.read().await;
            if current.checked_at.elapsed() < self.ttl {
                return current.records.clone();
            }
        }
        let Ok(_guard) = self.refreshing.try_lock() else {
            return self.current.read().await.records.clone();
        };
        let refreshed = match self.source.fetch().await {
            Ok(text) => parse(&text).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let mut current = self.current.write().await;
        current.checked_at = Instant::now();
        match refreshed {
            Ok(records) => {
                if records.len() != current.records.len() {
                    tracing::info!(principals = records.len(), "principals reloaded");
                }
                current.records = Arc::new(records);
            }
            Err(e) => {
                tracing::warn!(source = %self.source.describe(), error = %e, "refreshing principals failed; keeping the last good set");
            }
        }
        current.records.clone()
    }
}

fn to_principal(record: &Record) -> Principal {
    Principal {
        id: record.id.clone(),
        policy: record.policy.clone(),
    }
}

/// A role session (`arn:aws:sts::123:assumed-role/Role/session`) is matched as its role
/// (`arn:aws:iam::123:role/Role`), which is what policies name.
fn normalize_arn(arn: &str) -> String {
    if let Some(rest) = arn.strip_prefix("arn:aws:sts::")
        && let Some((account, role_session)) = rest.split_once(":assumed-role/")
        && let Some((role, _session)) = role_session.rsplit_once('/')
    {
        return format!("arn:aws:iam::{account}:role/{role}");
    }
    arn.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_DIGEST: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"; // "password"

    #[test]
    fn documents_are_validated_with_reasons() {
        for (text, expected) in [
            ("{}", "not a principals document"),
            (r#"{"keys":[{"id":"a"}]}"#, "exactly one of"),
            (r#"{"keys":[{"id":"a","sha256":"abc"}]}"#, "64 hex"),
            (r#"{"keys":[{"id":"","sha256":"x"}]}"#, "empty id"),
            (
                &format!(
                    r#"{{"keys":[{{"id":"a","sha256":"{KEY_DIGEST}"}},{{"id":"a","sha256":"{KEY_DIGEST}"}}]}}"#
                ),
                "twice",
            ),
            (
                r#"{"keys":[{"id":"a","sha256":"x","extra":1}]}"#,
                "unknown field",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn a_valid_document_parses_with_default_policy() {
        let records = parse(&format!(
            r#"{{"keys":[{{"id":"designer","sha256":"{KEY_DIGEST}"}}]}}"#
        ))
        .unwrap();
        assert_eq!(records[0].id, "designer");
        assert!(records[0].policy.allows_bucket("any"));
    }

    #[test]
    fn assumed_role_sessions_match_as_their_role() {
        assert_eq!(
            normalize_arn("arn:aws:sts::123456789012:assumed-role/Deployer/ci-42"),
            "arn:aws:iam::123456789012:role/Deployer"
        );
        assert_eq!(
            normalize_arn("arn:aws:iam::123456789012:user/alice"),
            "arn:aws:iam::123456789012:user/alice"
        );
    }
}
