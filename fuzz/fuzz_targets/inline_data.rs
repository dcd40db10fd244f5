//! The inline `data` argument: base64 (standard, URL-safe, padded or not, wrapped) or a `data:`
//! URI, decoded within the size limit and handed to the pipeline.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3_upload_mcp::upload::{Source, UploadRequest};
use s3_upload_mcp_fuzz_support::{runtime, uploader};

#[path = "../support.rs"]
mod s3_upload_mcp_fuzz_support;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let request = UploadRequest {
        source: Source::Inline(text),
        filename: "fuzz.png".into(),
        bucket: None,
        key: None,
        prefix: None,
        format: None,
        quality: None,
        max_width: None,
        max_height: None,
    };
    let _ = runtime().block_on(uploader().upload(request));
});
