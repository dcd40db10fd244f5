//! The upload pipeline the tools call: source → process → place → store. Knows neither HTTP nor MCP.

mod batch;
mod source;
mod staging;

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

pub use batch::BatchProgress;
pub use staging::{StagingRequest, StagingTicket};

use crate::auth::Principal;
use crate::config::Config;
use crate::imaging::{self, ImageKind, ImagingError, OutputFormat, ProcessOptions};
use crate::storage::{NewObject, PutOutcome, Storage, StorageError, WriteMode, keys};

/// Content-addressed keys never change content, so caches may keep them forever.
const IMMUTABLE_CACHE: &str = "public, max-age=31536000, immutable";
/// A caller-chosen key may be overwritten later; caches must revalidate.
const MUTABLE_CACHE: &str = "public, max-age=60, must-revalidate";
/// Longest original filename accepted (bytes).
const MAX_FILENAME_BYTES: usize = 255;
/// Pixels per permit of the decode budget.
const PIXELS_PER_PERMIT: u64 = 1_000_000;

/// Where the image bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Base64 text or a `data:` URI, as an agent sends it inline.
    Inline(String),
    /// An object PUT to the staging prefix through a `create_upload_url` URL.
    Staged(String),
    /// A local file, only inside `Config::allowed_dirs` (the stdio server's `--allow-dir`).
    Path(std::path::PathBuf),
}

/// One upload as a caller asked for it; `None` means "use the configured default".
#[derive(Debug, Clone)]
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
    /// Replace an existing object at an explicit `key` (otherwise refused).
    pub overwrite: bool,
    /// Widths of extra renditions for a `srcset` (never wider than the output).
    pub widths: Vec<u32>,
    /// Render an SVG to a raster image instead of storing the sanitized SVG.
    pub rasterize: bool,
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
    /// True when an identical object already existed at the key and nothing was uploaded.
    pub deduplicated: bool,
    /// True when the image was scaled down to fit max_width × max_height.
    pub resized: bool,
    /// True when an EXIF orientation was applied to the pixels.
    pub orientation_applied: bool,
    /// What produced the stored bytes, e.g. "libwebp-lossy" or "original-stripped".
    pub encoder: String,
    /// Extra renditions, narrowest first (when `widths` was given).
    pub variants: Vec<VariantOutcome>,
    /// `srcset` value covering the variants and the main image (when there are variants).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub srcset: Option<String>,
    /// A ready-to-paste `<img>` tag: src, srcset/sizes, width, height, alt, lazy loading.
    pub html: String,
    /// Variants that could not be stored; the main image and the other variants are.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One stored extra rendition.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct VariantOutcome {
    pub url: String,
    pub key: String,
    pub width: u32,
    pub height: u32,
    pub bytes: usize,
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
    #[error(
        "{key:?} already exists with other content; pass overwrite: true to replace it, or choose another key"
    )]
    KeyExists { key: String },
    #[error("{principal} may not write {key:?}; allowed key prefixes: {allowed}")]
    KeyNotPermitted {
        principal: String,
        key: String,
        allowed: String,
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
            UploadError::KeyExists { .. } => "key_exists",
            UploadError::KeyNotPermitted { .. } => "key_not_permitted",
            UploadError::Imaging(e) => e.kind(),
            UploadError::Storage(e) => e.kind(),
            UploadError::Internal => "internal",
        }
    }

    /// True when the fault is on our side (storage, internals): the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            UploadError::Storage(StorageError::Unavailable { .. } | StorageError::CircuitOpen(_))
                | UploadError::Internal
        )
    }
}

/// Runs uploads against one store with one configuration. Built once at start.
pub struct Uploader {
    config: Arc<Config>,
    storage: Storage,
    /// Decoded pixels in flight, in megapixels: bounds memory however many uploads run at once.
    decode_budget: Arc<Semaphore>,
    decode_budget_permits: u32,
}

