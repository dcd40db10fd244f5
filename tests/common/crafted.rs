//! Hostile images built byte by byte, small on the wire and huge once decoded or rendered: the
//! attacks of issue 10 (imaging), so the tests carry their recipe instead of multi-MB fixtures.

use base64::Engine as _;

/// `<svg>` of `width`×`height` around `body`.
pub fn svg(width: u32, height: u32, body: &str) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">{body}</svg>"#
    )
}

/// An SVG showing `raster` through `<image href="data:{mime};base64,…">`.
pub fn svg_embedding(mime: &str, raster: &[u8]) -> String {
    let data = base64::engine::general_purpose::STANDARD.encode(raster);
    svg(
        100,
        100,
        &format!(r#"<image width="100" height="100" href="data:{mime};base64,{data}"/>"#),
    )
}

/// The review's filter bomb: fractal noise with 10 octaves, blurred, over the whole canvas.
pub fn svg_turbulence(side: u32) -> String {
    svg(
        side,
        side,
        r#"<filter id="f"><feTurbulence baseFrequency="0.01" numOctaves="10"/><feGaussianBlur stdDeviation="50"/></filter><rect width="100%" height="100%" filter="url(#f)"/>"#,
    )
}

/// An entity of `entity_bytes` bytes used `uses` times: tiny to send, `entity_bytes × uses`
/// once expanded.
pub fn svg_internal_entity(entity_bytes: usize, uses: usize) -> String {
    format!(
        r#"<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "{}">]><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>{}</text></svg>"#,
        "x".repeat(entity_bytes),
        "&a;".repeat(uses)
    )
}

fn riff_chunk(fourcc: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = fourcc.to_vec();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    if payload.len() % 2 == 1 {
        out.push(0);
    }
    out
}

fn u24(v: u32) -> [u8; 3] {
    let b = v.to_le_bytes();
    [b[0], b[1], b[2]]
}

/// A lossless 1×1 transparent pixel: VP8L signature, 14-bit width/height − 1 (0), no alpha
/// hint, version 0, no transform, no colour cache, no meta codes, then five single-symbol
/// prefix codes (symbol 0), so the pixel itself takes no bits.
const VP8L_1X1: [u8; 8] = [0x2F, 0, 0, 0, 0, 0x88, 0x88, 0x08];

/// An animated WebP: a `width`×`height` canvas and `frames` ANMF frames of 1×1 pixel, each
/// shown for 100 ms. About 40 bytes per frame; libwebp composites each into a full canvas.
pub fn animated_webp(width: u32, height: u32, frames: usize) -> Vec<u8> {
    let mut vp8x = vec![0x02, 0, 0, 0]; // animation flag
    vp8x.extend_from_slice(&u24(width - 1));
    vp8x.extend_from_slice(&u24(height - 1));
    let mut body = b"WEBP".to_vec();
    body.extend(riff_chunk(b"VP8X", &vp8x));
    body.extend(riff_chunk(b"ANIM", &[0, 0, 0, 0, 0, 0]));
    for _ in 0..frames {
        let mut anmf = Vec::new();
        for field in [0, 0, 0, 0, 100] {
            anmf.extend_from_slice(&u24(field)); // x/2, y/2, width − 1, height − 1, duration
        }
        anmf.push(0); // blend, keep
        anmf.extend(riff_chunk(b"VP8L", &VP8L_1X1));
        body.extend(riff_chunk(b"ANMF", &anmf));
    }
    let mut riff = b"RIFF".to_vec();
    riff.extend_from_slice(&(body.len() as u32).to_le_bytes());
    riff.extend(body);
    riff
}

/// An animated GIF: a `width`×`height` logical screen and `frames` frames of 1×1 pixel.
pub fn animated_gif(width: u16, height: u16, frames: usize) -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    gif.extend_from_slice(&[0x80, 0, 0]); // global colour table of 2 entries
    gif.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
    // NETSCAPE2.0: loop forever.
    gif.extend_from_slice(b"\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00");
    for _ in 0..frames {
        gif.extend_from_slice(&[0x21, 0xF9, 0x04, 0x00, 10, 0, 0, 0]); // 100 ms
        gif.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0]); // 1×1 at 0,0
        gif.extend_from_slice(&[0x02, 0x02, 0x44, 0x01, 0x00]); // LZW: clear, 0, end
    }
    gif.push(0x3B);
    gif
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// A zlib stream inflating to `blocks` × 16 MiB of zeros. One 16 MiB block is compressed once
/// with a full flush (byte-aligned, no back-references across it) and repeated, so building a
/// 4 GiB bomb takes milliseconds.
pub fn zlib_zeros(blocks: usize) -> Vec<u8> {
    const BLOCK: usize = 16 << 20;
    let mut deflate = flate2::Compress::new(flate2::Compression::best(), false);
    let mut block = Vec::with_capacity(BLOCK / 256); // deflate tops out near 1032:1
    deflate
        .compress_vec(&vec![0; BLOCK], &mut block, flate2::FlushCompress::Full)
        .expect("deflate");
    assert_eq!(
        deflate.total_in(),
        BLOCK as u64,
        "the output buffer was too small"
    );
    let mut out = vec![0x78, 0xDA];
    for _ in 0..blocks {
        out.extend_from_slice(&block);
    }
    out.extend_from_slice(&[0x03, 0x00]); // final, empty fixed-Huffman block
    // Adler-32 of n zeros: a = 1, b = n (mod 65521).
    let b = ((blocks as u64 * BLOCK as u64) % 65521) as u32;
    out.extend_from_slice(&((b << 16) | 1).to_be_bytes());
    out
}

/// A 64×64 RGB PNG whose `iCCP` profile inflates to `blocks` × 16 MiB (250 → 4.2 GB from a
/// ~4 MB file).
pub fn png_with_iccp_bomb(blocks: usize) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&64u32.to_be_bytes());
    ihdr.extend_from_slice(&64u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut png, b"IHDR", &ihdr);
    let mut iccp = b"icc\0\0".to_vec();
    iccp.extend(zlib_zeros(blocks));
    png_chunk(&mut png, b"iCCP", &iccp);
    let rows: Vec<u8> = (0..64)
        .flat_map(|_| std::iter::once(0).chain([200u8, 100, 50].repeat(64)))
        .collect();
    let mut idat = Vec::with_capacity(rows.len() + 64);
    flate2::Compress::new(flate2::Compression::fast(), true)
        .compress_vec(&rows, &mut idat, flate2::FlushCompress::Finish)
        .expect("deflate");
    png_chunk(&mut png, b"IDAT", &idat);
    png_chunk(&mut png, b"IEND", &[]);
    png
}

/// Patterns painting with patterns: `levels` levels of 100 rects each painted with the level
/// below. About 18 KB for 4 levels, which usvg expanded into 10^8 conversions.
pub fn svg_pattern_expansion(levels: u32) -> String {
    let mut defs = r#"<pattern id="p0" width="4" height="4" patternUnits="userSpaceOnUse"><rect width="1" height="1"/></pattern>"#.to_string();
    for level in 1..=levels {
        let rects = format!(
            r#"<rect width="4" height="4" fill="url(#p{})"/>"#,
            level - 1
        )
        .repeat(100);
        defs.push_str(&format!(
            r#"<pattern id="p{level}" width="4" height="4" patternUnits="userSpaceOnUse">{rects}</pattern>"#
        ));
    }
    svg(
        64,
        64,
        &format!(r#"<defs>{defs}</defs><rect width="64" height="64" fill="url(#p{levels})"/>"#),
    )
}
