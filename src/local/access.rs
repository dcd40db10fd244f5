//! Who may do what in the embedded store: this server anything; anonymous callers GET/HEAD of
//! normalized keys under `KEY_PREFIX/`; a presigned URL one PUT of an image into the staging
//! prefix, of the length it was signed for.

use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{S3Result, s3_error};

use super::StoreSettings;
use crate::primitives::is_stageable_media_type;
use crate::storage::keys;

/// Headers a presigned PUT must have signed: without them the URL could carry any size, any
/// type, or overwrite what is already staged.
const PRESIGNED_PUT_SIGNS: [&str; 3] = ["content-length", "content-type", "if-none-match"];

pub(super) struct StoreAccess {
    settings: StoreSettings,
}

impl StoreAccess {
    pub(super) fn new(settings: StoreSettings) -> Self {
        StoreAccess { settings }
    }

    /// Anonymous callers read published images and nothing else. s3s hands over the key
    /// percent-decoded but not normalized, and s3s-fs resolves `.`/`..` against its root, so a
    /// key is public only in its one normal spelling: `images/./x` or `x/../_staging/…` never is.
    fn anonymous(&self, cx: &S3AccessContext<'_>) -> S3Result<()> {
        let read = matches!(cx.s3_op().name(), "GetObject" | "HeadObject");
        match cx.s3_path() {
            S3Path::Object { key, .. } if read && self.is_public(key) => Ok(()),
            _ => Err(s3_error!(
                AccessDenied,
                "Anonymous access is limited to reading published images (GET or HEAD of a key under {}/)",
                self.settings.public_prefix
            )),
        }
    }

    fn is_public(&self, key: &str) -> bool {
        let StoreSettings {
            public_prefix,
            staging_prefix,
            ..
        } = &self.settings;
        let under_public = public_prefix.is_empty()
            || key
                .strip_prefix(public_prefix.as_str())
                .is_some_and(|rest| rest.starts_with('/'));
        is_normal(key) && under_public && !key.starts_with(staging_prefix.as_str())
    }

    /// A presigned URL (credentials in the query string, signed by this server) may only PUT one
    /// image into the staging prefix. s3s has verified the signature by now, so the headers
    /// checked here are the ones the ticket signed.
    fn presigned(&self, cx: &S3AccessContext<'_>) -> S3Result<()> {
        let staging = &self.settings.staging_prefix;
        let staged_key = match cx.s3_path() {
            S3Path::Object { key, .. } => {
                is_normal(key)
                    && key.starts_with(staging.as_str())
                    && !key.rsplit('/').next().unwrap_or_default().starts_with('.')
            }
            _ => false,
        };
        if cx.s3_op().name() != "PutObject" || !staged_key {
            return Err(s3_error!(
                AccessDenied,
                "A presigned URL of this store only PUTs one file into {staging}"
            ));
        }
        let signed = signed_headers(cx.uri().query().unwrap_or_default());
        if let Some(missing) = PRESIGNED_PUT_SIGNS
            .iter()
            .find(|name| !signed.iter().any(|s| s == *name))
        {
            return Err(s3_error!(
                AccessDenied,
                "The presigned URL does not sign {missing}; ask create_upload_url for a new one"
            ));
        }
        let header = |name: &str| {
            cx.headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::trim)
        };
        if !header("content-type").is_some_and(is_stageable_media_type) {
            return Err(s3_error!(
                AccessDenied,
                "Only images may be staged: send Content-Type image/<type> or application/octet-stream"
            ));
        }
        if header("if-none-match") != Some("*") {
            return Err(s3_error!(
                AccessDenied,
                "Send If-None-Match: * with the PUT, as the ticket's headers say"
            ));
        }
        // hyper drops Content-Length when Transfer-Encoding is also sent: a chunked body of
        // any size never gets here.
        let Some(length) = header("content-length").and_then(|v| v.parse::<u64>().ok()) else {
            return Err(s3_error!(
                MissingContentLength,
                "Send the file with a Content-Length (not chunked)"
            ));
        };
        let max = self.settings.max_staged_bytes;
        if length == 0 || length > max {
            return Err(s3_error!(
                EntityTooLarge,
                "The body is {length} bytes; a staged upload holds 1 to {max} bytes (MAX_INPUT_BYTES)"
            ));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl S3Access for StoreAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        match cx.credentials() {
            None => self.anonymous(cx),
            // Only this server holds the secret: a header-signed request is its own client.
            Some(_) if cx.headers().contains_key(hyper::header::AUTHORIZATION) => Ok(()),
            // Signed by this server, carried by someone else (a presigned URL, a POST policy).
            Some(_) => self.presigned(cx),
        }
    }
}

/// A key in its one normal spelling: relative, no `.`/`..`/empty segments, no controls.
fn is_normal(key: &str) -> bool {
    keys::validate_key("key", key).is_ok() && !key.split('/').any(str::is_empty)
}

/// The lower-case header names in a presigned URL's `X-Amz-SignedHeaders`.
fn signed_headers(query: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "X-Amz-SignedHeaders")
        .map(|(_, value)| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .split(';')
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(public_prefix: &str) -> StoreAccess {
        StoreAccess::new(StoreSettings {
            public_prefix: public_prefix.into(),
            staging_prefix: "_staging/".into(),
            max_staged_bytes: 100,
        })
    }

    #[test]
    fn only_normal_keys_under_the_public_prefix_are_public() {
        let store = access("images");
        assert!(store.is_public("images/a.png"));
        assert!(store.is_public("images/site/a-64w.webp"));
        for key in [
            "images",
            "images/",
            "imagesx/a.png",
            "images/./a.png",
            "images/../_staging/t/a.png",
            "./_staging/t/a.png",
            "x/../_staging/t/a.png",
            "images//a.png",
            "images/a.png/",
            "images/../../.bucket-dXBsb2Fkcw.metadata.json",
            "_staging/t/a.png",
            "/images/a.png",
        ] {
            assert!(!store.is_public(key), "{key:?} must not be public");
        }
    }

    #[test]
    fn with_no_public_prefix_everything_normal_but_staging_is_public() {
        let store = access("");
        assert!(store.is_public("a.png"));
        assert!(!store.is_public("_staging/t/a.png"));
        assert!(!store.is_public("a/../_staging/t/a.png"));
    }

    #[test]
    fn signed_headers_are_read_from_the_query_string() {
        assert_eq!(
            signed_headers(
                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost&x-id=PutObject"
            ),
            ["content-length", "content-type", "host"]
        );
        assert!(signed_headers("x-id=PutObject").is_empty());
    }
}
