//! The upload pipeline the tools call: plan → ingest → process → publish. Plain Rust values in
//! and out; knows neither HTTP nor MCP, and how results are shown is the caller's business.

mod batch;
mod error;
mod local_file;
mod place;
mod settings;
mod source;
mod staging;

use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

pub use batch::BatchProgress;
pub use error::{InputReason, UploadError};
pub use settings::{BatchLimits, UploadSettings};
pub use source::Source;
pub use staging::{StagingKey, StagingRequest, StagingTicket};

use crate::auth::Principal;
use crate::imaging::{self, ImageKind, Overrides, ProcessOptions};
use crate::storage::{NewObject, PutOutcome, Storage};
use place::{Placement, Target};

/// Longest original filename accepted (bytes).
const MAX_FILENAME_BYTES: usize = 255;
/// Pixels per permit of the decode budget.
const PIXELS_PER_PERMIT: u64 = 1_000_000;

/// One upload as a caller asked for it; `None` means "use the configured default".
#[derive(Debug, Clone)]
pub struct UploadRequest {
    pub source: Source,
    pub filename: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub prefix: Option<String>,
    /// Replace an existing object at an explicit `key` (otherwise refused).
    pub overwrite: bool,
    /// Render an SVG to a raster image instead of storing the sanitized SVG.
    pub rasterize: bool,
    /// Format, quality, fit box and variant widths, over the configured defaults.
    pub image: Overrides,
}

/// A stored image: where it is, what it is, how it was made.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// The filename the caller gave (the object's `original-filename`).
    pub filename: String,
    pub bucket: String,
    pub key: String,
    /// URL serving the stored bytes.
    pub url: String,
    /// S3 ETag, without quotes.
    pub etag: String,
    pub content_type: String,
    /// Stored size in bytes.
    pub bytes: usize,
    /// Size of the image as received.
    pub original_bytes: usize,
    pub width: u32,
    pub height: u32,
    pub kind: ImageKind,
    /// Hex SHA-256 of the stored bytes.
    pub sha256: String,
    /// An identical object already existed at the key; nothing was uploaded.
    pub deduplicated: bool,
    /// Scaled down to fit the box.
    pub resized: bool,
    /// An EXIF orientation was applied to the pixels.
    pub orientation_applied: bool,
    /// What produced the stored bytes, e.g. "libwebp-lossy" or "original-stripped".
    pub encoder: String,
    /// Extra renditions, narrowest first.
    pub variants: Vec<StoredVariant>,
    /// Variants that could not be stored; the main image and the other variants are.
    pub warnings: Vec<String>,
}

/// One stored extra rendition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVariant {
    pub key: String,
    pub url: String,
    pub width: u32,
    pub height: u32,
    pub bytes: usize,
}

/// Runs uploads against one store with one set of settings. Built once at start.
pub struct Uploader {
    settings: UploadSettings,
    storage: Storage,
    /// Directories a `path` source may read from (the stdio server's `--allow-dir`); empty =
    /// `path` refused.
    allowed_dirs: Vec<PathBuf>,
    /// Decoded pixels in flight, in megapixels: bounds memory however many uploads run at once.
    decode_budget: Arc<Semaphore>,
    decode_budget_permits: u32,
}

