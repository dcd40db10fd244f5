//! Format detection from magic bytes only (never names or declared content types).

use super::{ImageKind, ImagingError};

/// Detects the format of `input` from its first bytes.
pub fn sniff(input: &[u8]) -> Result<ImageKind, ImagingError> {
    if input.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(ImageKind::Png);
    }
    if input.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(ImageKind::Jpeg);
    }
    if input.len() >= 12 && &input[0..4] == b"RIFF" && &input[8..12] == b"WEBP" {
        return Ok(ImageKind::Webp);
    }
    if input.starts_with(b"GIF87a") || input.starts_with(b"GIF89a") {
        return Ok(ImageKind::Gif);
    }
    if let Some(brand) = iso_bmff_brand(input) {
        return match brand {
            Brand::Avif => Ok(ImageKind::Avif),
            Brand::Heif => Err(ImagingError::Unsupported(
                "HEIC/HEIF input is not supported; convert it to JPEG, PNG or WebP and upload that"
                    .into(),
            )),
            Brand::Other => Err(not_an_image(input)),
        };
    }
    if looks_like_svg(input) {
        return Ok(ImageKind::Svg);
    }
    Err(named_unsupported(input).unwrap_or_else(|| not_an_image(input)))
}

enum Brand {
    Avif,
    Heif,
    Other,
}

/// ISO-BMFF `ftyp` box: major brand plus compatible brands.
fn iso_bmff_brand(input: &[u8]) -> Option<Brand> {
    if input.len() < 16 || &input[4..8] != b"ftyp" {
        return None;
    }
    let size = (u32::from_be_bytes([input[0], input[1], input[2], input[3]]) as usize)
        .clamp(16, input.len().min(256));
    let brands: Vec<&[u8]> = std::iter::once(&input[8..12])
        .chain(input[16..size].chunks_exact(4))
        .collect();
    if brands.iter().any(|b| *b == b"avif" || *b == b"avis") {
        Some(Brand::Avif)
    } else if brands.iter().any(|b| {
        matches!(
            *b,
            b"heic" | b"heix" | b"mif1" | b"msf1" | b"heim" | b"heis"
        )
    }) {
        Some(Brand::Heif)
    } else {
        Some(Brand::Other)
    }
}

/// An SVG is XML whose prolog (declaration, comments, DOCTYPE) leads to an `<svg` root.
/// The real parse in `svg.rs` confirms it; this only routes.
fn looks_like_svg(input: &[u8]) -> bool {
    let head = &input[..input.len().min(4096)];
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let Some(first) = head.iter().position(|b| !b.is_ascii_whitespace()) else {
        return false;
    };
    if head[first] != b'<' {
        return false;
    }
    head.windows(4).any(|w| w == b"<svg")
}

fn named_unsupported(input: &[u8]) -> Option<ImagingError> {
    let name = if input.starts_with(b"BM") {
        "BMP"
    } else if input.starts_with(b"II*\0") || input.starts_with(b"MM\0*") {
        "TIFF"
    } else if input.starts_with(&[0, 0, 1, 0]) {
        "ICO"
    } else if input.starts_with(b"\xFF\x0A") || input.starts_with(b"\0\0\0\x0CJXL ") {
        "JPEG XL"
    } else if input.starts_with(b"%PDF") {
        "PDF"
    } else if input.starts_with(b"8BPS") {
        "PSD"
    } else {
        return None;
    };
    Some(ImagingError::Unsupported(format!(
        "{name} input is not supported; convert it to PNG, JPEG or WebP and upload that"
    )))
}

fn not_an_image(input: &[u8]) -> ImagingError {
    let shown: String = input
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ");
    ImagingError::Unsupported(format!(
        "the data is not a supported image (first bytes: {shown}); send PNG, JPEG, WebP, GIF or SVG bytes — was it base64-encoded twice or a web page instead of an image?"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_decide_the_format() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n....").unwrap(), ImageKind::Png);
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0]).unwrap(),
            ImageKind::Jpeg
        );
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 ").unwrap(), ImageKind::Webp);
        assert_eq!(sniff(b"GIF89a....").unwrap(), ImageKind::Gif);
        assert_eq!(
            sniff(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1").unwrap(),
            ImageKind::Avif
        );
        assert_eq!(
            sniff(b"\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<svg xmlns=\"x\"/>").unwrap(),
            ImageKind::Svg
        );
    }

    #[test]
    fn heic_bmp_and_html_get_actionable_errors() {
        let heic = sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic").unwrap_err();
        assert!(heic.to_string().contains("HEIC"), "{heic}");
        let bmp = sniff(b"BM\0\0\0\0\0\0").unwrap_err();
        assert!(bmp.to_string().contains("BMP"));
        let html = sniff(b"<!doctype html><html></html>").unwrap_err();
        assert_eq!(html.kind(), "unsupported_format");
        assert!(html.to_string().contains("first bytes"));
    }
}
