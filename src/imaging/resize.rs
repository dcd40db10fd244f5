//! Geometry (fit box, variant sizes) and Lanczos3 resampling with premultiplied alpha via
//! fast_image_resize (SIMD).

use std::borrow::Cow;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageBuffer};

use super::ImagingError;

/// The largest size with `w`×`h`'s aspect ratio that fits `max_w`×`max_h` (0 = unbounded);
/// never larger than the source.
pub fn fit(w: u32, h: u32, max_w: u32, max_h: u32) -> (u32, u32) {
    let sx = if max_w == 0 {
        1.0
    } else {
        f64::from(max_w) / f64::from(w)
    };
    let sy = if max_h == 0 {
        1.0
    } else {
        f64::from(max_h) / f64::from(h)
    };
    let s = sx.min(sy).min(1.0);
    if s >= 1.0 {
        return (w, h);
    }
    // Round the constrained side to the bound exactly; the other by the ratio.
    let nw = ((f64::from(w) * s).round() as u32).clamp(1, w);
    let nh = ((f64::from(h) * s).round() as u32).clamp(1, h);
    let nw = if max_w != 0 { nw.min(max_w) } else { nw };
    let nh = if max_h != 0 { nh.min(max_h) } else { nh };
    (nw, nh)
}

/// Sizes for the requested variant widths of a `w`×`h` source whose main output is `main_w`
/// wide: sorted, deduplicated, and only those narrower than the main output (a variant as wide
/// would be the main image again, so it is never rendered).
pub fn variant_sizes(w: u32, h: u32, main_w: u32, widths: &[u32]) -> Vec<(u32, u32)> {
    let mut ws: Vec<u32> = widths
        .iter()
        .copied()
        .filter(|&vw| vw >= 1 && vw < main_w)
        .collect();
    ws.sort_unstable();
    ws.dedup();
    ws.into_iter()
        .map(|vw| {
            let vh = ((f64::from(h) * f64::from(vw) / f64::from(w)).round() as u32).max(1);
            (vw, vh)
        })
        .collect()
}

/// Resizes an 8-bit L/LA/RGB/RGBA image; borrows when the size is unchanged.
pub fn resize(img: &DynamicImage, w: u32, h: u32) -> Result<Cow<'_, DynamicImage>, ImagingError> {
    if (img.width(), img.height()) == (w, h) {
        return Ok(Cow::Borrowed(img));
    }
    let pixel_type = match img {
        DynamicImage::ImageLuma8(_) => PixelType::U8,
        DynamicImage::ImageLumaA8(_) => PixelType::U8x2,
        DynamicImage::ImageRgb8(_) => PixelType::U8x3,
        DynamicImage::ImageRgba8(_) => PixelType::U8x4,
        _ => {
            return Err(ImagingError::encode(
                "resize",
                format!("unexpected pixel type {:?}", img.color()),
            ));
        }
    };
    let raw = resize_raw(img.as_bytes(), img.width(), img.height(), pixel_type, w, h)?;
    let out = match pixel_type {
        PixelType::U8 => ImageBuffer::from_raw(w, h, raw).map(DynamicImage::ImageLuma8),
        PixelType::U8x2 => ImageBuffer::from_raw(w, h, raw).map(DynamicImage::ImageLumaA8),
        PixelType::U8x3 => ImageBuffer::from_raw(w, h, raw).map(DynamicImage::ImageRgb8),
        _ => ImageBuffer::from_raw(w, h, raw).map(DynamicImage::ImageRgba8),
    };
    out.map(Cow::Owned)
        .ok_or_else(|| ImagingError::encode("resize", "output buffer size mismatch"))
}

/// Lanczos3 convolution; for LA/RGBA the resizer premultiplies alpha before filtering and
/// divides after, so transparent pixels do not bleed their colour into edges.
pub fn resize_raw(
    src: &[u8],
    sw: u32,
    sh: u32,
    pixel_type: PixelType,
    w: u32,
    h: u32,
) -> Result<Vec<u8>, ImagingError> {
    let src =
        ImageRef::new(sw, sh, src, pixel_type).map_err(|e| ImagingError::encode("resize", e))?;
    let mut dst = Image::new(w, h, pixel_type);
    let opts = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .use_alpha(true);
    Resizer::new()
        .resize(&src, &mut dst, &opts)
        .map_err(|e| ImagingError::encode("resize", e))?;
    Ok(dst.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_aspect_and_never_enlarges() {
        assert_eq!(fit(3840, 2160, 1920, 1080), (1920, 1080));
        assert_eq!(fit(2800, 3212, 1920, 1080), (941, 1080));
        assert_eq!(fit(800, 600, 1920, 1080), (800, 600));
        assert_eq!(fit(4000, 1000, 0, 500), (2000, 500));
        assert_eq!(fit(4000, 1000, 0, 0), (4000, 1000));
        assert_eq!(fit(10000, 1, 100, 100), (100, 1));
    }

    #[test]
    fn variants_narrower_than_the_main_output_are_sorted_and_unique() {
        assert_eq!(
            variant_sizes(1000, 500, 1000, &[2000, 400, 400, 1000, 200]),
            vec![(200, 100), (400, 200)]
        );
        // The main output was fitted to 300 wide: wider variants would not be stored.
        assert_eq!(variant_sizes(1000, 500, 300, &[400, 100]), vec![(100, 50)]);
    }

    #[test]
    fn resize_premultiplies_alpha_so_transparent_colour_does_not_bleed() {
        // Left half opaque white, right half fully transparent *red*.
        let img = image::RgbaImage::from_fn(64, 8, |x, _| {
            if x < 32 {
                image::Rgba([255, 255, 255, 255])
            } else {
                image::Rgba([255, 0, 0, 0])
            }
        });
        let src = DynamicImage::ImageRgba8(img);
        let out = resize(&src, 16, 2).unwrap();
        let out = out.to_rgba8();
        for px in out.pixels().filter(|p| p[3] > 16) {
            assert!(px[1] > 200 && px[2] > 200, "red bled into {px:?}");
        }
    }
}