impl Uploader {
    pub fn new(config: Arc<Config>, storage: Storage) -> Self {
        let permits = u32::try_from(
            config
                .decode_budget_pixels
                .div_ceil(PIXELS_PER_PERMIT)
                .max(1),
        )
        .unwrap_or(u32::MAX);
        Uploader {
            config,
            storage,
            decode_budget: Arc::new(Semaphore::new(permits as usize)),
            decode_budget_permits: permits,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Validates, processes and stores one image. Nothing is written unless every check passes;
    /// a staged source is deleted only after its final object is stored.
    pub async fn upload(
        &self,
        principal: &Principal,
        request: UploadRequest,
    ) -> Result<UploadOutcome, UploadError> {
        let config = &self.config;
        let bucket = self.resolve_bucket(principal, request.bucket.as_deref())?;
        validate_filename(&request.filename)?;
        let placement = self.placement(principal, &request)?;
        let options = ProcessOptions {
            format: request.format.unwrap_or(config.default_format),
            quality: request.quality.unwrap_or(config.default_quality),
            max_width: request.max_width.unwrap_or(config.default_max_width),
            max_height: request.max_height.unwrap_or(config.default_max_height),
            widths: request.widths.clone(),
            rasterize: request.rasterize,
            limits: config.limits,
        };
        if !(1..=100).contains(&options.quality) {
            return Err(UploadError::InvalidInput(format!(
                "quality is {}; use a value from 1 to 100 (80 is a good default)",
                options.quality
            )));
        }

        let input = self
            .read_source(&request.source, self.input_limit(principal))
            .await?;
        let processed = self.process(input, options).await?;

        let sha256: [u8; 32] = Sha256::digest(&processed.bytes).into();
        let sha256_hex = hex::encode(sha256);
        let (relative_key, cache_control, mode) = match placement {
            Placement::Exact {
                relative_key,
                overwrite,
            } => (
                relative_key,
                MUTABLE_CACHE,
                if overwrite {
                    WriteMode::Overwrite
                } else {
                    WriteMode::CreateOnly
                },
            ),
            Placement::ContentAddressed { relative_prefix } => (
                keys::content_key(
                    &relative_prefix,
                    &request.filename,
                    &sha256_hex,
                    processed.kind.extension(),
                ),
                IMMUTABLE_CACHE,
                WriteMode::CreateOnly,
            ),
        };
        check_key_permitted(principal, &relative_key)?;
        let key = keys::join(&config.key_prefix, &relative_key);
        let content_type = processed.kind.content_type().to_owned();
        let target = Target {
            bucket: &bucket,
            key: &key,
            content_type: &content_type,
            cache_control,
            mode,
        };
        let main = self
            .store(target, processed.bytes, sha256, &request.filename)
            .await?;

        // Variants after the main image: a failed one is reported, never loses the others.
        let stem = key
            .rsplit_once('.')
            .map_or(key.as_str(), |(stem, _)| stem)
            .to_owned();
        let extension = processed.kind.extension();
        let mut variants = Vec::with_capacity(processed.variants.len());
        let mut warnings = Vec::new();
        // A width at or above the image's own is the main image itself, already in the srcset.
        for rendition in processed
            .variants
            .into_iter()
            .filter(|r| r.width < processed.width)
        {
            // Derived from the main key: content-addressed whenever the main image is.
            let variant_key = format!("{stem}-{}w.{extension}", rendition.width);
            let (width, height, bytes) = (rendition.width, rendition.height, rendition.bytes.len());
            let sha256 = Sha256::digest(&rendition.bytes).into();
            let target = Target {
                bucket: &bucket,
                key: &variant_key,
                content_type: &content_type,
                cache_control,
                mode,
            };
            match self
                .store(target, rendition.bytes, sha256, &request.filename)
                .await
            {
                Ok(_) => variants.push(VariantOutcome {
                    url: self.storage.public_url(&bucket, &variant_key),
                    key: variant_key,
                    width,
                    height,
                    bytes,
                }),
                Err(e) => warnings.push(format!("variant {width}w was not stored: {e}")),
            }
        }

        if let Source::Staged(staging_key) = &request.source {
            // The final object is stored: the staged copy has served its purpose.
            if let Err(e) = self
                .storage
                .delete(&config.default_bucket, staging_key)
                .await
            {
                tracing::warn!(staging_key, error = %e, "could not delete a used staging object; the lifecycle rule will");
            }
        }

        let url = self.storage.public_url(&bucket, &key);
        let srcset = srcset(&variants, &url, processed.width);
        let html = img_tag(
            &url,
            srcset.as_deref(),
            processed.width,
            processed.height,
            &request.filename,
        );
        Ok(UploadOutcome {
            url,
            bucket,
            key,
            etag: main.etag,
            content_type,
            bytes: main.bytes,
            original_bytes: processed.original_bytes,
            width: processed.width,
            height: processed.height,
            format: processed.kind,
            sha256: main.sha256,
            deduplicated: main.deduplicated,
            resized: processed.resized,
            orientation_applied: processed.orientation_applied,
            encoder: processed.encoder,
            variants,
            srcset,
            html,
            warnings,
        })
    }

    /// Writes one object (or finds it already there with the same bytes).
    async fn store(
        &self,
        target: Target<'_>,
        body: Vec<u8>,
        sha256: [u8; 32],
        filename: &str,
    ) -> Result<Stored, UploadError> {
        let Target {
            bucket,
            key,
            content_type,
            cache_control,
            mode,
        } = target;
        let sha256_hex = hex::encode(sha256);
        let bytes = body.len();
        let written = self
            .storage
            .put(
                NewObject {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    body,
                    content_type: content_type.to_owned(),
                    cache_control: cache_control.to_owned(),
                    metadata: vec![
                        ("original-filename", encode_metadata(filename)),
                        ("uploaded-at", now_rfc3339()),
                        ("sha256", sha256_hex.clone()),
                    ],
                    sha256,
                },
                mode,
            )
            .await?;
        let (etag, deduplicated) = match written {
            PutOutcome::Stored { etag } => (etag, false),
            PutOutcome::AlreadyExists => (
                self.existing_identical(bucket, key, &sha256_hex).await?,
                true,
            ),
        };
        Ok(Stored {
            etag,
            bytes,
            sha256: sha256_hex,
            deduplicated,
        })
    }

    /// The buckets this server may write to: the allow list, intersected with what `ListBuckets`
    /// shows when the credentials may call it (under least privilege they usually may not).
    pub async fn writable_buckets(&self, principal: &Principal) -> Vec<String> {
        let allowed = self.permitted_buckets(principal);
        match self.storage.list_buckets().await {
            Ok(existing) => allowed
                .into_iter()
                .filter(|b| existing.contains(b))
                .collect(),
            Err(e) => {
                tracing::debug!(error = %e, "ListBuckets unavailable; showing the configured allow list");
                allowed
            }
        }
    }

    /// Configured buckets the principal's policy allows.
    fn permitted_buckets(&self, principal: &Principal) -> Vec<String> {
        self.config
            .allowed_buckets
            .iter()
            .filter(|b| principal.policy.allows_bucket(b))
            .cloned()
            .collect()
    }

    /// Largest input this principal may send: MAX_INPUT_BYTES, or less if its policy says so.
    fn input_limit(&self, principal: &Principal) -> usize {
        let configured = self.config.limits.max_input_bytes;
        principal.policy.max_bytes.map_or(configured, |max| {
            configured.min(usize::try_from(max).unwrap_or(usize::MAX))
        })
    }

    async fn read_source(&self, source: &Source, max: usize) -> Result<Vec<u8>, UploadError> {
        let config = &self.config;
        match source {
            Source::Inline(text) => source::decode_inline(text, max),
            Source::Path(path) => source::read_allowed_file(path, &config.allowed_dirs, max).await,
            Source::Staged(staging_key) => {
                source::read_staged(
                    &self.storage,
                    &config.default_bucket,
                    &config.staging_prefix,
                    staging_key,
                    max,
                )
                .await
            }
        }
    }

    /// Decodes and encodes off the async workers, within the decode budget: an image holds
    /// permits for its pixel count, so many small images run at once but few huge ones do.
    async fn process(
        &self,
        input: Vec<u8>,
        options: ProcessOptions,
    ) -> Result<imaging::Processed, UploadError> {
        let pixels = imaging::dimensions(&input)
            .map_or(PIXELS_PER_PERMIT, |(w, h)| u64::from(w) * u64::from(h));
        let permits = u32::try_from(pixels.div_ceil(PIXELS_PER_PERMIT).max(1))
            .unwrap_or(u32::MAX)
            .min(self.decode_budget_permits);
        let _permit = self
            .decode_budget
            .acquire_many(permits)
            .await
            .map_err(|_| UploadError::Internal)?;
        tokio::task::spawn_blocking(move || imaging::process(&input, &options))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "image processing task failed");
                UploadError::Internal
            })?
            .map_err(UploadError::from)
    }

    /// An object already sits at `key`: it is ours to reuse only if it holds the same bytes.
    async fn existing_identical(
        &self,
        bucket: &str,
        key: &str,
        sha256_hex: &str,
    ) -> Result<String, UploadError> {
        match self.storage.head(bucket, key).await? {
            Some(info) if info.sha256.as_deref() == Some(sha256_hex) => Ok(info.etag),
            _ => Err(UploadError::KeyExists {
                key: key.to_owned(),
            }),
        }
    }

    /// Where the object goes, relative to KEY_PREFIX (the public root of the bucket). Caller keys
    /// and prefixes never reach the staging area; without a prefix, the principal's own is used.
    fn placement(
        &self,
        principal: &Principal,
        request: &UploadRequest,
    ) -> Result<Placement, UploadError> {
        let root = self.config.key_prefix.as_str();
        if let Some(key) = &request.key {
            keys::validate_key("key", key).map_err(UploadError::InvalidInput)?;
            self.refuse_staging_area("key", &keys::join(root, key))?;
            check_key_permitted(principal, key)?;
            return Ok(Placement::Exact {
                relative_key: key.clone(),
                overwrite: request.overwrite,
            });
        }
        let relative_prefix = match request.prefix.as_deref().map(|p| p.trim_matches('/')) {
            Some(prefix) if !prefix.is_empty() => {
                keys::validate_key("prefix", prefix).map_err(UploadError::InvalidInput)?;
                self.refuse_staging_area("prefix", &format!("{}/", keys::join(root, prefix)))?;
                prefix.to_owned()
            }
            _ => principal.policy.default_prefix(),
        };
        Ok(Placement::ContentAddressed { relative_prefix })
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

    fn resolve_bucket(
        &self,
        principal: &Principal,
        requested: Option<&str>,
    ) -> Result<String, UploadError> {
        let allowed = self.permitted_buckets(principal);
        let bucket = match requested.map(str::trim).filter(|b| !b.is_empty()) {
            Some(bucket) => bucket,
            // Without a bucket: the default if permitted, else the principal's first.
            None if allowed.contains(&self.config.default_bucket) => {
                return Ok(self.config.default_bucket.clone());
            }
            None => allowed
                .first()
                .map(String::as_str)
                .unwrap_or(&self.config.default_bucket),
        };
        if allowed.iter().any(|a| a == bucket) {
            Ok(bucket.to_owned())
        } else {
            Err(UploadError::BucketNotAllowed {
                bucket: bucket.to_owned(),
                allowed,
            })
        }
    }
}

