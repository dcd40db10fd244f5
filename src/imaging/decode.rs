//! Decoding still rasters under limits: header check first, then pixels, EXIF orientation and ICC.

use std::borrow::Cow;
use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use super::{ImageKind, ImagingError, Limits, color, container, resize};

/// A decoded still image, not yet oriented (orientation is applied after the resize, on the
/// smaller image, with the fit box computed on the oriented dimensions: same result, less work).
pub(crate) struct Decoded {
    /// 8-bit L, LA, RGB or RGBA, in the source colour space.
    pub image: DynamicImage,
    pub orientation: Orientation,
    /// Conversion from the embedded ICC profile to sRGB, when the profile is not already sRGB.
    pub to_srgb: Option<color::ToSrgb>,
    /// Few distinct colours (UI screenshots, icons, palette art): worth trying lossless WebP.
    pub flat: bool,
}

impl Decoded {
    pub fn oriented_dimensions(&self) -> (u32, u32) {
        let (w, h) = (self.image.width(), self.image.height());
        if swaps_axes(self.orientation) {
            (h, w)
        } else {
            (w, h)
        }
    }

    /// Resizes to `w`×`h` (oriented dimensions), orients, converts to sRGB.
    pub fn render(&self, w: u32, h: u32) -> Result<Cow<'_, DynamicImage>, ImagingError> {
        let (rw, rh) = if swaps_axes(self.orientation) {
            (h, w)
        } else {
            (w, h)
        };
        let mut img = resize::resize(&self.image, rw, rh)?;
        if self.orientation != Orientation::NoTransforms {
            img.to_mut().apply_orientation(self.orientation);
        }
        if let Some(t) = &self.to_srgb {
            t.apply(img.to_mut())?;
        }
        Ok(img)
    }
}

pub(crate) fn swaps_axes(o: Orientation) -> bool {
    matches!(
        o,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

pub(crate) fn image_format(kind: ImageKind) -> Option<ImageFormat> {
    match kind {
        ImageKind::Png => Some(ImageFormat::Png),
        ImageKind::Jpeg => Some(ImageFormat::Jpeg),
        ImageKind::Webp => Some(ImageFormat::WebP),
        ImageKind::Gif => Some(ImageFormat::Gif),
        ImageKind::Svg | ImageKind::Avif => None,
    }
}

/// Refuses images whose header announces more than `limits.max_pixels`.
pub(crate) fn check_pixels(w: u32, h: u32, limits: &Limits) -> Result<(), ImagingError> {
    if u64::from(w) * u64::from(h) > limits.max_pixels {
        return Err(ImagingError::TooManyPixels {
            width: w,
            height: h,
            limit: limits.max_pixels,
        });
    }
    if w == 0 || h == 0 {
        return Err(ImagingError::Corrupt {
            detail: format!("the header says the image is {w}×{h} pixels"),
        });
    }
    Ok(())
}

/// The decoder's allocation budget: the largest allowed image at 16-bit RGBA plus headroom.
pub(crate) fn image_limits(limits: &Limits) -> image::Limits {
    let mut l = image::Limits::default();
    l.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(64 << 20));
    l
}

pub(crate) fn decode(
    input: &[u8],
    kind: ImageKind,
    limits: &Limits,
) -> Result<Decoded, ImagingError> {
    let format = image_format(kind).ok_or_else(|| {
        ImagingError::Unsupported(format!("{kind} is not a raster format we decode"))
    })?;
    let name = kind.to_string();
    if kind == ImageKind::Jpeg {
        jpeg_is_complete(input)?;
    }
    let mut reader = ImageReader::with_format(Cursor::new(input), format);
    reader.limits(image_limits(limits));
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| ImagingError::from_image(&name, e))?;
    let (w, h) = decoder.dimensions();
    check_pixels(w, h, limits)?;

    // Metadata problems are not worth failing an upload over: fall back to "no transform".
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let icc = decoder.icc_profile().ok().flatten();

    let image =
        DynamicImage::from_decoder(decoder).map_err(|e| ImagingError::from_image(&name, e))?;
    let image = to_8bit(image);
    let to_srgb = icc.as_deref().and_then(|p| color::ToSrgb::new(p, &image));
    let flat = is_flat(&image);
    Ok(Decoded {
        image,
        orientation,
        to_srgb,
        flat,
    })
}

