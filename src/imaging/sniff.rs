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

/// An SVG is XML whose prolog (declaration, comments, processing instructions, DOCTYPE) leads
/// to an `<svg` root. The prolog is walked rather than searched, so a long licence comment
/// or DOCTYPE does not hide the root (and an `<svg` inside an HTML page is not taken for one).
/// The real parse in `svg/` confirms it; this only routes.
fn looks_like_svg(input: &[u8]) -> bool {
    let mut rest = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    loop {
        let start = rest
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(rest.len());
        rest = &rest[start..];
        let skipped = if rest.starts_with(b"<?") {
            find(rest, b"?>").map(|i| i + 2)
        } else if rest.starts_with(b"<!--") {
            find(rest, b"-->").map(|i| i + 3)
        } else if rest.starts_with(b"<!DOCTYPE") {
            doctype_end(rest)
        } else {
            return rest.starts_with(b"<svg")
                && rest
                    .get(4)
                    .is_some_and(|b| b.is_ascii_whitespace() || matches!(b, b'>' | b'/' | b':'));
        };
        match skipped {
            Some(end) => rest = &rest[end..],
            None => return false,
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Just past a DOCTYPE's closing `>`: quoted literals and an internal `[ … ]` subset skipped.
fn doctype_end(decl: &[u8]) -> Option<usize> {
    let (mut quote, mut depth) = (None, 0usize);
    for (i, &b) in decl.iter().enumerate() {
        match (quote, b) {
            (Some(q), b) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'[') => depth += 1,
            (None, b']') => depth = depth.saturating_sub(1),
            (None, b'>') if depth == 0 => return Some(i + 1),
            _ => {}
        }
    }
    None
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
    fn an_svg_root_is_found_after_any_prolog_and_only_there() {
        let licence = format!(
            "<?xml version=\"1.0\"?><!-- {} --><svg/>",
            "x".repeat(10_000)
        );
        assert_eq!(sniff(licence.as_bytes()).unwrap(), ImageKind::Svg);
        let doctype = format!(
            "<!DOCTYPE svg [<!ENTITY a \"{}\">]>\n<svg xmlns=\"x\">&a;</svg>",
            "]>".repeat(5000)
        );
        assert_eq!(sniff(doctype.as_bytes()).unwrap(), ImageKind::Svg);
        assert!(sniff(b"<html><body><svg></svg></body></html>").is_err());
        assert!(sniff(b"<svgfoo/>").is_err());
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
