//! The inline `data` argument: base64 (standard, URL-safe, padded or not, wrapped) or a `data:`
//! URI, decoded within the size limit and handed to the pipeline.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3_upload_mcp::mcp::schema::UploadImageParams;
use s3_upload_mcp_fuzz_support::upload;

#[path = "../support.rs"]
mod s3_upload_mcp_fuzz_support;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let arguments = serde_json::json!({ "data": text, "filename": "fuzz.png" });
    let params: UploadImageParams =
        serde_json::from_value(arguments).expect("data and filename are the whole schema");
    upload(params);
});
