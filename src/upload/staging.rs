//! Presigned staging uploads: large images travel out of band (a plain HTTP PUT), not through
//! the model as base64.

use std::collections::BTreeMap;

use super::{InputReason, UploadError, Uploader, validate_filename};
use crate::auth::Principal;
use crate::imaging::ImagingError;
use crate::primitives::random_hex;
use crate::storage::keys;

/// What a caller wants to stage.
#[derive(Debug, Clone)]
pub struct StagingRequest {
    pub filename: String,
    /// `image/png`, …; when given, the PUT must send the same `Content-Type`.
    pub content_type: Option<String>,
    /// Size the caller intends to upload, checked against the limit up front.
    pub bytes: Option<u64>,
}

/// A presigned PUT into the staging area.
#[derive(Debug, Clone)]
pub struct StagingTicket {
    /// Presigned URL: a PUT of the file's raw bytes here, before `expires_at`, stages it.
    pub upload_url: String,
    /// Headers the PUT must carry exactly.
    pub headers: BTreeMap<String, String>,
    /// The key to finalize with, once the PUT succeeded.
    pub staging_key: String,
    pub expires_at: time::OffsetDateTime,
    /// Largest file accepted, in bytes.
    pub max_bytes: usize,
}

impl Uploader {
    /// Issues a presigned PUT URL for one image in the staging prefix of the default bucket.
    pub async fn create_upload_url(
        &self,
        principal: &Principal,
        request: StagingRequest,
    ) -> Result<StagingTicket, UploadError> {
        let settings = &self.settings;
        validate_filename(&request.filename)?;
        let max_bytes = self.input_limit(principal);
        if let Some(bytes) = request.bytes
            && bytes > max_bytes as u64
        {
            return Err(ImagingError::InputTooLarge {
                bytes: usize::try_from(bytes).unwrap_or(usize::MAX),
                limit: max_bytes,
            }
            .into());
        }
        let content_type = match request.content_type.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(ct) if is_image_media_type(ct) => Some(ct.to_ascii_lowercase()),
            Some(ct) => {
                return Err(UploadError::invalid(
                    InputReason::ContentType,
                    format!(
                        "content_type {ct:?} is not an image type; use e.g. image/png, or leave it out"
                    ),
                ));
            }
        };

        let staging_key = format!(
            "{}{}/{}",
            settings.staging_prefix,
            random_hex(16),
            staged_name(&request.filename)
        );
        let expires_at = time::OffsetDateTime::now_utc() + settings.staging_url_expiry;
        let presigned = self
            .storage
            .presign_put(
                &settings.default_bucket,
                &staging_key,
                content_type.as_deref(),
                settings.staging_url_expiry,
            )
            .await?;
        Ok(StagingTicket {
            upload_url: presigned.url,
            headers: presigned.headers.into_iter().collect(),
            staging_key,
            expires_at,
            max_bytes,
        })
    }
}

/// `image/<subtype>` with a token-like subtype (no parameters, no header injection).
fn is_image_media_type(ct: &str) -> bool {
    ct.len() <= 100
        && ct.split_once('/').is_some_and(|(kind, subtype)| {
            kind.eq_ignore_ascii_case("image")
                && !subtype.is_empty()
                && subtype
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
        })
}

/// `slug.ext` from the caller's filename, for a readable staging key.
fn staged_name(filename: &str) -> String {
    let extension = filename
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .filter(|ext| {
            !ext.is_empty() && ext.len() <= 5 && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        })
        .unwrap_or_else(|| "bin".to_owned());
    format!("{}.{extension}", keys::slug(filename))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_image_media_types_are_accepted() {
        assert!(is_image_media_type("image/png"));
        assert!(is_image_media_type("image/svg+xml"));
        assert!(!is_image_media_type("text/html"));
        assert!(!is_image_media_type("image/png\r\nx-evil: 1"));
        assert!(!is_image_media_type("image/"));
    }

    #[test]
    fn staged_names_keep_a_short_extension() {
        assert_eq!(staged_name("메인 배너.PNG"), "mein-baeneo.png");
        assert_eq!(staged_name("noext"), "noext.bin");
        assert_eq!(staged_name("x.verylongext"), "x.bin");
    }
}
