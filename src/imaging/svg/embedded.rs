//! Raster images embedded in an SVG as `data:` URIs. Each passes the checks a direct upload
//! passes (sniffed format, bytes, pixels from its header, compressed metadata) before usvg or
//! resvg touch it: in the sanitizer, so a stored SVG carries no bomb to the browsers that show
//! it, and again in usvg's resolver, on exactly the bytes resvg would decode.

use std::sync::Arc;

use resvg::usvg;

use super::super::{ImageKind, ImagingError, Limits, container, probe, sniff};

/// Checks the image a `data:` URI carries; `Err` names what is wrong with it and the fix.
pub(super) fn check_href(href: &str, limits: &Limits) -> Result<(), ImagingError> {
    let unreadable = || {
        ImagingError::Svg(
            "an embedded <image> has a data: URI that cannot be decoded; re-embed it as data:image/png;base64,…".into(),
        )
    };
    let url = data_url::DataUrl::process(href).map_err(|_| unreadable())?;
    let (bytes, _) = url.decode_to_vec().map_err(|_| unreadable())?;
    check_raster(&bytes, limits).map(|_| ())
}

/// The embedded image's format, if it may be decoded.
fn check_raster(bytes: &[u8], limits: &Limits) -> Result<ImageKind, ImagingError> {
    if bytes.len() > limits.max_input_bytes {
        return Err(ImagingError::Svg(format!(
            "an embedded <image> is {} bytes; the limit is {} bytes (MAX_INPUT_BYTES); link a smaller image",
            bytes.len(),
            limits.max_input_bytes
        )));
    }
    let kind = match sniff(bytes) {
        Ok(kind @ (ImageKind::Png | ImageKind::Jpeg | ImageKind::Gif | ImageKind::Webp)) => kind,
        _ => {
            return Err(ImagingError::Svg(
                "an embedded <image> is not a PNG, JPEG, GIF or WebP image; embed one of those"
                    .into(),
            ));
        }
    };
    let (w, h) = probe(bytes)
        .ok()
        .and_then(|p| p.dimensions)
        .ok_or_else(|| {
            ImagingError::Svg(format!(
                "an embedded {kind} image has no readable size in its header; re-export it"
            ))
        })?;
    let pixels = u64::from(w) * u64::from(h);
    if pixels > limits.max_pixels || w == 0 || h == 0 {
        return Err(ImagingError::Svg(format!(
            "an embedded {kind} image is {w}×{h} = {:.1} MP; the limit is {:.0} MP (MAX_PIXELS); downscale it before embedding",
            pixels as f64 / 1e6,
            limits.max_pixels as f64 / 1e6
        )));
    }
    container::check_metadata(bytes, kind)?;
    Ok(kind)
}

/// Pixels resvg decodes to draw this embedded image once (its first frame's canvas).
pub(super) fn decoded_pixels(bytes: &[u8]) -> u64 {
    probe(bytes).ok().and_then(|p| p.pixels()).unwrap_or(0)
}

/// usvg's resolver for `<image>` targets: checked rasters only, typed by their bytes rather
/// than their declared MIME type; nested SVG documents and every non-data reference (files,
/// URLs) resolve to nothing.
pub(super) fn resolver(limits: Limits) -> usvg::ImageHrefResolver<'static> {
    usvg::ImageHrefResolver {
        resolve_data: Box::new(move |_mime: &str, data: Arc<Vec<u8>>, _: &usvg::Options| {
            Some(match check_raster(&data, &limits).ok()? {
                ImageKind::Png => usvg::ImageKind::PNG(data),
                ImageKind::Jpeg => usvg::ImageKind::JPEG(data),
                ImageKind::Gif => usvg::ImageKind::GIF(data),
                ImageKind::Webp => usvg::ImageKind::WEBP(data),
                ImageKind::Svg | ImageKind::Avif => return None,
            })
        }),
        resolve_string: Box::new(|_, _| None),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    fn data_uri(mime: &str, bytes: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        format!("data:{mime};base64,{b64}")
    }

    /// A PNG that is a signature and an IHDR claiming `w`×`h`.
    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&w.to_be_bytes());
        png.extend_from_slice(&h.to_be_bytes());
        png.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        png
    }

    #[test]
    fn embedded_images_pass_the_header_checks_of_a_direct_upload() {
        let limits = Limits::default();
        assert!(check_href(&data_uri("image/png", &png_header(100, 100)), &limits).is_ok());
        let err = check_href(&data_uri("image/png", &png_header(65536, 65536)), &limits)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("65536×65536") && err.contains("MAX_PIXELS"),
            "{err}"
        );
        // The declared type does not matter: the bytes are sniffed.
        let err = check_href(&data_uri("image/jpeg", &png_header(65536, 65536)), &limits);
        assert!(err.is_err());
        let err = check_href(
            &data_uri("image/png", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            &limits,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not a PNG"), "{err}");
        assert!(check_href("data:image/png;base64,%%%", &limits).is_err());
        let small = Limits {
            max_input_bytes: 10,
            ..Limits::default()
        };
        let err = check_href(&data_uri("image/png", &png_header(1, 1)), &small).unwrap_err();
        assert!(err.to_string().contains("MAX_INPUT_BYTES"), "{err}");
    }
}
