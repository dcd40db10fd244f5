//! Presigned staging uploads: large images travel out of band (a plain HTTP PUT), not through
//! the model as base64.

use std::collections::BTreeMap;

use super::{UploadError, Uploader, validate_filename};
use crate::auth::Principal;
use crate::imaging::ImagingError;
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

/// A presigned PUT and everything an agent needs to use it.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct StagingTicket {
    /// Presigned S3 URL: PUT the file's raw bytes here before `expires_at`.
    pub upload_url: String,
    /// Always "PUT".
    pub method: String,
    /// Headers the PUT must carry exactly.
    pub headers: BTreeMap<String, String>,
    /// Pass this to upload_image_to_s3 (or a batch item) as `staging_key` once the PUT succeeded.
    pub staging_key: String,
    /// When the URL stops working (RFC 3339).
    pub expires_at: String,
    /// Largest file accepted, in bytes.
    pub max_bytes: usize,
    /// A ready-to-run upload command; replace the file path if yours differs.
    pub curl: String,
}

impl Uploader {
    /// Issues a presigned PUT URL for one image in the staging prefix of the default bucket.
    pub async fn create_upload_url(
        &self,
        principal: &Principal,
        request: StagingRequest,
    ) -> Result<StagingTicket, UploadError> {
        let config = self.config();
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
                return Err(UploadError::InvalidInput(format!(
                    "content_type {ct:?} is not an image type; use e.g. image/png, or leave it out"
                )));
            }
        };

        let staging_key = format!(
            "{}{}/{}",
            config.staging_prefix,
            random_token(),
            staged_name(&request.filename)
        );
        let expires_at = time::OffsetDateTime::now_utc() + config.staging_url_expiry;
        let presigned = self
            .storage
            .presign_put(
                &config.default_bucket,
                &staging_key,
                content_type.as_deref(),
                config.staging_url_expiry,
            )
            .await?;
        let headers: BTreeMap<String, String> = presigned.headers.into_iter().collect();
        let curl = curl_command(&presigned.url, &headers, &request.filename);
        Ok(StagingTicket {
            upload_url: presigned.url,
            method: "PUT".into(),
            headers,
            staging_key,
            expires_at: expires_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            max_bytes,
            curl,
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

fn random_token() -> String {
    let mut token = [0u8; 16];
    getrandom::fill(&mut token).expect("the OS random number generator is available");
    hex::encode(token)
}

/// `curl -sS -X PUT -H 'Name: value' --upload-file './file.png' 'url'`, quoted for POSIX shells.
fn curl_command(url: &str, headers: &BTreeMap<String, String>, filename: &str) -> String {
    let mut command = String::from("curl -sS --fail-with-body -X PUT");
    for (name, value) in headers {
        command.push_str(" -H ");
        command.push_str(&shell_quote(&format!("{name}: {value}")));
    }
    let base = filename.rsplit(['/', '\\']).next().unwrap_or(filename);
    command.push_str(" --upload-file ");
    command.push_str(&shell_quote(&format!("./{base}")));
    command.push(' ');
    command.push_str(&shell_quote(url));
    command
}

fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_command_is_quoted_for_the_shell() {
        let mut headers = BTreeMap::new();
        headers.insert("content-type".to_owned(), "image/png".to_owned());
        let command = curl_command(
            "http://h/b/k?X-Amz-Signature=abc&x=1",
            &headers,
            "it's mine.png",
        );
        assert_eq!(
            command,
            "curl -sS --fail-with-body -X PUT -H 'content-type: image/png' --upload-file './it'\\''s mine.png' 'http://h/b/k?X-Amz-Signature=abc&x=1'"
        );
    }

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
