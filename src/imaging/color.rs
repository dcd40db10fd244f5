//! Colour management: pixels tagged with a non-sRGB ICC profile (Display P3, Adobe RGB…) are
//! converted to sRGB with moxcms, because outputs carry no profile and browsers assume sRGB.

use std::sync::Arc;

use image::DynamicImage;
use moxcms::{ColorProfile, DataColorSpace, Layout, Transform8BitExecutor, TransformOptions};

use super::ImagingError;

pub(crate) struct ToSrgb {
    rgb: Arc<Transform8BitExecutor>,
    rgba: Arc<Transform8BitExecutor>,
}

impl ToSrgb {
    /// A transform for `image` tagged with `icc`, or `None` when no conversion is needed or
    /// possible (sRGB-equivalent profile, grey or CMYK profile, unparsable profile).
    pub fn new(icc: &[u8], image: &DynamicImage) -> Option<ToSrgb> {
        if !matches!(
            image,
            DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_)
        ) {
            return None;
        }
        let src = ColorProfile::new_from_slice(icc).ok()?;
        // CMYK JPEGs are already converted to RGB by the decoder; a CMYK profile cannot apply.
        if src.color_space != DataColorSpace::Rgb || is_srgb_like(&src) {
            return None;
        }
        let dst = ColorProfile::new_srgb();
        let opts = TransformOptions::default();
        let rgb = src
            .create_transform_8bit(Layout::Rgb, &dst, Layout::Rgb, opts)
            .ok()?;
        let rgba = src
            .create_transform_8bit(Layout::Rgba, &dst, Layout::Rgba, opts)
            .ok()?;
        Some(ToSrgb { rgb, rgba })
    }

    pub fn apply(&self, image: &mut DynamicImage) -> Result<(), ImagingError> {
        let (t, buf) = match image {
            DynamicImage::ImageRgb8(b) => (&self.rgb, b.as_mut()),
            DynamicImage::ImageRgba8(b) => (&self.rgba, b.as_mut()),
            _ => return Ok(()),
        };
        let src = buf.to_vec();
        t.transform(&src, buf)
            .map_err(|e| ImagingError::encode("sRGB", format!("colour conversion failed: {e:?}")))
    }
}

/// Same primaries as sRGB (within rounding of the s15Fixed16 colorants): converting would be a
/// no-op, so skip the per-pixel work for the common sRGB-tagged photo.
fn is_srgb_like(p: &ColorProfile) -> bool {
    let s = ColorProfile::new_srgb();
    let close = |a: moxcms::Xyzd, b: moxcms::Xyzd| {
        (a.x - b.x).abs() < 0.003 && (a.y - b.y).abs() < 0.003 && (a.z - b.z).abs() < 0.003
    };
    close(p.red_colorant, s.red_colorant)
        && close(p.green_colorant, s.green_colorant)
        && close(p.blue_colorant, s.blue_colorant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srgb_profile_needs_no_conversion_but_display_p3_does() {
        let img = DynamicImage::ImageRgb8(image::RgbImage::new(2, 2));
        let srgb = ColorProfile::new_srgb().encode().unwrap();
        assert!(ToSrgb::new(&srgb, &img).is_none());
        let p3 = ColorProfile::new_display_p3().encode().unwrap();
        let t = ToSrgb::new(&p3, &img).expect("P3 converts");
        // Pure P3 red is outside sRGB: it maps to saturated sRGB red, not to itself unchanged
        // in the other channels.
        let mut px = DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            1,
            1,
            image::Rgb([200, 100, 50]),
        ));
        t.apply(&mut px).unwrap();
        let out = px.to_rgb8().get_pixel(0, 0).0;
        assert_ne!(out, [200, 100, 50]);
        assert!(out[0] > out[1] && out[1] > out[2], "{out:?}");
    }
}