/// Normalises to 8-bit L, LA, RGB or RGBA (what the resizer and encoders take).
pub(crate) fn to_8bit(image: DynamicImage) -> DynamicImage {
    match image {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_) => image,
        DynamicImage::ImageLuma16(_) => DynamicImage::ImageLuma8(image.to_luma8()),
        DynamicImage::ImageLumaA16(_) => DynamicImage::ImageLumaA8(image.to_luma_alpha8()),
        DynamicImage::ImageRgb16(_) | DynamicImage::ImageRgb32F(_) => {
            DynamicImage::ImageRgb8(image.to_rgb8())
        }
        _ => DynamicImage::ImageRgba8(image.to_rgba8()),
    }
}

/// Counts distinct colours on a sparse grid; screenshots and icons have few, photos many.
pub(crate) fn is_flat(image: &DynamicImage) -> bool {
    const SAMPLES: u64 = 16_384;
    const MAX_COLOURS: usize = 2_048;
    let bytes = image.as_bytes();
    let bpp = usize::from(image.color().bytes_per_pixel());
    let pixels = (bytes.len() / bpp) as u64;
    if pixels == 0 {
        return false;
    }
    let step = (pixels / SAMPLES).max(1) as usize;
    let mut seen = std::collections::HashSet::with_capacity(MAX_COLOURS + 1);
    for px in bytes.chunks_exact(bpp).step_by(step) {
        let mut key = [0u8; 4];
        key[..bpp].copy_from_slice(px);
        seen.insert(u32::from_le_bytes(key));
        if seen.len() > MAX_COLOURS {
            return false;
        }
    }
    true
}

/// zune-jpeg (in lenient mode) fills a truncated scan with grey and reports success, so check
/// that the image reaches its end-of-image marker before decoding.
pub(crate) fn jpeg_is_complete(input: &[u8]) -> Result<(), ImagingError> {
    match container::jpeg_end(input) {
        Some(_) => Ok(()),
        None => Err(ImagingError::Corrupt {
            detail: "the JPEG ends before its end-of-image marker: the file is truncated".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_without_end_marker_is_truncated() {
        let complete = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xDA, 0x00, 0x02, 0x12, 0x34,
            0xFF, 0xD9,
        ];
        assert!(jpeg_is_complete(&complete).is_ok());
        let err = jpeg_is_complete(&complete[..14]).unwrap_err();
        assert!(err.to_string().contains("truncated"));
        assert!(jpeg_is_complete(&complete[..6]).is_err());
        // An EOI inside an APPn segment (an EXIF thumbnail's) does not end the image.
        let thumbnail_only = [0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x04, 0xFF, 0xD9, 0xFF, 0xDA];
        assert!(jpeg_is_complete(&thumbnail_only).is_err());
    }

    #[test]
    fn pixel_limit_is_checked_in_64_bits() {
        let limits = Limits::default();
        assert!(check_pixels(65536, 65536, &limits).is_err());
        assert!(check_pixels(7071, 7071, &limits).is_ok());
        assert!(check_pixels(0, 10, &limits).is_err());
    }

    #[test]
    fn flat_detection_separates_two_colours_from_noise() {
        let flat = image::RgbImage::from_fn(64, 64, |x, _| image::Rgb([(x % 2) as u8 * 255; 3]));
        assert!(is_flat(&DynamicImage::ImageRgb8(flat)));
        let noisy = image::RgbImage::from_fn(256, 256, |x, y| {
            image::Rgb([x as u8, y as u8, (x ^ y) as u8])
        });
        assert!(!is_flat(&DynamicImage::ImageRgb8(noisy)));
    }
}
