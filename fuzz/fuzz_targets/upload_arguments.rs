//! Tool arguments as an agent sends them: JSON → `UploadImageParams` → the upload pipeline
//! (validation of bucket, key, prefix, filename and options, inline base64 decoding,
//! processing). The store behind it is unreachable and its circuit breaker opens at once, so no
//! execution waits on the network.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3_upload_mcp::mcp::schema::UploadImageParams;
use s3_upload_mcp_fuzz_support::upload;

#[path = "../support.rs"]
mod s3_upload_mcp_fuzz_support;

fuzz_target!(|data: &[u8]| {
    let Ok(params) = serde_json::from_slice::<UploadImageParams>(data) else {
        return;
    };
    // `path` is refused by an HTTP server (no allowed directories); fuzzing it would only
    // read files of the fuzzing machine.
    if params.path.is_some() {
        return;
    }
    upload(params);
});
