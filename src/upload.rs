//! The upload pipeline the tools call: source → process → place → store. Knows neither HTTP nor MCP.

use std::sync::Arc;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::imaging::{self, ImageKind, ImagingError, OutputFormat, ProcessOptions};
use crate::storage::{NewObject, Storage, StorageError, keys};

/// Content-addressed keys never change content, so caches may keep them forever.
const IMMUTABLE_CACHE: &str = "public, max-age=31536000, immutable";
/// A caller-chosen key may be overwritten later; caches must revalidate.
const MUTABLE_CACHE: &str = "public, max-age=60, must-revalidate";
/// Longest original filename accepted (bytes).
const MAX_FILENAME_BYTES: usize = 255;

/// Where the image bytes come from.
#[derive(Debug)]
pub enum Source {
    /// Base64 text or a `data:` URI, as an agent sends it inline.
    Inline(String),
    /// A local file, only inside `Config::allowed_dirs` (the stdio server's `--allow-dir`).
    Path(std::path::PathBuf),
}

/// One upload as a caller asked for it; `None` means "use the configured default".
#[derive(Debug)]
pub struct UploadRequest {
    pub source: Source,
    pub filename: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub prefix: Option<String>,
    pub format: Option<OutputFormat>,
    pub quality: Option<u8>,
    pub max_width: Option<u32>,
    pub max_height: Option<u32>,
}

/// A stored image and where to get it.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct UploadOutcome {
    /// Public URL serving the stored bytes.
    pub url: String,
    pub bucket: String,
    pub key: String,
    /// S3 ETag of the object (without quotes).
    pub etag: String,
    pub content_type: String,
    /// Size of the stored object in bytes.
    pub bytes: usize,
    /// Size of the image as received, in bytes.
    pub original_bytes: usize,
    pub width: u32,
    pub height: u32,
    /// Format of the stored object.
    pub format: ImageKind,
    /// Hex SHA-256 of the stored bytes.
    pub sha256: String,
    /// True when the image was scaled down to fit max_width × max_height.
    pub resized: bool,
    /// True when an EXIF orientation was applied to the pixels.
    pub orientation_applied: bool,
    /// What produced the stored bytes, e.g. "libwebp-lossy" or "original".
    pub encoder: String,
}

/// Why an upload failed. `Input` errors are the caller's to fix; `Storage` errors may pass on retry.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("bucket {bucket:?} is not allowed; use one of: {}", allowed.join(", "))]
    BucketNotAllowed {
        bucket: String,
        allowed: Vec<String>,
    },
    #[error(transparent)]
    Imaging(#[from] ImagingError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("internal error while processing the image; retry, and report it if it persists")]
    Internal,
}

impl UploadError {
    /// A stable tag for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            UploadError::InvalidInput(_) => "invalid_input",
            UploadError::BucketNotAllowed { .. } => "bucket_not_allowed",
            UploadError::Imaging(e) => e.kind(),
            UploadError::Storage(e) => e.kind(),
            UploadError::Internal => "internal",
        }
    }
}

/// Runs uploads against one store with one configuration. Built once at start.
pub struct Uploader {
    config: Arc<Config>,
    storage: Storage,
}

