//! How to reach the object store and how to cope with it being slow or failing. Plain data,
//! filled from the environment by `config` and given to [`super::Storage::connect`].

use std::time::Duration;

/// The store's address, addressing style, public URL base, resilience and multipart policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StorageSettings {
    /// `AWS_REGION`; the SDK's own chain (profile, instance metadata) when unset.
    pub region: Option<String>,
    /// `S3_ENDPOINT_URL`: an S3-compatible endpoint instead of AWS.
    pub endpoint_url: Option<String>,
    /// `S3_FORCE_PATH_STYLE`: path-style addressing (default on with a custom endpoint).
    pub force_path_style: bool,
    /// `PUBLIC_BASE_URL`: base of returned URLs (CloudFront, a custom domain), no trailing slash.
    pub public_base_url: Option<String>,
    pub tuning: StorageTuning,
    pub multipart: MultipartPolicy,
}

/// How the S3 client copes with a slow or failing store: the SDK's own retry and timeout
/// machinery, plus a per-process circuit breaker (see `storage::breaker`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageTuning {
    /// Attempts per S3 call including the first (`S3_MAX_ATTEMPTS`; 1 = no retries).
    pub max_attempts: u32,
    /// `standard` (exponential backoff with jitter) or `adaptive` (also rate-limits the client
    /// when S3 throttles) (`S3_RETRY_MODE`).
    pub retry_mode: RetryMode,
    /// First backoff before a retry; doubles per attempt with full jitter (`S3_RETRY_INITIAL_BACKOFF_MS`).
    pub initial_backoff: Duration,
    /// Longest backoff between attempts (`S3_RETRY_MAX_BACKOFF_MS`).
    pub max_backoff: Duration,
    /// Time to establish a TCP/TLS connection (`S3_CONNECT_TIMEOUT_MS`).
    pub connect_timeout: Duration,
    /// One attempt, from sending to the last response byte (`S3_ATTEMPT_TIMEOUT_MS`). A stalled
    /// attempt is cut here and retried.
    pub attempt_timeout: Duration,
    /// A whole call including every retry and backoff (`S3_OPERATION_TIMEOUT_MS`): the longest
    /// an upload waits for S3 before it reports "storage unavailable".
    pub operation_timeout: Duration,
    /// Consecutive failed S3 calls (5xx, throttling, timeouts, connection errors; not 4xx) that
    /// open the circuit breaker (`CIRCUIT_BREAKER_THRESHOLD`; 0 disables the breaker).
    pub breaker_threshold: u32,
    /// How long an open breaker fails calls fast before letting one probe through
    /// (`CIRCUIT_BREAKER_COOLDOWN_SECONDS`).
    pub breaker_cooldown: Duration,
}

impl StorageTuning {
    /// Most attempts a call may be configured with.
    pub const MAX_ATTEMPTS: u32 = 10;
    /// Longest breaker cooldown that may be configured.
    pub const MAX_COOLDOWN: Duration = Duration::from_secs(3600);
}

impl Default for StorageTuning {
    fn default() -> Self {
        StorageTuning {
            max_attempts: 3,
            retry_mode: RetryMode::Standard,
            initial_backoff: Duration::from_millis(1000),
            max_backoff: Duration::from_millis(20_000),
            connect_timeout: Duration::from_millis(3000),
            attempt_timeout: Duration::from_millis(10_000),
            operation_timeout: Duration::from_millis(30_000),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(10),
        }
    }
}

/// The SDK retry mode, named without the SDK's type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RetryMode {
    #[default]
    Standard,
    Adaptive,
}

/// How large writes are split (S3 needs parts of at least 5 MiB, except the last).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultipartPolicy {
    /// Objects of this size or more go up in parts (`MULTIPART_THRESHOLD_BYTES`).
    pub threshold: usize,
    pub part_size: usize,
    /// Parts in flight at once.
    pub concurrency: usize,
}

impl MultipartPolicy {
    /// S3's smallest part (every part but the last).
    pub const MIN_PART: usize = 5 * 1024 * 1024;
}

impl Default for MultipartPolicy {
    fn default() -> Self {
        MultipartPolicy {
            threshold: 8 * 1024 * 1024,
            part_size: 8 * 1024 * 1024,
            concurrency: 4,
        }
    }
}
