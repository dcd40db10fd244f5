//! Object storage: the only place that knows the S3 SDK. Plain Rust types in and out.

pub mod breaker;
pub mod keys;
pub mod urls;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine as _;

use crate::config::Config;
pub use urls::PublicUrls;

/// Region used when neither the environment nor a profile names one (S3-compatible servers ignore it).
const FALLBACK_REGION: &str = "us-east-1";

/// An object to write.
#[derive(Debug)]
pub struct NewObject {
    pub bucket: String,
    pub key: String,
    pub body: Vec<u8>,
    pub content_type: String,
    pub cache_control: String,
    /// User metadata; values must be ASCII (S3 sends them as HTTP headers).
    pub metadata: Vec<(&'static str, String)>,
    pub sha256: [u8; 32],
}

/// What S3 said about a written object.
#[derive(Debug)]
pub struct StoredObject {
    pub etag: String,
}

/// Why the store refused or failed; says whether retrying can help.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "S3 denied {operation} on bucket {bucket:?}; the server's credentials lack permission for it (check the execution role's policy)"
    )]
    AccessDenied {
        operation: &'static str,
        bucket: String,
    },
    #[error("bucket {bucket:?} does not exist; create it or fix S3_BUCKET_NAME / ALLOWED_BUCKETS")]
    NoSuchBucket { bucket: String },
    #[error("storage is unavailable right now ({detail}); retry in a few seconds")]
    Unavailable { detail: String },
    #[error("S3 refused {operation}: {code}: {message}")]
    Rejected {
        operation: &'static str,
        code: String,
        message: String,
    },
}

impl StorageError {
    /// A stable tag for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            StorageError::AccessDenied { .. } => "access_denied",
            StorageError::NoSuchBucket { .. } => "no_such_bucket",
            StorageError::Unavailable { .. } => "unavailable",
            StorageError::Rejected { .. } => "rejected",
        }
    }

    fn from_sdk<E, R>(operation: &'static str, bucket: &str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        if let Some(open) = breaker_refusal(std::error::Error::source(&err)) {
            return StorageError::Unavailable {
                detail: open.to_string(),
            };
        }
        match &err {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().unwrap_or("Unknown").to_owned();
                match code.as_str() {
                    "AccessDenied"
                    | "Forbidden"
                    | "InvalidAccessKeyId"
                    | "SignatureDoesNotMatch" => StorageError::AccessDenied {
                        operation,
                        bucket: bucket.to_owned(),
                    },
                    "NoSuchBucket" => StorageError::NoSuchBucket {
                        bucket: bucket.to_owned(),
                    },
                    "SlowDown" | "ServiceUnavailable" | "InternalError" | "RequestTimeout" => {
                        StorageError::Unavailable { detail: code }
                    }
                    _ => StorageError::Rejected {
                        operation,
                        code,
                        message: e.message().unwrap_or_default().to_owned(),
                    },
                }
            }
            SdkError::TimeoutError(_) => StorageError::Unavailable {
                detail: "timed out".into(),
            },
            SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
                StorageError::Unavailable {
                    detail: aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
                }
            }
            _ => StorageError::Unavailable {
                detail: aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
            },
        }
    }
}

/// The breaker's fail-fast refusal, if that is what `err` is (it arrives wrapped by the SDK).
fn breaker_refusal<'a>(
    source: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a breaker::BreakerOpen> {
    let mut current = source;
    while let Some(e) = current {
        if let Some(open) = e.downcast_ref::<breaker::BreakerOpen>() {
            return Some(open);
        }
        current = e.source();
    }
    None
}

