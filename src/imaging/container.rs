//! The container around the pixels, walked without decoding: where the primary image ends (what
//! follows is cut like any other metadata) and how far compressed metadata inflates (PNG
//! `iCCP`), checked before a decoder sees the bytes.

use super::{ImageKind, ImagingError};

/// Largest ICC profile accepted once inflated. Real profiles are a few KB (sRGB, Display P3)
/// and rarely above 1 MB (print profiles with large LUTs); a PNG's zlib `iCCP` can claim gigabytes.
pub const MAX_ICC_PROFILE_BYTES: usize = 4 << 20;

/// The bytes of the primary image in `input`: everything after its end marker is dropped.
///
/// What gets cut: HTML or scripts appended to a file, JPEG trailers (motion-photo MP4, MPF
/// secondary images such as gain maps or stereo pairs, vendor blocks), data after a PNG's `IEND`,
/// beyond a WebP's RIFF size or after a GIF's trailer. Inputs whose end cannot be found are
/// returned whole (decoding reports what is wrong with them).
pub(crate) fn primary_image(input: &[u8], kind: ImageKind) -> &[u8] {
    let end = match kind {
        ImageKind::Jpeg => jpeg_end(input),
        ImageKind::Png => png_end(input),
        ImageKind::Webp => webp_end(input),
        ImageKind::Gif => gif_end(input),
        ImageKind::Svg | ImageKind::Avif => None,
    };
    &input[..end.unwrap_or(input.len())]
}

/// Checks what a decoder would inflate besides the pixels; today only a PNG's `iCCP` profile
/// (`zTXt`/`iTXt` are never inflated by our decoders, and other formats store ICC uncompressed).
pub(crate) fn check_metadata(input: &[u8], kind: ImageKind) -> Result<(), ImagingError> {
    if kind != ImageKind::Png {
        return Ok(());
    }
    for (id, data) in png_chunks(input) {
        if id == *b"iCCP" {
            check_iccp(data)?;
        }
    }
    Ok(())
}

/// `iCCP`: a 1–79 byte name, NUL, compression method 0, then a zlib stream. Inflated with a
/// bound, so a bomb costs at most `MAX_ICC_PROFILE_BYTES` of memory and the time to fill it.
fn check_iccp(data: &[u8]) -> Result<(), ImagingError> {
    let Some(nul) = data.iter().take(80).position(|b| *b == 0) else {
        return Ok(()); // Malformed: the decoder ignores the chunk.
    };
    let Some(zlib) = data.get(nul + 2..) else {
        return Ok(());
    };
    match fdeflate::decompress_to_vec_bounded(zlib, MAX_ICC_PROFILE_BYTES) {
        Err(fdeflate::BoundedDecompressionError::OutputTooLarge { .. }) => {
            Err(ImagingError::DecodeLimit(format!(
                "the PNG's embedded colour profile (iCCP chunk) inflates to more than {} MiB; real profiles are far smaller — re-export the image with a standard profile (sRGB) or none",
                MAX_ICC_PROFILE_BYTES >> 20
            )))
        }
        // A corrupt stream is ignored by the decoder, like any broken metadata.
        _ => Ok(()),
    }
}

/// PNG chunks after the signature: (type, data), stopping at the first one that runs past the
/// end of the input.
fn png_chunks(input: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut at = 8usize;
    std::iter::from_fn(move || {
        let header = input.get(at..at.checked_add(8)?)?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let id = [header[4], header[5], header[6], header[7]];
        let data = input.get(at + 8..(at + 8).checked_add(len)?)?;
        at = at + 8 + len + 4; // + CRC
        Some((id, data))
    })
}

/// Just past the `IEND` chunk's CRC.
fn png_end(input: &[u8]) -> Option<usize> {
    let mut at = 8usize;
    loop {
        let header = input.get(at..at.checked_add(8)?)?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let next = at.checked_add(12)?.checked_add(len)?;
        if &header[4..8] == b"IEND" {
            return (next <= input.len()).then_some(next);
        }
        at = next;
    }
}

/// The RIFF container's own length (8-byte header + its size field, padded to even).
fn webp_end(input: &[u8]) -> Option<usize> {
    let size = u32::from_le_bytes(input.get(4..8)?.try_into().ok()?) as usize;
    let end = size.checked_add(8)?;
    (end <= input.len()).then_some(end)
}

