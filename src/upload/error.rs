//! Why an upload failed, split by who is at fault: the caller's input (each reason its own tag),
//! the caller's policy, the image, the store, or us.

use crate::imaging::ImagingError;
use crate::storage::StorageError;
use crate::storage::keys::KeyError;

/// What was wrong with the caller's input; each reason is its own metrics tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputReason {
    /// None of `data`, `staging_key`, `path`.
    NoSource,
    /// More than one of them.
    SeveralSources,
    /// Empty, too long, or with control characters.
    Filename,
    /// A caller-chosen key or prefix that is not a safe relative path.
    Key,
    /// A key or prefix inside the staging area.
    StagingArea,
    /// A `staging_key` that create_upload_url could not have made.
    StagingKey,
    /// The staged object is missing (never uploaded, used or expired) or empty.
    StagingObject,
    /// A `staging_key` issued to another principal.
    StagingKeyForeign,
    /// A `staging_key` already finalized, or being finalized by another call.
    StagingUsed,
    /// create_upload_url without a usable `bytes`.
    StagingSize,
    /// create_upload_url past `MAX_OPEN_UPLOAD_URLS`.
    OpenUploadUrls,
    /// A content type for create_upload_url that is not an image type.
    ContentType,
    /// Inline `data` that is empty, not base64, or not a base64 data URI.
    InlineData,
    /// Inline `data` over the byte limit.
    InlineTooLarge,
    /// `path` where it is not accepted, outside the allowed directories, or unreadable.
    Path,
    /// A batch that is empty, has too many items or too many bytes.
    Batch,
}

impl InputReason {
    pub fn kind(self) -> &'static str {
        match self {
            InputReason::NoSource => "no_source",
            InputReason::SeveralSources => "several_sources",
            InputReason::Filename => "invalid_filename",
            InputReason::Key => "invalid_key",
            InputReason::StagingArea => "staging_area",
            InputReason::StagingKey => "invalid_staging_key",
            InputReason::StagingObject => "staging_object_missing",
            InputReason::StagingKeyForeign => "staging_key_foreign",
            InputReason::StagingUsed => "staging_key_used",
            InputReason::StagingSize => "invalid_upload_size",
            InputReason::OpenUploadUrls => "too_many_upload_urls",
            InputReason::ContentType => "invalid_content_type",
            InputReason::InlineData => "invalid_data",
            InputReason::InlineTooLarge => "inline_too_large",
            InputReason::Path => "path_refused",
            InputReason::Batch => "batch_limit",
        }
    }
}

/// Why an upload failed. Input errors are the caller's to fix; storage errors may pass on retry.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{message}")]
    InvalidInput {
        reason: InputReason,
        message: String,
    },
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
    /// The caller sent something unusable; `message` says what and how to fix it.
    pub fn invalid(reason: InputReason, message: impl Into<String>) -> Self {
        UploadError::InvalidInput {
            reason,
            message: message.into(),
        }
    }

    /// A stable tag for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            UploadError::InvalidInput { reason, .. } => reason.kind(),
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

    /// True when the failure is ours or the store's rather than the caller's (logged as a warning).
    pub fn is_ours(&self) -> bool {
        match self {
            UploadError::Storage(_) | UploadError::Internal => true,
            UploadError::Imaging(e) => !e.is_caller_error(),
            _ => false,
        }
    }
}

impl From<KeyError> for UploadError {
    fn from(e: KeyError) -> Self {
        UploadError::invalid(InputReason::Key, e.to_string())
    }
}