/// Where and how one object is written.
struct Target<'a> {
    bucket: &'a str,
    key: &'a str,
    content_type: &'a str,
    cache_control: &'a str,
    mode: WriteMode,
}

/// One written object.
struct Stored {
    etag: String,
    bytes: usize,
    sha256: String,
    deduplicated: bool,
}

/// `url 640w, url 1280w, …` over the variants and the main image, or `None` without variants.
fn srcset(variants: &[VariantOutcome], main_url: &str, main_width: u32) -> Option<String> {
    if variants.is_empty() {
        return None;
    }
    let mut entries: Vec<(u32, &str)> =
        variants.iter().map(|v| (v.width, v.url.as_str())).collect();
    if !entries.iter().any(|(w, _)| *w == main_width) {
        entries.push((main_width, main_url));
    }
    entries.sort_by_key(|(w, _)| *w);
    Some(
        entries
            .iter()
            .map(|(w, url)| format!("{url} {w}w"))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// An `<img>` tag for the page the agent is writing; alt text comes from the filename.
fn img_tag(src: &str, srcset: Option<&str>, width: u32, height: u32, filename: &str) -> String {
    let alt = alt_text(filename);
    let responsive = srcset.map_or(String::new(), |set| {
        format!(
            r#" srcset="{}" sizes="(max-width: {width}px) 100vw, {width}px""#,
            escape_attribute(set)
        )
    });
    format!(
        r#"<img src="{}"{responsive} width="{width}" height="{height}" alt="{}" loading="lazy" decoding="async">"#,
        escape_attribute(src),
        escape_attribute(&alt)
    )
}

/// "hero_banner-final.png" → "hero banner final".
fn alt_text(filename: &str) -> String {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or(filename);
    let stem = base.rsplit_once('.').map_or(base, |(stem, _)| stem);
    stem.split(|c: char| c == '_' || c == '-' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn escape_attribute(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Where an object will be written, relative to KEY_PREFIX.
enum Placement {
    /// The caller named the key.
    Exact {
        relative_key: String,
        overwrite: bool,
    },
    /// `{prefix}/{slug}-{sha12}.{ext}`, known once the output bytes are.
    ContentAddressed { relative_prefix: String },
}

/// The principal's prefix patterns must cover the key (relative to KEY_PREFIX).
fn check_key_permitted(principal: &Principal, relative_key: &str) -> Result<(), UploadError> {
    if principal.policy.allows_key(relative_key) {
        Ok(())
    } else {
        Err(UploadError::KeyNotPermitted {
            principal: principal.id.clone(),
            key: relative_key.to_owned(),
            allowed: principal.policy.describe_prefixes(),
        })
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
    fn srcset_lists_variants_and_the_main_image_by_width() {
        let variant = |w: u32| VariantOutcome {
            url: format!("https://cdn/x-{w}w.webp"),
            key: String::new(),
            width: w,
            height: w / 2,
            bytes: 1,
        };
        assert_eq!(srcset(&[], "https://cdn/x.webp", 1920), None);
        assert_eq!(
            srcset(&[variant(1280), variant(640)], "https://cdn/x.webp", 1920).unwrap(),
            "https://cdn/x-640w.webp 640w, https://cdn/x-1280w.webp 1280w, https://cdn/x.webp 1920w"
        );
    }

    #[test]
    fn img_tag_is_escaped_and_lazy() {
        let tag = img_tag(
            "https://cdn/a.webp",
            Some("https://cdn/a-640w.webp 640w"),
            1280,
            720,
            "Hero \"banner\"_v2.png",
        );
        assert_eq!(
            tag,
            r#"<img src="https://cdn/a.webp" srcset="https://cdn/a-640w.webp 640w" sizes="(max-width: 1280px) 100vw, 1280px" width="1280" height="720" alt="Hero &quot;banner&quot; v2" loading="lazy" decoding="async">"#
        );
        assert!(
            img_tag("u", None, 1, 1, "a.png")
                .starts_with(r#"<img src="u" width="1" height="1" alt="a""#)
        );
    }

    #[test]
    fn metadata_values_are_ascii() {
        let encoded = encode_metadata("메인 배너.png");
        assert!(encoded.is_ascii());
        assert_eq!(encoded, "%EB%A9%94%EC%9D%B8 %EB%B0%B0%EB%84%88.png");
        assert_eq!(encode_metadata("hero.png"), "hero.png");
        assert_eq!(encode_metadata("100%.png"), "100%25.png");
    }
}
