//! Where image bytes come from: inline base64 / data URIs, staged objects, allowed local files
//! (read by [`super::local_file`]).

use base64::Engine as _;

use super::{InputReason, StagingKey, UploadError, UploadSettings};
use crate::imaging::ImagingError;
use crate::storage::{ObjectInfo, Storage, StorageError};

/// What HEAD said about a staged object (a batch asks once for all its items).
pub(super) type StagedHead = Result<Option<ObjectInfo>, StorageError>;

/// Where the image bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Base64 text or a `data:` URI, as an agent sends it inline.
    Inline(String),
    /// An object PUT to the staging prefix through a `create_upload_url` URL.
    Staged(String),
    /// A local file, only inside the allowed directories (the stdio server's `--allow-dir`).
    Path(std::path::PathBuf),
}

/// Fetches a claimed staged object from the default bucket: sized by HEAD (`head`, when the
/// caller already asked) before any byte is downloaded, then read in one pass.
pub(super) async fn read_staged(
    storage: &Storage,
    settings: &UploadSettings,
    staging_key: &StagingKey,
    max_bytes: usize,
    head: Option<StagedHead>,
) -> Result<Vec<u8>, UploadError> {
    let bucket = &settings.default_bucket;
    let key = staging_key.key();
    let head = match head {
        Some(answer) => answer,
        None => storage.head(bucket, &key).await,
    };
    let info = head?.ok_or_else(|| {
        UploadError::invalid(
            InputReason::StagingObject,
            "nothing was uploaded to this staging_key: PUT the file to its upload_url first (before \
             expires_at), or call create_upload_url again",
        )
    })?;
    if info.size == 0 {
        return Err(UploadError::invalid(
            InputReason::StagingObject,
            "the file staged at this staging_key is empty; call create_upload_url again and PUT the image",
        ));
    }
    if info.size > max_bytes as u64 {
        return Err(ImagingError::InputTooLarge {
            bytes: usize::try_from(info.size).unwrap_or(usize::MAX),
            limit: max_bytes,
        }
        .into());
    }
    Ok(storage.get(bucket, &key, max_bytes).await?)
}

/// Decodes base64 or a `data:` URI, refusing oversized payloads before allocating for them.
pub(super) fn decode_inline(text: &str, max_bytes: usize) -> Result<Vec<u8>, UploadError> {
    let invalid = |message: &str| UploadError::invalid(InputReason::InlineData, message);
    let payload = match text.trim_start().strip_prefix("data:") {
        Some(uri) => {
            let (header, data) = uri.split_once(',').ok_or_else(|| {
                invalid(
                    "data URI has no ',' before the payload; use data:image/png;base64,<base64>",
                )
            })?;
            if !header.ends_with(";base64") {
                return Err(invalid(
                    "data URI is not base64-encoded; use data:<type>;base64,<base64>",
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
        return Err(invalid(
            "data is empty; pass the image as base64 or a data: URI",
        ));
    }
    let decoded_len = compact.len() / 4 * 3;
    if decoded_len > max_bytes + 3 {
        return Err(UploadError::invalid(
            InputReason::InlineTooLarge,
            format!(
                "the image is about {decoded_len} bytes; inline uploads are limited to {max_bytes} bytes. \
                 Call create_upload_url and upload the file out of band instead"
            ),
        ));
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
            invalid(&format!(
                "data is not valid base64 ({e}); send the file's bytes base64-encoded, or as data:image/png;base64,…"
            ))
        })?;
    if bytes.is_empty() {
        return Err(invalid(
            "data decodes to zero bytes; send the image's bytes",
        ));
    }
    Ok(bytes)
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
}