/// Just past the primary image's end-of-image marker, found by walking the marker segments and
/// every scan (progressive JPEGs have many; entropy-coded data escapes 0xFF as FF 00, and restart
/// markers FF D0–D7 sit inside it). A JPEG embedded in an APPn segment (an EXIF thumbnail) is
/// skipped with its segment, so its EOI cannot be mistaken for ours.
pub(crate) fn jpeg_end(input: &[u8]) -> Option<usize> {
    if !input.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut i = 2usize;
    let mut in_scan = false;
    loop {
        if in_scan {
            // Find the next marker that is neither stuffing (FF 00), a restart (FF D0–D7) nor
            // fill (FF FF).
            loop {
                let at = i + memchr_ff(input.get(i..)?)?;
                match *input.get(at + 1)? {
                    0x00 | 0xD0..=0xD7 => i = at + 2,
                    0xFF => i = at + 1,
                    _ => {
                        i = at;
                        break;
                    }
                }
            }
            in_scan = false;
        }
        if *input.get(i)? != 0xFF {
            // Extraneous bytes where a marker belongs: skipped, as libjpeg does.
            i += memchr_ff(input.get(i..)?)?;
        }
        let marker = *input.get(i + 1)?;
        match marker {
            0xFF => i += 1, // fill byte before a marker
            0xD9 => return Some(i + 2),
            0xD8 => return None, // a second start of image: ours never ended
            0x01 | 0xD0..=0xD7 => i += 2,
            _ => {
                let len = usize::from(u16::from_be_bytes([*input.get(i + 2)?, *input.get(i + 3)?]));
                if len < 2 {
                    return None;
                }
                i = i.checked_add(2 + len)?;
                in_scan = marker == 0xDA;
            }
        }
    }
}

fn memchr_ff(s: &[u8]) -> Option<usize> {
    s.iter().position(|b| *b == 0xFF)
}

/// Just past the trailer byte (0x3B): blocks are walked (extensions and image data are chains of
/// length-prefixed sub-blocks), so a 0x3B inside a frame's data is not taken for it.
fn gif_end(input: &[u8]) -> Option<usize> {
    let flags = *input.get(10)?;
    let mut i = 13usize;
    if flags & 0x80 != 0 {
        i += 3 << ((flags & 0x07) + 1); // global colour table
    }
    let skip_sub_blocks = |mut i: usize| -> Option<usize> {
        loop {
            let len = usize::from(*input.get(i)?);
            i += 1 + len;
            if len == 0 {
                return Some(i);
            }
        }
    };
    loop {
        match *input.get(i)? {
            0x3B => return Some(i + 1),
            0x21 => i = skip_sub_blocks(i + 2)?, // extension: introducer, label, sub-blocks
            0x2C => {
                let packed = *input.get(i + 9)?;
                i += 10;
                if packed & 0x80 != 0 {
                    i += 3 << ((packed & 0x07) + 1); // local colour table
                }
                i = skip_sub_blocks(i + 1)?; // LZW minimum code size, then data sub-blocks
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JPEG: &[u8] = &[
        0xFF, 0xD8, // SOI
        0xFF, 0xE0, 0x00, 0x04, 0xFF, 0xD9, // APP0 whose payload looks like an EOI
        0xFF, 0xDA, 0x00, 0x02, // SOS
        0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56, // scan: stuffing, restart
        0xFF, 0xC4, 0x00, 0x02, // DHT between progressive scans
        0xFF, 0xDA, 0x00, 0x02, 0x78, // second scan
        0xFF, 0xD9, // EOI
    ];

    #[test]
    fn a_jpeg_ends_at_the_eoi_after_its_last_scan_not_at_one_inside_a_segment() {
        assert_eq!(jpeg_end(JPEG), Some(JPEG.len()));
        let mut trailed = JPEG.to_vec();
        trailed.extend_from_slice(b"<html><script>alert(1)</script>\xFF\xD9");
        assert_eq!(primary_image(&trailed, ImageKind::Jpeg), JPEG);
        // Truncated inside the scan: no end.
        assert_eq!(jpeg_end(&JPEG[..16]), None);
    }

    #[test]
    fn png_webp_and_gif_end_where_their_containers_say() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend_from_slice(&[0, 0, 0, 0]);
        png.extend_from_slice(b"IEND");
        png.extend_from_slice(&[0xAE, 0x42, 0x60, 0x82]);
        let len = png.len();
        png.extend_from_slice(b"<html>");
        assert_eq!(primary_image(&png, ImageKind::Png).len(), len);

        let mut webp = b"RIFF\x04\0\0\0WEBP".to_vec();
        webp.extend_from_slice(b"trailer");
        assert_eq!(primary_image(&webp, ImageKind::Webp), b"RIFF\x04\0\0\0WEBP");

        // Header, no colour table, one frame whose data holds a 0x3B, trailer, junk.
        let mut gif = b"GIF89a\x01\0\x01\0\0\0\0".to_vec();
        gif.extend_from_slice(&[
            0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0x02, 0x02, 0x3B, 0x3B, 0x00,
        ]);
        gif.push(0x3B);
        let len = gif.len();
        gif.extend_from_slice(b"<html>");
        assert_eq!(primary_image(&gif, ImageKind::Gif).len(), len);
    }

    #[test]
    fn an_input_whose_end_cannot_be_found_is_kept_whole() {
        assert_eq!(primary_image(b"\x89PNG\r\n\x1a\n", ImageKind::Png).len(), 8);
        assert_eq!(primary_image(b"<svg/>", ImageKind::Svg).len(), 6);
    }
}