/// The SDK's own retry (standard/adaptive, exponential backoff with jitter), timeouts, and the
/// per-process circuit breaker, from `StorageTuning`. Each client gets its own retry token bucket
/// instead of the SDK's process-wide one, so one client's retry storm cannot starve another's.
fn resilience(
    s3: aws_sdk_s3::config::Builder,
    tuning: &crate::config::StorageTuning,
) -> aws_sdk_s3::config::Builder {
    use aws_sdk_s3::config::retry::{RetryConfig, RetryPartition};
    use aws_sdk_s3::config::timeout::TimeoutConfig;
    let retry = match tuning.retry_mode {
        crate::config::RetryMode::Standard => RetryConfig::standard(),
        crate::config::RetryMode::Adaptive => RetryConfig::adaptive(),
    }
    .with_max_attempts(tuning.max_attempts)
    .with_initial_backoff(tuning.initial_backoff)
    .with_max_backoff(tuning.max_backoff);
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(tuning.connect_timeout)
        .operation_attempt_timeout(tuning.attempt_timeout)
        .operation_timeout(tuning.operation_timeout)
        .build();
    let breaker = std::sync::Arc::new(breaker::CircuitBreaker::new(
        tuning.breaker_threshold,
        tuning.breaker_cooldown,
        tuning.operation_timeout,
    ));
    s3.retry_config(retry)
        .timeout_config(timeouts)
        .retry_partition(RetryPartition::custom("s3-upload-mcp").build())
        .interceptor(breaker::BreakerInterceptor::new(breaker))
}

/// Static credentials for a store the process runs itself (the embedded server).
#[derive(Clone, Debug)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// The S3 client and how to name what it stores. Built once at start; cheap to clone.
#[derive(Clone, Debug)]
pub struct Storage {
    client: Client,
    urls: PublicUrls,
}

impl Storage {
    /// Builds the SDK client from the configuration (and the default AWS credential chain unless
    /// `credentials` are given). Call once at init: it reads the environment and profile files.
    pub async fn connect(config: &Config, credentials: Option<StaticCredentials>) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &config.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(creds) = credentials {
            loader = loader.credentials_provider(Credentials::new(
                creds.access_key_id,
                creds.secret_access_key,
                None,
                None,
                "s3-upload-mcp-static",
            ));
        }
        let shared = loader.load().await;
        let region = shared
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| FALLBACK_REGION.to_owned());
        let mut s3 = aws_sdk_s3::config::Builder::from(&shared)
            .region(Region::new(region.clone()))
            .force_path_style(config.force_path_style);
        s3 = resilience(s3, &config.storage_tuning);
        if let Some(endpoint) = &config.s3_endpoint_url {
            s3 = s3.endpoint_url(endpoint);
        }
        let urls = match (&config.public_base_url, &config.s3_endpoint_url) {
            (Some(base), _) => PublicUrls::Base(base.clone()),
            (None, Some(endpoint)) => PublicUrls::PathStyle {
                endpoint: endpoint.clone(),
            },
            (None, None) => PublicUrls::Aws { region },
        };
        Storage {
            client: Client::from_conf(s3.build()),
            urls,
        }
    }

    /// The URL at which `key` in `bucket` is served.
    pub fn public_url(&self, bucket: &str, key: &str) -> String {
        self.urls.url(bucket, key)
    }

    /// Writes one object with its content type, cache policy, metadata and a SHA-256 checksum
    /// that S3 verifies, so a corrupted transfer is refused instead of stored.
    pub async fn put(&self, object: NewObject) -> Result<StoredObject, StorageError> {
        let checksum = base64::engine::general_purpose::STANDARD.encode(object.sha256);
        let mut request = self
            .client
            .put_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .content_type(object.content_type)
            .cache_control(object.cache_control)
            .checksum_sha256(checksum)
            .body(ByteStream::from(object.body));
        for (name, value) in object.metadata {
            request = request.metadata(name, value);
        }
        let output = request
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("PutObject", &object.bucket, e))?;
        Ok(StoredObject {
            etag: output
                .e_tag()
                .unwrap_or_default()
                .trim_matches('"')
                .to_owned(),
        })
    }

    /// Names of the buckets the credentials can list.
    pub async fn list_buckets(&self) -> Result<Vec<String>, StorageError> {
        let output = self
            .client
            .list_buckets()
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("ListBuckets", "*", e))?;
        Ok(output
            .buckets()
            .iter()
            .filter_map(|b| b.name().map(str::to_owned))
            .collect())
    }

    /// Creates `bucket` unless it exists (for the embedded store, which starts empty).
    pub async fn ensure_bucket(&self, bucket: &str) -> Result<(), StorageError> {
        match self.client.create_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.code(),
                    Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(StorageError::from_sdk("CreateBucket", bucket, e)),
        }
    }
}
