//! The principals document (API key digests, IAM ARNs, OAuth groups and subjects, each with a
//! policy), loaded from Secrets Manager or a file, re-read after a TTL so rotations take effect
//! without a redeploy.

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
    /// A group in OAuth access tokens (the `OAUTH_GROUPS_CLAIM` claim), for `AUTH_MODE=oauth`.
    oauth_group: Option<String>,
    /// An OAuth access token's `sub`, for `AUTH_MODE=oauth`.
    oauth_subject: Option<String>,
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
    oauth: Option<ClaimMatch>,
    policy: Policy,
}

/// Which access tokens an entry stands for.
#[derive(Debug, PartialEq, Eq)]
enum ClaimMatch {
    Group(String),
    Subject(String),
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
    #[error(
        "{0}: give exactly one of sha256 (API key), principal_arn (IAM), oauth_group or oauth_subject (OAuth)"
    )]
    Credential(String),
    #[error("{0}: oauth_group and oauth_subject must not be empty")]
    EmptyClaim(String),
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
        let oauth = match (&entry.oauth_group, &entry.oauth_subject) {
            (Some(group), None) => Some(ClaimMatch::Group(group.clone())),
            (None, Some(subject)) => Some(ClaimMatch::Subject(subject.clone())),
            (None, None) => None,
            (Some(_), Some(_)) => return Err(DocumentError::Credential(id)),
        };
        if matches!(&oauth, Some(ClaimMatch::Group(v) | ClaimMatch::Subject(v)) if v.is_empty()) {
            return Err(DocumentError::EmptyClaim(id));
        }
        let credentials = usize::from(digest.is_some())
            + usize::from(arn.is_some())
            + usize::from(oauth.is_some());
        if credentials != 1 {
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
            oauth,
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

    /// The principal an access token stands for: the entry naming its subject, else the first
    /// entry (in document order) naming one of its groups.
    pub async fn by_access_token(&self, subject: &str, groups: &[String]) -> Option<Principal> {
        let records = self.records().await;
        let by_subject = records
            .iter()
            .find(|r| matches!(&r.oauth, Some(ClaimMatch::Subject(s)) if s == subject));
        let by_group = || {
            records
                .iter()
                .find(|r| matches!(&r.oauth, Some(ClaimMatch::Group(g)) if groups.contains(g)))
        };
        by_subject.or_else(by_group).map(|record| Principal {
            subject: Some(subject.to_owned()),
            ..to_principal(record)
        })
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
        subject: None,
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
            (
                r#"{"keys":[{"id":"a","oauth_group":"g","oauth_subject":"s"}]}"#,
                "exactly one of",
            ),
            (
                &format!(r#"{{"keys":[{{"id":"a","sha256":"{KEY_DIGEST}","oauth_group":"g"}}]}}"#),
                "exactly one of",
            ),
            (
                r#"{"keys":[{"id":"a","oauth_group":""}]}"#,
                "must not be empty",
            ),
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
    fn access_tokens_match_their_subject_first_then_their_first_listed_group() {
        let records = parse(
            r#"{"keys":[
                {"id":"design-team","oauth_group":"designers","prefixes":["figma/*"]},
                {"id":"marketing","oauth_group":"marketing","prefixes":["campaigns/*"]},
                {"id":"ann","oauth_subject":"00u-ann","prefixes":["ann/*"]}
            ]}"#,
        )
        .unwrap();
        let store = KeyStore {
            source: KeySource::File(PathBuf::new()),
            ttl: Duration::from_secs(3600),
            current: RwLock::new(Loaded {
                records: Arc::new(records),
                checked_at: Instant::now(),
            }),
            refreshing: Mutex::new(()),
        };
        let groups = |g: &[&str]| g.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let run = |sub: &'static str, g: Vec<String>| {
            let store = &store;
            async move {
                store
                    .by_access_token(sub, &g)
                    .await
                    .map(|p| (p.id, p.subject))
            }
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(
            rt.block_on(run("00u-ann", groups(&["designers"]))),
            Some(("ann".into(), Some("00u-ann".into())))
        );
        assert_eq!(
            rt.block_on(run("bob", groups(&["marketing", "designers"]))),
            Some(("design-team".into(), Some("bob".into())))
        );
        assert_eq!(rt.block_on(run("eve", groups(&["admins"]))), None);
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