/// A source admitted for reading; a staged one holds its ticket's claim.
enum Input<'a> {
    Inline(&'a str),
    Path(&'a std::path::Path),
    Staged(staging::Claim),
}

/// What `plan` decided before any byte is read.
struct Plan {
    bucket: String,
    placement: Placement,
    options: ProcessOptions,
    input_limit: usize,
}

impl Uploader {
    pub fn new(settings: UploadSettings, storage: Storage, allowed_dirs: Vec<PathBuf>) -> Self {
        let permits = u32::try_from(
            settings
                .decode_budget_pixels
                .div_ceil(PIXELS_PER_PERMIT)
                .max(1),
        )
        .unwrap_or(u32::MAX);
        Uploader {
            settings,
            storage,
            allowed_dirs,
            decode_budget: Arc::new(Semaphore::new(permits as usize)),
            decode_budget_permits: permits,
        }
    }

    pub fn settings(&self) -> &UploadSettings {
        &self.settings
    }

    /// Validates, processes and stores one image. Nothing is written unless every check passes;
    /// a staged source is claimed first (one finalize per ticket, its owner's only) and used up
    /// only after its final object is stored.
    pub async fn upload(
        &self,
        principal: &Principal,
        request: UploadRequest,
    ) -> Result<StoredImage, UploadError> {
        self.run(principal, request, None).await
    }

    /// [`Self::upload`], with the staged source's HEAD answer when the caller already has it.
    async fn run(
        &self,
        principal: &Principal,
        request: UploadRequest,
        staged_head: Option<source::StagedHead>,
    ) -> Result<StoredImage, UploadError> {
        let plan = self.plan(principal, &request)?;
        let input = self.admit(principal, &request.source).await?;
        let outcome = async {
            let bytes = self.ingest(&input, plan.input_limit, staged_head).await?;
            let processed = self.process(bytes, plan.options.clone()).await?;
            self.publish(principal, plan, processed, &request.filename)
                .await
        }
        .await;
        if let Input::Staged(claim) = input {
            match &outcome {
                Ok(_) => claim.spend().await,
                Err(_) => claim.release().await,
            }
        }
        outcome
    }

    /// Every check that needs no bytes: filename, bucket, where the object goes, the options.
    fn plan(&self, principal: &Principal, request: &UploadRequest) -> Result<Plan, UploadError> {
        validate_filename(&request.filename)?;
        Ok(Plan {
            bucket: self.resolve_bucket(principal, request.bucket.as_deref())?,
            placement: self.placement(principal, request)?,
            options: request.image.resolve(
                &self.settings.defaults,
                request.rasterize,
                self.settings.limits,
            ),
            input_limit: self.input_limit(principal),
        })
    }

    /// The source, ready to read: a staged one is claimed first, so no other call uses it.
    async fn admit<'a>(
        &self,
        principal: &Principal,
        source: &'a Source,
    ) -> Result<Input<'a>, UploadError> {
        Ok(match source {
            Source::Inline(text) => Input::Inline(text),
            Source::Path(path) => Input::Path(path),
            Source::Staged(staging_key) => {
                Input::Staged(self.claim_staged(principal, staging_key).await?)
            }
        })
    }

    /// The source's bytes, refused past `max` before they are all held.
    async fn ingest(
        &self,
        input: &Input<'_>,
        max: usize,
        staged_head: Option<source::StagedHead>,
    ) -> Result<Vec<u8>, UploadError> {
        match input {
            Input::Inline(text) => source::decode_inline(text, max),
            Input::Path(path) => local_file::read(path, &self.allowed_dirs, max).await,
            Input::Staged(claim) => {
                source::read_staged(&self.storage, &self.settings, claim.key(), max, staged_head)
                    .await
            }
        }
    }

    /// Decodes and encodes off the async workers, within the decode budget: a job holds permits
    /// for the pixels it will hold at its peak (a still's canvas, an animation's frames, an
    /// SVG's largest render with its layers), so many small images run at once but few huge
    /// ones do. Preparing the job (headers; an SVG's sanitize and parse, bounded by bytes and
    /// elements) runs first, outside the budget, because only it can tell that peak.
    async fn process(
        &self,
        input: Vec<u8>,
        options: ProcessOptions,
    ) -> Result<imaging::Processed, UploadError> {
        let job = blocking(move || imaging::Job::prepare(input, options)).await?;
        let permits = u32::try_from(job.peak_pixels().div_ceil(PIXELS_PER_PERMIT).max(1))
            .unwrap_or(u32::MAX)
            .min(self.decode_budget_permits);
        let _permit = self
            .decode_budget
            .acquire_many(permits)
            .await
            .map_err(|_| UploadError::Internal)?;
        blocking(move || job.run()).await
    }

    /// Stores the main image, then its variants (a failed variant is a warning, never a loss).
    /// Every key is authorized before the first write, so a refused variant writes nothing.
    async fn publish(
        &self,
        principal: &Principal,
        plan: Plan,
        processed: imaging::Processed,
        filename: &str,
    ) -> Result<StoredImage, UploadError> {
        let sha256: [u8; 32] = Sha256::digest(&processed.bytes).into();
        let main_target = self.main_target(&plan, &processed, filename, &hex::encode(sha256));
        // A width at or above the image's own is the main image itself, already in the srcset.
        let renditions: Vec<_> = processed
            .variants
            .into_iter()
            .filter(|r| r.width < processed.width)
            .map(|r| (main_target.variant(r.width, processed.kind.extension()), r))
            .collect();
        self.authorize_write(principal, &main_target)?;
        for (target, _) in &renditions {
            self.authorize_write(principal, target)?;
        }
        let content_type = processed.kind.content_type().to_owned();
        let main = self
            .store(principal, &main_target, processed.bytes, sha256, filename)
            .await?;

        let mut variants = Vec::with_capacity(renditions.len());
        let mut warnings = Vec::new();
        for (target, rendition) in renditions {
            let (width, height, bytes) = (rendition.width, rendition.height, rendition.bytes.len());
            let sha256 = Sha256::digest(&rendition.bytes).into();
            match self
                .store(principal, &target, rendition.bytes, sha256, filename)
                .await
            {
                Ok(_) => variants.push(StoredVariant {
                    url: self.storage.public_url(&plan.bucket, &target.key),
                    key: target.key,
                    width,
                    height,
                    bytes,
                }),
                Err(e) => warnings.push(format!("variant {width}w was not stored: {e}")),
            }
        }

        Ok(StoredImage {
            filename: filename.to_owned(),
            url: self.storage.public_url(&plan.bucket, &main_target.key),
            bucket: plan.bucket,
            key: main_target.key,
            etag: main.etag,
            content_type,
            bytes: main.bytes,
            original_bytes: processed.original_bytes,
            width: processed.width,
            height: processed.height,
            kind: processed.kind,
            sha256: main.sha256,
            deduplicated: main.deduplicated,
            resized: processed.resized,
            orientation_applied: processed.orientation_applied,
            encoder: processed.encoder,
            variants,
            warnings,
        })
    }

    /// Writes one object (or finds it already there with the same bytes): the only write of a
    /// final object, so the only place its key needs authorizing.
    async fn store(
        &self,
        principal: &Principal,
        target: &Target,
        body: Vec<u8>,
        sha256: [u8; 32],
        filename: &str,
    ) -> Result<Stored, UploadError> {
        self.authorize_write(principal, target)?;
        let sha256_hex = hex::encode(sha256);
        let bytes = body.len();
        let written = self
            .storage
            .put(
                NewObject {
                    bucket: target.bucket.clone(),
                    key: target.key.clone(),
                    body,
                    content_type: target.content_type.to_owned(),
                    cache_control: target.cache_control.to_owned(),
                    metadata: vec![
                        ("original-filename", encode_metadata(filename)),
                        ("uploaded-at", crate::primitives::now_rfc3339()),
                        ("sha256", sha256_hex.clone()),
                    ],
                    sha256,
                },
                target.mode,
            )
            .await?;
        let (etag, deduplicated) = match written {
            PutOutcome::Stored { etag } => (etag, false),
            PutOutcome::AlreadyExists => (
                self.existing_identical(&target.bucket, &target.key, &sha256_hex)
                    .await?,
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

    /// Largest input this principal may send: MAX_INPUT_BYTES, or less if its policy says so.
    pub fn input_limit(&self, principal: &Principal) -> usize {
        let configured = self.settings.limits.max_input_bytes;
        principal.policy.max_bytes.map_or(configured, |max| {
            configured.min(usize::try_from(max).unwrap_or(usize::MAX))
        })
    }
}

/// One written object.
struct Stored {
    etag: String,
    bytes: usize,
    sha256: String,
    deduplicated: bool,
}

fn validate_filename(filename: &str) -> Result<(), UploadError> {
    let invalid = |message: String| UploadError::invalid(InputReason::Filename, message);
    if filename.trim().is_empty() {
        return Err(invalid(
            "filename is empty; pass the image's original name, e.g. \"hero.png\"".into(),
        ));
    }
    if filename.len() > MAX_FILENAME_BYTES {
        return Err(invalid(format!(
            "filename is {} bytes; use at most {MAX_FILENAME_BYTES}",
            filename.len()
        )));
    }
    if filename.chars().any(char::is_control) {
        return Err(invalid(
            "filename contains control characters (NUL, newline, …); pass a plain file name".into(),
        ));
    }
    Ok(())
}

/// Runs CPU-bound imaging work on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, imaging::ImagingError> + Send + 'static,
) -> Result<T, UploadError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "image processing task failed");
            UploadError::Internal
        })?
        .map_err(UploadError::from)
}

/// S3 user metadata travels as HTTP headers and must be ASCII: percent-encode non-ASCII bytes,
/// controls and `%` itself, so the original name can be recovered exactly.
fn encode_metadata(value: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');
    percent_encoding::utf8_percent_encode(value, SET).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_values_are_ascii() {
        let encoded = encode_metadata("메인 배너.png");
        assert!(encoded.is_ascii());
        assert_eq!(encoded, "%EB%A9%94%EC%9D%B8 %EB%B0%B0%EB%84%88.png");
        assert_eq!(encode_metadata("hero.png"), "hero.png");
        assert_eq!(encode_metadata("100%.png"), "100%25.png");
    }
}
