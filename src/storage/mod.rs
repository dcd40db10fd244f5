//! Object storage: the only place that knows the S3 SDK. Plain Rust types in and out.

pub mod breaker;
pub mod keys;
mod settings;
pub mod urls;

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use base64::Engine as _;
use futures::{StreamExt as _, TryStreamExt as _};
use sha2::{Digest as _, Sha256};

pub use settings::{MultipartPolicy, RetryMode, StorageSettings, StorageTuning};
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

/// Whether a write may replace an existing object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// Conditional write (`If-None-Match: *`): an existing object is left alone.
    CreateOnly,
    /// Replace whatever is there.
    Overwrite,
}

/// The result of a write.
#[derive(Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// The object was written; S3's ETag without quotes.
    Stored { etag: String },
    /// `CreateOnly` and an object already exists at the key; nothing was written.
    AlreadyExists,
}

/// What HEAD says about an object.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    pub size: u64,
    pub etag: String,
    /// Hex SHA-256 from the object's `sha256` metadata, when it was written by this service.
    pub sha256: Option<String>,
}

/// What a presigned PUT may write: exactly these many bytes of this type, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutTerms {
    pub content_type: String,
    pub content_length: u64,
}

/// A presigned PUT: the URL and the headers the client must send with it (besides `Host` and
/// `Content-Length`, which HTTP clients set themselves).
#[derive(Debug, Clone)]
pub struct PresignedPut {
    pub url: String,
    pub headers: Vec<(String, String)>,
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
    /// The circuit breaker is open: calls fail fast instead of waiting on a failing store.
    #[error(transparent)]
    CircuitOpen(#[from] breaker::BreakerOpen),
    #[error("S3 refused {operation}: {code}: {message}")]
    Rejected {
        operation: &'static str,
        code: String,
        message: String,
    },
    /// An object read back was larger than the caller may send.
    #[error("{key} is larger than {limit} bytes")]
    ObjectTooLarge { key: String, limit: usize },
    /// A presigned URL could not be made (an expiry outside what S3 accepts).
    #[error("cannot presign {operation}: {detail}")]
    Presign {
        operation: &'static str,
        detail: String,
    },
}

impl StorageError {
    /// A stable tag for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            StorageError::AccessDenied { .. } => "access_denied",
            StorageError::NoSuchBucket { .. } => "no_such_bucket",
            StorageError::Unavailable { .. } => "unavailable",
            StorageError::CircuitOpen(_) => "circuit_open",
            StorageError::Rejected { .. } => "rejected",
            StorageError::ObjectTooLarge { .. } => "object_too_large",
            StorageError::Presign { .. } => "presign_failed",
        }
    }

    fn from_sdk<E, R>(operation: &'static str, bucket: &str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        if let Some(open) = breaker_refusal(std::error::Error::source(&err)) {
            return StorageError::CircuitOpen(open.clone());
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
    tuning: &StorageTuning,
) -> aws_sdk_s3::config::Builder {
    use aws_sdk_s3::config::retry::{RetryConfig, RetryPartition};
    use aws_sdk_s3::config::timeout::TimeoutConfig;
    let retry = match tuning.retry_mode {
        RetryMode::Standard => RetryConfig::standard(),
        RetryMode::Adaptive => RetryConfig::adaptive(),
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

/// A store this process runs itself: its endpoint and the credentials it made up at start.
/// Connecting to one forces path-style addressing and a fixed region (no instance-metadata
/// probing on a laptop), and returned URLs point at it.
#[derive(Clone, Debug)]
pub struct LocalEndpoint {
    pub url: String,
    pub credentials: StaticCredentials,
}

/// The S3 client and how to name what it stores. Built once at start; cheap to clone.
#[derive(Clone, Debug)]
pub struct Storage {
    client: Client,
    urls: PublicUrls,
    multipart: MultipartPolicy,
}

impl Storage {
    /// Builds the SDK client from `settings` and the default AWS credential chain, or for a
    /// `local` store with its static credentials. Call once at init: it reads the environment
    /// and profile files.
    pub async fn connect(settings: &StorageSettings, local: Option<LocalEndpoint>) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        let region = match (&settings.region, &local) {
            (Some(region), _) => Some(region.clone()),
            (None, Some(_)) => Some(FALLBACK_REGION.to_owned()),
            (None, None) => None,
        };
        if let Some(region) = region {
            loader = loader.region(Region::new(region));
        }
        if let Some(local) = &local {
            loader = loader.credentials_provider(Credentials::new(
                local.credentials.access_key_id.clone(),
                local.credentials.secret_access_key.clone(),
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
        let endpoint = local
            .as_ref()
            .map(|l| l.url.clone())
            .or_else(|| settings.endpoint_url.clone());
        let mut s3 = aws_sdk_s3::config::Builder::from(&shared)
            .region(Region::new(region.clone()))
            .force_path_style(settings.force_path_style || local.is_some());
        s3 = resilience(s3, &settings.tuning);
        if let Some(endpoint) = &endpoint {
            s3 = s3.endpoint_url(endpoint);
        }
        let urls = match (&settings.public_base_url, endpoint) {
            (Some(base), _) => PublicUrls::Base(base.clone()),
            (None, Some(endpoint)) => PublicUrls::PathStyle { endpoint },
            (None, None) => PublicUrls::Aws { region },
        };
        Storage {
            client: Client::from_conf(s3.build()),
            urls,
            multipart: settings.multipart,
        }
    }

    /// The URL at which `key` in `bucket` is served.
    pub fn public_url(&self, bucket: &str, key: &str) -> String {
        self.urls.url(bucket, key)
    }

    /// Writes one object with its content type, cache policy, metadata and a SHA-256 checksum
    /// that S3 verifies, so a corrupted transfer is refused instead of stored. Large objects go
    /// up as a multipart upload, aborted on any failure so no parts are left behind.
    pub async fn put(
        &self,
        object: NewObject,
        mode: WriteMode,
    ) -> Result<PutOutcome, StorageError> {
        if object.body.len() >= self.multipart.threshold {
            return self.put_multipart(object, mode).await;
        }
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
        if mode == WriteMode::CreateOnly {
            request = request.if_none_match("*");
        }
        for (name, value) in object.metadata {
            request = request.metadata(name, value);
        }
        match request.send().await {
            Ok(output) => Ok(PutOutcome::Stored {
                etag: unquote(output.e_tag()),
            }),
            Err(e) if is_precondition_failed(&e) => Ok(PutOutcome::AlreadyExists),
            Err(e) => Err(StorageError::from_sdk("PutObject", &object.bucket, e)),
        }
    }

    async fn put_multipart(
        &self,
        object: NewObject,
        mode: WriteMode,
    ) -> Result<PutOutcome, StorageError> {
        let bucket = object.bucket.as_str();
        let mut create = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(&object.key)
            .content_type(&object.content_type)
            .cache_control(&object.cache_control)
            .checksum_algorithm(ChecksumAlgorithm::Sha256);
        for (name, value) in &object.metadata {
            create = create.metadata(*name, value);
        }
        let created = create
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("CreateMultipartUpload", bucket, e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_owned();

        let result = self
            .send_parts_and_complete(&object, &upload_id, mode)
            .await;
        if !matches!(result, Ok(PutOutcome::Stored { .. })) {
            // Whatever went wrong (or an object already exists), leave no orphan parts.
            if let Err(e) = self
                .client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(&object.key)
                .upload_id(&upload_id)
                .send()
                .await
            {
                tracing::warn!(bucket, key = %object.key, error = %StorageError::from_sdk("AbortMultipartUpload", bucket, e),
                    "could not abort a multipart upload; the bucket's lifecycle rule will remove its parts");
            }
        }
        result
    }

    async fn send_parts_and_complete(
        &self,
        object: &NewObject,
        upload_id: &str,
        mode: WriteMode,
    ) -> Result<PutOutcome, StorageError> {
        let bucket = object.bucket.as_str();
        // Futures collected first, then polled a few at a time (a closure inside the stream
        // would make the whole future fail rustc's Send check for borrowed captures).
        let uploads: Vec<_> = object
            .body
            .chunks(self.multipart.part_size)
            .enumerate()
            .map(|(index, chunk)| self.upload_part(object, upload_id, index + 1, chunk))
            .collect();
        let parts = futures::stream::iter(uploads)
            .buffered(self.multipart.concurrency)
            .try_collect::<Vec<_>>()
            .await?;

        let mut complete = self
            .client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(&object.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            );
        if mode == WriteMode::CreateOnly {
            complete = complete.if_none_match("*");
        }
        match complete.send().await {
            Ok(output) => Ok(PutOutcome::Stored {
                etag: unquote(output.e_tag()),
            }),
            Err(e) if is_precondition_failed(&e) => Ok(PutOutcome::AlreadyExists),
            Err(e) => Err(StorageError::from_sdk("CompleteMultipartUpload", bucket, e)),
        }
    }

    async fn upload_part(
        &self,
        object: &NewObject,
        upload_id: &str,
        number: usize,
        chunk: &[u8],
    ) -> Result<CompletedPart, StorageError> {
        let number = i32::try_from(number).expect("at most 10,000 parts");
        let checksum = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(chunk));
        let output = self
            .client
            .upload_part()
            .bucket(&object.bucket)
            .key(&object.key)
            .upload_id(upload_id)
            .part_number(number)
            .checksum_sha256(&checksum)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("UploadPart", &object.bucket, e))?;
        Ok(CompletedPart::builder()
            .part_number(number)
            .e_tag(output.e_tag().unwrap_or_default())
            .checksum_sha256(checksum)
            .build())
    }

    /// Size, ETag and our metadata of an object, or `None` when there is none.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectInfo>, StorageError> {
        match self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => Ok(Some(ObjectInfo {
                size: output
                    .content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                etag: unquote(output.e_tag()),
                sha256: output.metadata().and_then(|m| m.get("sha256")).cloned(),
            })),
            Err(SdkError::ServiceError(e)) if e.err().is_not_found() => Ok(None),
            Err(e) => Err(StorageError::from_sdk("HeadObject", bucket, e)),
        }
    }

    /// Reads a whole object of known size into one buffer, refusing more than `max_bytes`.
    /// Chunks are appended as they arrive: the body is never held twice.
    pub async fn get(
        &self,
        bucket: &str,
        key: &str,
        max_bytes: usize,
    ) -> Result<Vec<u8>, StorageError> {
        let output = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("GetObject", bucket, e))?;
        let declared = output
            .content_length()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0);
        let mut buffer = Vec::with_capacity(declared.min(max_bytes));
        let mut body = output.body;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| StorageError::Unavailable {
                detail: format!("reading {key}: {e}"),
            })?
        {
            if buffer.len() + chunk.len() > max_bytes {
                return Err(StorageError::ObjectTooLarge {
                    key: key.to_owned(),
                    limit: max_bytes,
                });
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok(buffer)
    }

    pub async fn delete(&self, bucket: &str, key: &str) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| StorageError::from_sdk("DeleteObject", bucket, e))?;
        Ok(())
    }

    /// A URL that lets anyone holding it PUT one object at `key` until `expires_in` passes, and
    /// nothing else: the body's length, its content type and `If-None-Match: *` are signed, so
    /// S3 (and the embedded store) refuse a PUT of any other size or type, and a second PUT once
    /// an object sits at the key.
    pub async fn presign_put(
        &self,
        bucket: &str,
        key: &str,
        terms: &PutTerms,
        expires_in: Duration,
    ) -> Result<PresignedPut, StorageError> {
        let presigning =
            PresigningConfig::expires_in(expires_in).map_err(|e| StorageError::Presign {
                operation: "PutObject",
                detail: e.to_string(),
            })?;
        let request = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(&terms.content_type)
            .content_length(i64::try_from(terms.content_length).unwrap_or(i64::MAX))
            .if_none_match("*")
            .presigned(presigning)
            .await
            .map_err(|e| StorageError::from_sdk("PresignPutObject", bucket, e))?;
        Ok(PresignedPut {
            url: request.uri().to_owned(),
            // `Host` and `Content-Length` are signed too, but every HTTP client sets them itself
            // (browsers refuse to): the length is the body's, which must be exactly the signed one.
            headers: request
                .headers()
                .filter(|(name, _)| {
                    !name.eq_ignore_ascii_case("host")
                        && !name.eq_ignore_ascii_case("content-length")
                })
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        })
    }

    /// Keys under `prefix` that sort after `start_after`, in key order, at most `limit` of them.
    pub async fn list_keys(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let mut keys = Vec::new();
        let mut continuation: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .start_after(start_after)
                .max_keys(i32::try_from(limit - keys.len()).unwrap_or(1000).min(1000))
                .set_continuation_token(continuation.take())
                .send()
                .await
                .map_err(|e| StorageError::from_sdk("ListObjectsV2", bucket, e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|object| object.key().map(str::to_owned)),
            );
            match page.next_continuation_token() {
                Some(token) if page.is_truncated() == Some(true) && keys.len() < limit => {
                    continuation = Some(token.to_owned());
                }
                _ => break,
            }
        }
        keys.truncate(limit);
        Ok(keys)
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

fn unquote(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_owned()
}

fn is_precondition_failed<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(service) => {
            matches!(
                service.err().code(),
                Some("PreconditionFailed" | "ConditionalRequestConflict")
            )
        }
        _ => false,
    }
}
