//! Tool arguments and results as MCP clients see them (JSON Schema via schemars).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::imaging::{ImageKind, OutputFormat, Overrides};

/// Arguments of `upload_image_to_s3`, and one item of `batch_upload_images`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadImageParams {
    /// The image bytes, base64-encoded, or a data URI such as "data:image/png;base64,iVBOR...".
    /// For images over ~1 MB prefer create_upload_url + staging_key: base64 costs many tokens.
    pub data: Option<String>,
    /// The staging_key returned by create_upload_url, after the file was PUT to its upload_url.
    pub staging_key: Option<String>,
    /// Absolute path of a local image file. Only the local stdio server accepts it, and only
    /// inside its --allow-dir directories.
    pub path: Option<String>,
    /// The image's original file name, e.g. "hero banner.png". Used to name the object
    /// (transliterated to ASCII) and kept in its metadata.
    pub filename: String,
    /// Bucket to write to; defaults to the server's bucket. See list_s3_buckets.
    pub bucket: Option<String>,
    /// Exact object key under the server's public root, e.g. "home/hero.webp". Default: a
    /// content-addressed key "{prefix}/{slug}-{hash}.{ext}" that never collides.
    pub key: Option<String>,
    /// Folder for the generated key, e.g. "figma/landing". Ignored when `key` is given.
    pub prefix: Option<String>,
    /// Replace an existing object at `key` (default false: an existing key with other content is refused).
    pub overwrite: Option<bool>,
    /// SVG only: render to a raster image (WebP/PNG) instead of storing the sanitized SVG.
    pub rasterize: Option<bool>,
    #[serde(flatten)]
    pub image: Overrides,
}

/// Arguments of `create_upload_url`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUploadUrlParams {
    /// The image's file name, e.g. "hero.png".
    pub filename: String,
    /// MIME type, e.g. "image/png" (default "application/octet-stream"). The PUT must send it
    /// as its Content-Type header.
    pub content_type: Option<String>,
    /// The file's exact size in bytes (e.g. `wc -c < hero.png`): the URL accepts a body of
    /// this length and no other.
    #[schemars(range(min = 1))]
    pub bytes: u64,
}

/// Arguments of `batch_upload_images`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchUploadParams {
    /// The images: each like upload_image_to_s3's arguments (one of data / staging_key / path,
    /// plus filename and optional overrides).
    pub items: Vec<UploadImageParams>,
    /// Default bucket for items that name none.
    pub bucket: Option<String>,
    /// Default folder for items that name none.
    pub prefix: Option<String>,
    /// Images processed and uploaded at once (default 5; capped by the server).
    #[schemars(range(min = 1))]
    pub concurrency: Option<u32>,
    /// Defaults for items that set none: format, quality, max_width, max_height, widths.
    #[serde(flatten)]
    pub image: Overrides,
}

/// A stored image and where to get it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
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
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct VariantOutcome {
    pub url: String,
    pub key: String,
    pub width: u32,
    pub height: u32,
    pub bytes: usize,
}

/// Result of `create_upload_url`: a presigned PUT and everything an agent needs to use it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct UploadUrl {
    /// Presigned S3 URL: PUT the file's raw bytes here before `expires_at`.
    pub upload_url: String,
    /// Always "PUT".
    pub method: String,
    /// Headers the PUT must carry exactly (your HTTP client adds Host and Content-Length).
    pub headers: BTreeMap<String, String>,
    /// Pass this to upload_image_to_s3 (or a batch item) as `staging_key` once the PUT succeeded.
    /// It works once, and only for you.
    pub staging_key: String,
    /// When the URL stops working (RFC 3339).
    pub expires_at: String,
    /// The exact size the URL accepts, in bytes: the `bytes` you asked for.
    pub bytes: u64,
    /// Largest file you may upload, in bytes.
    pub max_bytes: usize,
    /// A ready-to-run upload command; replace the file path if yours differs.
    pub curl: String,
}

/// Arguments of `open_uploader`: what applies to every image the user drops into the view.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenUploaderParams {
    /// Folder for the uploaded images' keys, e.g. "blog/2026".
    pub prefix: Option<String>,
    /// Output format for every image: "auto" (default: WebP unless the original is smaller),
    /// "webp", "original", "png" or "jpeg".
    pub format: Option<OutputFormat>,
    /// Extra widths to render for responsive images, e.g. [640, 1280] (at most 8).
    pub widths: Option<Vec<u32>>,
}

/// Result of `open_uploader`: the options the view applies to every upload (the view reads
/// these fields; `tests/browser` and `ui/uploader/src/contract.ts` hold the other side).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct UploaderOptions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<OutputFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub widths: Option<Vec<u32>>,
    /// Largest file the view may upload, in bytes.
    pub max_bytes: usize,
}

/// Result of `batch_upload_images`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BatchResult {
    /// One entry per item, in input order.
    pub results: Vec<BatchItemResult>,
    pub succeeded: usize,
    pub failed: usize,
}

/// One item's outcome: the upload result fields when ok, else `error`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BatchItemResult {
    /// Position of the item in `items`.
    pub index: usize,
    pub ok: bool,
    #[serde(flatten)]
    pub upload: Option<UploadOutcome>,
    /// What went wrong and how to fix it (when ok is false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// True when the failure was on the storage side and retrying the item may succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
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

/// Removes schemars' Rust-specific numeric formats ("uint32", "int64", …) from a tool schema:
/// JSON Schema does not define them and clients (TypeScript SDK, Inspector, Claude Code) warn
/// on every one. The `minimum: 0` schemars emits beside them keeps the meaning.
pub fn drop_numeric_formats(schema: &mut serde_json::Map<String, serde_json::Value>) {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(object) => {
                let numeric = object
                    .get("format")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|f| {
                        f.starts_with("uint")
                            || f.starts_with("int")
                            || f == "double"
                            || f == "float"
                    });
                if numeric {
                    object.remove("format");
                }
                object.values_mut().for_each(walk);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    schema.values_mut().for_each(walk);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_formats_are_dropped_and_other_formats_kept() {
        let mut schema = serde_json::json!({
            "type": "object",
            "properties": {
                "bytes": {"type": "integer", "format": "uint", "minimum": 0},
                "items": {"type": "array", "items": {"type": "integer", "format": "uint32"}},
                "when": {"type": "string", "format": "date-time"}
            }
        });
        drop_numeric_formats(schema.as_object_mut().unwrap());
        assert_eq!(
            schema["properties"]["bytes"],
            serde_json::json!({"type": "integer", "minimum": 0})
        );
        assert!(
            schema["properties"]["items"]["items"]
                .get("format")
                .is_none()
        );
        assert_eq!(schema["properties"]["when"]["format"], "date-time");
    }
}
