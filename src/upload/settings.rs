//! What the pipeline may write and read, and its defaults and limits. Plain data, filled from
//! the environment by `config`.

use std::time::Duration;

use crate::imaging::{ImageDefaults, Limits};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadSettings {
    /// Bucket used when a call names none (`S3_BUCKET_NAME`).
    pub default_bucket: String,
    /// Buckets a call may name (`ALLOWED_BUCKETS`); always contains `default_bucket`.
    pub allowed_buckets: Vec<String>,
    /// The public root of the bucket (`KEY_PREFIX`), without slashes at either end; every final
    /// key lies under it.
    pub key_prefix: String,
    /// Prefix of presigned staging uploads (`STAGING_PREFIX`), ending in `/`; never public, and
    /// no final object may be written under it.
    pub staging_prefix: String,
    /// Lifetime of presigned staging URLs (`STAGING_URL_EXPIRY_SECONDS`).
    pub staging_url_expiry: Duration,
    /// Upload URLs one principal may hold unused at once (`MAX_OPEN_UPLOAD_URLS`): each lets
    /// one file of up to its size into the bucket.
    pub max_open_upload_urls: usize,
    /// What a call leaves out (`DEFAULT_FORMAT`, `DEFAULT_QUALITY`, `DEFAULT_MAX_WIDTH/HEIGHT`).
    pub defaults: ImageDefaults,
    /// Input bytes and pixels accepted (`MAX_INPUT_BYTES`, `MAX_PIXELS`).
    pub limits: Limits,
    /// Decoded pixels in flight across all uploads (`DECODE_BUDGET_PIXELS`): bounds memory
    /// under concurrency by image size, not only by count.
    pub decode_budget_pixels: u64,
    pub batch: BatchLimits,
}

impl UploadSettings {
    pub const DEFAULT_KEY_PREFIX: &str = "images";
    pub const DEFAULT_STAGING_PREFIX: &str = "_staging/";
    pub const DEFAULT_STAGING_URL_EXPIRY: Duration = Duration::from_secs(900);
    /// Two full batches' worth (`MAX_BATCH_ITEMS` defaults to 50).
    pub const DEFAULT_MAX_OPEN_UPLOAD_URLS: usize = 100;
    pub const DEFAULT_DECODE_BUDGET_PIXELS: u64 = 100_000_000;

    /// Settings for `bucket` with every other value at its default.
    pub fn for_bucket(bucket: &str) -> Self {
        UploadSettings {
            default_bucket: bucket.to_owned(),
            allowed_buckets: vec![bucket.to_owned()],
            key_prefix: Self::DEFAULT_KEY_PREFIX.to_owned(),
            staging_prefix: Self::DEFAULT_STAGING_PREFIX.to_owned(),
            staging_url_expiry: Self::DEFAULT_STAGING_URL_EXPIRY,
            max_open_upload_urls: Self::DEFAULT_MAX_OPEN_UPLOAD_URLS,
            defaults: ImageDefaults::default(),
            limits: Limits::default(),
            decode_budget_pixels: Self::DEFAULT_DECODE_BUDGET_PIXELS,
            batch: BatchLimits::default(),
        }
    }
}

/// Bounds on one `batch_upload_images` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most items (`MAX_BATCH_ITEMS`).
    pub max_items: usize,
    /// Most input bytes, all items together (`MAX_BATCH_BYTES`).
    pub max_bytes: usize,
    /// Highest `concurrency` a batch may ask for (`MAX_CONCURRENCY`).
    pub max_concurrency: usize,
    /// Concurrency when the caller names none.
    pub default_concurrency: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_items: 50,
            max_bytes: 256 * 1024 * 1024,
            max_concurrency: 8,
            default_concurrency: 5,
        }
    }
}
