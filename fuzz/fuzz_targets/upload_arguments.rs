//! Tool arguments as an agent sends them: JSON → `UploadImageParams` → the upload pipeline
//! (validation of bucket, key, prefix, filename and quality, inline base64 decoding, processing).
//! The store behind it is unreachable and its circuit breaker opens at once, so no execution
//! waits on the network.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3_upload_mcp::mcp::schema::UploadImageParams;
use s3_upload_mcp_fuzz_support::{runtime, uploader};
use s3_upload_mcp::upload::{Source, UploadRequest};

#[path = "../support.rs"]
mod s3_upload_mcp_fuzz_support;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(params) = serde_json::from_str::<UploadImageParams>(text) else {
        return;
    };
    let source = match (params.data, params.path) {
        (Some(data), None) => Source::Inline(data),
        // `path` is refused by an HTTP server (no allowed directories); fuzzing it would only
        // read files of the fuzzing machine.
        _ => return,
    };
    let request = UploadRequest {
        source,
        filename: params.filename,
        bucket: params.bucket,
        key: params.key,
        prefix: params.prefix,
        format: params.format,
        quality: params.quality.map(|q| u8::try_from(q).unwrap_or(0)),
        max_width: params.max_width,
        max_height: params.max_height,
    };
    let _ = runtime().block_on(uploader().upload(request));
});
