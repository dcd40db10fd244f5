//! Format sniffing and the whole image pipeline (probe, decode within limits, orient, resize,
//! encode, SVG sanitizing and rendering) on arbitrary bytes: must return Ok or Err, never panic,
//! hang or allocate past the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3_upload_mcp::imaging::{self, Limits, OutputFormat, ProcessOptions, Quality};

fuzz_target!(|data: &[u8]| {
    let _ = imaging::sniff(data);
    // The first byte picks the options, so the encoders and the resizer are fuzzed too.
    let Some((&knobs, image)) = data.split_first() else {
        return;
    };
    let options = ProcessOptions {
        format: OutputFormat::ALL[usize::from(knobs) % OutputFormat::ALL.len()],
        quality: Quality::try_from(1 + u32::from(knobs) % 100).expect("1 to 100"),
        max_width: if knobs & 0x80 != 0 { 64 } else { 0 },
        max_height: if knobs & 0x40 != 0 { 48 } else { 0 },
        widths: Vec::new(),
        rasterize: knobs & 0x20 != 0,
        // Small limits keep executions fast; the limit checks themselves are what is under test.
        limits: Limits {
            max_pixels: 4_000_000,
            max_input_bytes: 1 << 20,
        },
    };
    let _ = imaging::process(image, &options);
});
