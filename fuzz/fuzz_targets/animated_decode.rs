//! Animated GIF and WebP decoding on arbitrary containers: frames and canvas are counted
//! before any frame is decoded, then frames are composited, resized and re-encoded. Must
//! return Ok or Err, never panic, hang (a frame that fails to decode must not be retried
//! forever) or allocate past frames × canvas ≤ MAX_PIXELS.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3_upload_mcp::imaging::{self, Limits, OutputFormat, ProcessOptions};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the output and a resize; the rest is the file.
    let Some((&knobs, image)) = data.split_first() else {
        return;
    };
    let options = ProcessOptions {
        format: [OutputFormat::Auto, OutputFormat::Webp, OutputFormat::Original]
            [usize::from(knobs % 3)],
        max_width: if knobs & 0x10 != 0 { 32 } else { 0 },
        max_height: if knobs & 0x20 != 0 { 24 } else { 0 },
        widths: if knobs & 0x40 != 0 { vec![8] } else { Vec::new() },
        // Small limits keep executions fast; the frame bound itself is what is under test.
        limits: Limits {
            max_pixels: 2_000_000,
            max_input_bytes: 1 << 20,
        },
        ..ProcessOptions::default()
    };
    let Ok(out) = imaging::process(image, &options) else {
        return;
    };
    assert!(
        u64::from(out.width) * u64::from(out.height) * u64::from(out.frames) <= 2_000_000,
        "{}×{} × {} frames got past the limit",
        out.width,
        out.height,
        out.frames
    );
});