impl Uploader {
    pub fn new(config: Arc<Config>, storage: Storage) -> Self {
        Uploader { config, storage }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Validates, processes and stores one image. Nothing is written unless every check passes.
    pub async fn upload(&self, request: UploadRequest) -> Result<UploadOutcome, UploadError> {
        let config = &self.config;
        let bucket = self.resolve_bucket(request.bucket.as_deref())?;
        validate_filename(&request.filename)?;
        // Caller keys and prefixes are relative to KEY_PREFIX, the public root of the bucket.
        let root = config.key_prefix.as_str();
        let explicit_key = match &request.key {
            Some(key) => {
                keys::validate_key("key", key).map_err(UploadError::InvalidInput)?;
                let key = keys::join(root, key);
                self.refuse_staging_area("key", &key)?;
                Some(key)
            }
            None => None,
        };
        let prefix = match request.prefix.as_deref().map(|p| p.trim_matches('/')) {
            Some(prefix) if !prefix.is_empty() => {
                keys::validate_key("prefix", prefix).map_err(UploadError::InvalidInput)?;
                let prefix = keys::join(root, prefix);
                self.refuse_staging_area("prefix", &format!("{prefix}/"))?;
                prefix
            }
            _ => root.to_owned(),
        };
        let options = ProcessOptions {
            format: request.format.unwrap_or(config.default_format),
            quality: request.quality.unwrap_or(config.default_quality),
            max_width: request.max_width.unwrap_or(config.default_max_width),
            max_height: request.max_height.unwrap_or(config.default_max_height),
            widths: Vec::new(),
            rasterize: false,
            limits: config.limits,
        };
        if !(1..=100).contains(&options.quality) {
            return Err(UploadError::InvalidInput(format!(
                "quality is {}; use a value from 1 to 100 (80 is a good default)",
                options.quality
            )));
        }

        let input = match request.source {
            Source::Inline(text) => decode_inline(&text, config.limits.max_input_bytes)?,
            Source::Path(path) => {
                read_allowed_file(&path, &config.allowed_dirs, config.limits.max_input_bytes)
                    .await?
            }
        };

        // Decoding and encoding are CPU-bound: keep them off the async workers.
        let processed = tokio::task::spawn_blocking(move || imaging::process(&input, &options))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "image processing task failed");
                UploadError::Internal
            })??;

        let sha256: [u8; 32] = Sha256::digest(&processed.bytes).into();
        let sha256_hex = hex::encode(sha256);
        let (key, cache_control) = match explicit_key {
            Some(key) => (key, MUTABLE_CACHE),
            None => (
                keys::content_key(
                    &prefix,
                    &request.filename,
                    &sha256_hex,
                    processed.kind.extension(),
                ),
                IMMUTABLE_CACHE,
            ),
        };
        let bytes = processed.bytes.len();
        let stored = self
            .storage
            .put(NewObject {
                bucket: bucket.clone(),
                key: key.clone(),
                body: processed.bytes,
                content_type: processed.kind.content_type().to_owned(),
                cache_control: cache_control.to_owned(),
                metadata: vec![
                    ("original-filename", encode_metadata(&request.filename)),
                    ("uploaded-at", now_rfc3339()),
                    ("sha256", sha256_hex.clone()),
                ],
                sha256,
            })
            .await?;

        Ok(UploadOutcome {
            url: self.storage.public_url(&bucket, &key),
            bucket,
            key,
            etag: stored.etag,
            content_type: processed.kind.content_type().to_owned(),
            bytes,
            original_bytes: processed.original_bytes,
            width: processed.width,
            height: processed.height,
            format: processed.kind,
            sha256: sha256_hex,
            resized: processed.resized,
            orientation_applied: processed.orientation_applied,
            encoder: processed.encoder,
        })
    }

    /// The buckets this server may write to: the allow list, intersected with what `ListBuckets`
    /// shows when the credentials may call it (under least privilege they usually may not).
    pub async fn writable_buckets(&self) -> Vec<String> {
        let allowed = &self.config.allowed_buckets;
        match self.storage.list_buckets().await {
            Ok(existing) => allowed
                .iter()
                .filter(|b| existing.contains(b))
                .cloned()
                .collect(),
            Err(e) => {
                tracing::debug!(error = %e, "ListBuckets unavailable; showing the configured allow list");
                allowed.clone()
            }
        }
    }

    /// The staging prefix holds presigned uploads only; final objects never land there.
    fn refuse_staging_area(&self, what: &str, key: &str) -> Result<(), UploadError> {
        let staging = &self.config.staging_prefix;
        if key.starts_with(staging.as_str()) {
            return Err(UploadError::InvalidInput(format!(
                "{what} {key:?} is inside {staging:?}, which is reserved for create_upload_url; choose another"
            )));
        }
        Ok(())
    }

    fn resolve_bucket(&self, requested: Option<&str>) -> Result<String, UploadError> {
        let allowed = &self.config.allowed_buckets;
        match requested.map(str::trim).filter(|b| !b.is_empty()) {
            None => Ok(self.config.default_bucket.clone()),
            Some(bucket) if allowed.iter().any(|a| a == bucket) => Ok(bucket.to_owned()),
            Some(bucket) => Err(UploadError::BucketNotAllowed {
                bucket: bucket.to_owned(),
                allowed: allowed.clone(),
            }),
        }
    }
}

fn validate_filename(filename: &str) -> Result<(), UploadError> {
    if filename.trim().is_empty() {
        return Err(UploadError::InvalidInput(
            "filename is empty; pass the image's original name, e.g. \"hero.png\"".into(),
        ));
    }
    if filename.len() > MAX_FILENAME_BYTES {
        return Err(UploadError::InvalidInput(format!(
            "filename is {} bytes; use at most {MAX_FILENAME_BYTES}",
            filename.len()
        )));
    }
    if filename.chars().any(char::is_control) {
        return Err(UploadError::InvalidInput(
            "filename contains control characters (NUL, newline, …); pass a plain file name".into(),
        ));
    }
    Ok(())
}

