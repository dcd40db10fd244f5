//! Tool arguments and results as MCP clients see them (JSON Schema via schemars).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::imaging::OutputFormat;
pub use crate::upload::UploadOutcome;

/// Arguments of `upload_image_to_s3`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadImageParams {
    /// The image bytes, base64-encoded, or a data URI such as "data:image/png;base64,iVBOR...".
    /// Images over ~4 MB should go through create_upload_url instead.
    pub data: Option<String>,
    /// Absolute path of a local image file. Only the local stdio server accepts it, and only
    /// inside its --allow-dir directories.
    pub path: Option<String>,
    /// The image's original file name, e.g. "hero banner.png". Used to name the object
    /// (transliterated to ASCII) and kept in its metadata.
    pub filename: String,
    /// Bucket to write to; defaults to the server's bucket. See list_s3_buckets.
    pub bucket: Option<String>,
    /// Exact object key to write, e.g. "images/home/hero.webp". Default: a content-addressed key
    /// "{prefix}/{slug}-{hash}.{ext}" that never collides.
    pub key: Option<String>,
    /// Folder for the generated key, e.g. "figma/landing". Ignored when `key` is given.
    pub prefix: Option<String>,
    /// Output format: "auto" (default: WebP unless the original is smaller), "webp", "original",
    /// "png" or "jpeg".
    pub format: Option<OutputFormat>,
    /// Encoder quality 1-100 (default 80).
    #[schemars(range(min = 1, max = 100))]
    pub quality: Option<u32>,
    /// Scale down to fit this width in pixels (default 1920; 0 = no limit). Never enlarges.
    pub max_width: Option<u32>,
    /// Scale down to fit this height in pixels (default 1080; 0 = no limit). Never enlarges.
    pub max_height: Option<u32>,
}

/// Result of `list_s3_buckets`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BucketList {
    /// Buckets this server may write to.
    pub buckets: Vec<BucketInfo>,
    /// Bucket used when a call names none.
    pub default_bucket: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BucketInfo {
    pub name: String,
    /// True for the bucket used when a call names none.
    pub default: bool,
}
