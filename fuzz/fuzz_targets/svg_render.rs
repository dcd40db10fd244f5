//! The SVG sanitizer and renderer on arbitrary documents: sanitize, parse, price the renders,
//! render and encode. Must return Ok or Err, never panic, hang or allocate past the limits;
//! a stored (sanitized) document must be accepted again unchanged, and must not load or run
//! anything.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3_upload_mcp::imaging::{self, ImageKind, Limits, OutputFormat, ProcessOptions};

fuzz_target!(|data: &[u8]| {
    // The first byte picks rasterize, the box and a variant; the rest is the document.
    let Some((&knobs, svg)) = data.split_first() else {
        return;
    };
    let options = ProcessOptions {
        format: if knobs & 0x01 != 0 { OutputFormat::Png } else { OutputFormat::Auto },
        max_width: [0, 64, 256, 1024][usize::from(knobs >> 1 & 3)],
        max_height: [0, 48, 256, 1024][usize::from(knobs >> 3 & 3)],
        widths: if knobs & 0x20 != 0 { vec![16, 5000] } else { Vec::new() },
        rasterize: knobs & 0x40 != 0,
        // Small limits keep executions fast; the bounds themselves are what is under test.
        limits: Limits {
            max_pixels: 1_000_000,
            max_input_bytes: 256 << 10,
        },
        ..ProcessOptions::default()
    };
    let Ok(out) = imaging::process(svg, &options) else {
        return;
    };
    if out.kind != ImageKind::Svg {
        return;
    }
    let clean = String::from_utf8_lossy(&out.bytes).to_ascii_lowercase();
    for banned in ["<script", "javascript:", "@import", "<foreignobject", "<!doctype", "<!entity"] {
        assert!(!clean.contains(banned), "{banned} survived sanitizing");
    }
    // Sanitizing is a fixed point: what we store is accepted again, byte for byte.
    let again = imaging::process(&out.bytes, &options).expect("the sanitized SVG is accepted");
    assert_eq!(again.bytes, out.bytes, "sanitizing the sanitized SVG changed it");
});