/// Decodes base64 or a `data:` URI, refusing oversized payloads before allocating for them.
fn decode_inline(text: &str, max_bytes: usize) -> Result<Vec<u8>, UploadError> {
    let payload = match text.trim_start().strip_prefix("data:") {
        Some(uri) => {
            let (header, data) = uri.split_once(',').ok_or_else(|| {
                UploadError::InvalidInput(
                    "data URI has no ',' before the payload; use data:image/png;base64,<base64>"
                        .into(),
                )
            })?;
            if !header.ends_with(";base64") {
                return Err(UploadError::InvalidInput(
                    "data URI is not base64-encoded; use data:<type>;base64,<base64>".into(),
                ));
            }
            data
        }
        None => text,
    };
    let compact: String = payload
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if compact.is_empty() {
        return Err(UploadError::InvalidInput(
            "data is empty; pass the image as base64 or a data: URI".into(),
        ));
    }
    let decoded_len = compact.len() / 4 * 3;
    if decoded_len > max_bytes + 3 {
        return Err(UploadError::InvalidInput(format!(
            "the image is about {decoded_len} bytes; inline uploads are limited to {max_bytes} bytes. \
             Call create_upload_url and upload the file out of band instead"
        )));
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine
        .decode(compact.as_bytes())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(compact.trim_end_matches('=')))
        .map_err(|e| {
            UploadError::InvalidInput(format!(
                "data is not valid base64 ({e}); send the file's bytes base64-encoded, or as data:image/png;base64,…"
            ))
        })?;
    if bytes.is_empty() {
        return Err(UploadError::InvalidInput(
            "data decodes to zero bytes; send the image's bytes".into(),
        ));
    }
    Ok(bytes)
}

/// Reads a local file if, after resolving symlinks, it lies inside one of `allowed_dirs`.
async fn read_allowed_file(
    path: &std::path::Path,
    allowed_dirs: &[std::path::PathBuf],
    max_bytes: usize,
) -> Result<Vec<u8>, UploadError> {
    if allowed_dirs.is_empty() {
        return Err(UploadError::InvalidInput(
            "`path` is only accepted by the local stdio server (s3-upload-mcp stdio --allow-dir DIR); \
             send the image in `data`, or use create_upload_url"
                .into(),
        ));
    }
    let shown = path.display();
    let canonical = tokio::fs::canonicalize(path).await.map_err(|e| {
        UploadError::InvalidInput(format!(
            "cannot open {shown}: {e}; pass an absolute path to an existing file"
        ))
    })?;
    // Canonical paths on both sides: `..` and symlinks cannot lead outside an allowed directory.
    if !allowed_dirs.iter().any(|dir| canonical.starts_with(dir)) {
        let dirs: Vec<String> = allowed_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        return Err(UploadError::InvalidInput(format!(
            "{shown} is outside the allowed directories ({}); move the file there or start the server with --allow-dir",
            dirs.join(", ")
        )));
    }
    let metadata = tokio::fs::metadata(&canonical)
        .await
        .map_err(|e| UploadError::InvalidInput(format!("cannot read {shown}: {e}")))?;
    if !metadata.is_file() {
        return Err(UploadError::InvalidInput(format!(
            "{shown} is not a regular file"
        )));
    }
    if metadata.len() > max_bytes as u64 {
        return Err(ImagingError::TooManyBytes {
            bytes: usize::try_from(metadata.len()).unwrap_or(usize::MAX),
            limit: max_bytes,
        }
        .into());
    }
    tokio::fs::read(&canonical)
        .await
        .map_err(|e| UploadError::InvalidInput(format!("cannot read {shown}: {e}")))
}

/// S3 user metadata travels as HTTP headers and must be ASCII: percent-encode non-ASCII bytes,
/// controls and `%` itself, so the original name can be recovered exactly.
fn encode_metadata(value: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');
    percent_encoding::utf8_percent_encode(value, SET).to_string()
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_uri_and_plain_base64_decode_to_the_same_bytes() {
        let plain = decode_inline("aGVsbG8=", 100).unwrap();
        let uri = decode_inline("data:image/png;base64,aGVsbG8=", 100).unwrap();
        let wrapped = decode_inline("aGVs\nbG8=", 100).unwrap();
        let unpadded = decode_inline("aGVsbG8", 100).unwrap();
        assert_eq!(plain, b"hello");
        assert_eq!(uri, plain);
        assert_eq!(wrapped, plain);
        assert_eq!(unpadded, plain);
    }

    #[test]
    fn bad_inline_data_says_how_to_send_it() {
        for (input, expected) in [
            ("", "data is empty"),
            ("   ", "data is empty"),
            ("!!!not base64!!!", "not valid base64"),
            ("data:image/png,rawbytes", "not base64-encoded"),
            ("data:image/png;base64", "no ','"),
        ] {
            let err = decode_inline(input, 100).unwrap_err().to_string();
            assert!(err.contains(expected), "{input:?} gave {err:?}");
        }
    }

    #[test]
    fn oversized_inline_data_points_to_create_upload_url() {
        let err = decode_inline(&"A".repeat(4000), 1000)
            .unwrap_err()
            .to_string();
        assert!(err.contains("create_upload_url"), "{err}");
    }

    #[test]
    fn metadata_values_are_ascii() {
        let encoded = encode_metadata("메인 배너.png");
        assert!(encoded.is_ascii());
        assert_eq!(encoded, "%EB%A9%94%EC%9D%B8 %EB%B0%B0%EB%84%88.png");
        assert_eq!(encode_metadata("hero.png"), "hero.png");
    }
}
