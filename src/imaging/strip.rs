//! Lossless metadata stripping for keeping the original format: EXIF/GPS, XMP, IPTC, comments,
//! text chunks and anything after the primary image go; pixel data, colour (ICC,
//! gAMA/cHRM/sRGB), transparency and animation stay.

use bytes::Bytes;
use img_parts::jpeg::{Jpeg, markers};
use img_parts::png::Png;
use img_parts::webp::WebP;

use super::{ImageKind, ImagingError, container};

/// The input with its metadata removed, or `None` for kinds we do not strip this way.
///
/// Bytes after the primary image are metadata too: appended HTML or scripts, motion-photo MP4s,
/// and MPF secondary images (HDR gain maps, stereo pairs) are separate images we neither decode
/// nor strip, so they are cut with the MPF segment that points at them.
pub(crate) fn strip(input: &[u8], kind: ImageKind) -> Result<Option<Vec<u8>>, ImagingError> {
    let corrupt = |e: img_parts::Error| ImagingError::Corrupt {
        detail: format!("{kind} structure: {e}"),
    };
    let input = container::primary_image(input, kind);
    let bytes = Bytes::copy_from_slice(input);
    let out = match kind {
        ImageKind::Jpeg => {
            let mut jpeg = Jpeg::from_bytes(bytes).map_err(corrupt)?;
            jpeg.segments_mut()
                .retain(|s| keep_jpeg_segment(s.marker(), s.contents()));
            // img_parts keeps everything after the first scan as that scan's data: the cut
            // above is what ends it at our EOI.
            jpeg.encoder().bytes().to_vec()
        }
        ImageKind::Png => {
            let mut png = Png::from_bytes(bytes).map_err(corrupt)?;
            png.chunks_mut().retain(|c| keep_png_chunk(c.kind()));
            png.encoder().bytes().to_vec()
        }
        ImageKind::Webp => {
            let mut webp = WebP::from_bytes(bytes).map_err(corrupt)?;
            // The encoder recomputes the VP8X flags from the remaining chunks.
            webp.remove_chunks_by_id(*b"EXIF");
            webp.remove_chunks_by_id(*b"XMP ");
            webp.encoder().bytes().to_vec()
        }
        ImageKind::Gif => strip_gif(input)?,
        ImageKind::Svg | ImageKind::Avif => return Ok(None),
    };
    Ok(Some(out))
}

fn keep_jpeg_segment(marker: u8, contents: &[u8]) -> bool {
    match marker {
        // JFIF/JFXX header; Adobe APP14 decides how CMYK/YCCK is decoded.
        markers::APP0 | markers::APP14 => true,
        // APP2 carries ICC (colour) and MPF, whose pointers to secondary images appended after
        // the EOI would dangle once those are cut.
        markers::APP2 => contents.starts_with(b"ICC_PROFILE\0"),
        // APP1 (EXIF, XMP), APP13 (IPTC/Photoshop), other APPn, comments.
        0xE1..=0xEF | markers::COM => false,
        _ => true,
    }
}

fn keep_png_chunk(kind: [u8; 4]) -> bool {
    matches!(
        &kind,
        b"IHDR"
            | b"PLTE"
            | b"IDAT"
            | b"IEND"
            | b"tRNS"
            | b"gAMA"
            | b"cHRM"
            | b"sRGB"
            | b"iCCP"
            | b"cICP"
            | b"sBIT"
            | b"bKGD"
            | b"acTL"
            | b"fcTL"
            | b"fdAT"
    )
}

/// Rewrites a GIF frame by frame with its raw (already LZW-compressed) data: no quality change,
/// but comments, XMP and other application extensions are not copied.
fn strip_gif(input: &[u8]) -> Result<Vec<u8>, ImagingError> {
    let corrupt = |e: gif::DecodingError| ImagingError::Corrupt {
        detail: format!("GIF: {e}"),
    };
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::Indexed);
    opts.skip_frame_decoding(true);
    let mut dec = opts.read_info(input).map_err(corrupt)?;
    let palette = dec.global_palette().map(<[u8]>::to_vec).unwrap_or_default();
    let mut out = Vec::with_capacity(input.len());
    {
        let mut enc = gif::Encoder::new(&mut out, dec.width(), dec.height(), &palette)
            .map_err(|e| ImagingError::encode("gif", e))?;
        enc.set_repeat(dec.repeat())
            .map_err(|e| ImagingError::encode("gif", e))?;
        while let Some(frame) = dec.read_next_frame().map_err(corrupt)? {
            enc.write_lzw_pre_encoded_frame(frame)
                .map_err(|e| ImagingError::encode("gif", e))?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_keeps_colour_segments_and_drops_exif_xmp_comments() {
        assert!(keep_jpeg_segment(markers::APP2, b"ICC_PROFILE\0\x01\x01"));
        assert!(!keep_jpeg_segment(markers::APP2, b"MPF\0MM\0*"));
        assert!(keep_jpeg_segment(markers::APP14, b"Adobe"));
        assert!(keep_jpeg_segment(markers::DQT, b""));
        assert!(!keep_jpeg_segment(markers::APP1, b"Exif\0\0"));
        assert!(!keep_jpeg_segment(
            markers::APP1,
            b"http://ns.adobe.com/xap/1.0/"
        ));
        assert!(!keep_jpeg_segment(markers::COM, b"made with"));
        assert!(!keep_jpeg_segment(0xED, b"Photoshop 3.0"));
    }

    #[test]
    fn png_drops_text_and_exif_chunks() {
        assert!(keep_png_chunk(*b"iCCP"));
        assert!(keep_png_chunk(*b"fdAT"));
        for k in [b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"] {
            assert!(!keep_png_chunk(*k));
        }
    }
}
