//! Encoders for still images: lossy/lossless WebP via libwebp (method 4), PNG, JPEG, GIF, and
//! the "smart" choice that also tries lossless WebP for flat art and keeps the smaller.

use std::io::Cursor;

use image::codecs::gif::GifEncoder;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{DynamicImage, GrayImage, RgbImage};
use webp::{PixelLayout, WebPConfig};

use super::{ImageKind, ImagingError, OutputFormat, Quality};

/// libwebp effort (0 fast … 6 slow); 4 is libwebp's, sharp's and Pillow's default.
pub const WEBP_METHOD: i32 = 4;

/// How to encode pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Choice {
    WebpLossy,
    WebpLossless,
    /// Lossy WebP, plus lossless WebP for flat art; the smaller wins.
    WebpSmart,
    Png,
    Jpeg,
    Gif,
}

/// What actually produced the output bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoded {
    WebpLossy,
    WebpLossless,
    Png,
    Jpeg,
    Gif,
    OriginalStripped(ImageKind),
}

impl Encoded {
    pub fn kind(self) -> ImageKind {
        match self {
            Encoded::WebpLossy | Encoded::WebpLossless => ImageKind::Webp,
            Encoded::Png => ImageKind::Png,
            Encoded::Jpeg => ImageKind::Jpeg,
            Encoded::Gif => ImageKind::Gif,
            Encoded::OriginalStripped(k) => k,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoded::WebpLossy => "libwebp-lossy",
            Encoded::WebpLossless => "libwebp-lossless",
            Encoded::Png => "png",
            Encoded::Jpeg => "jpeg",
            Encoded::Gif => "gif",
            Encoded::OriginalStripped(_) => "original-stripped",
        }
    }

    /// The encoder that makes variants of the same kind as this output.
    pub fn as_choice(self, input_kind: ImageKind, input_lossless: bool) -> Choice {
        match self {
            Encoded::WebpLossy => Choice::WebpLossy,
            Encoded::WebpLossless => Choice::WebpLossless,
            Encoded::Png => Choice::Png,
            Encoded::Jpeg => Choice::Jpeg,
            Encoded::Gif => Choice::Gif,
            Encoded::OriginalStripped(k) => {
                same_format(k, input_lossless).unwrap_or(match input_kind {
                    ImageKind::Jpeg => Choice::Jpeg,
                    _ => Choice::Png,
                })
            }
        }
    }
}

impl Choice {
    pub fn for_still(
        format: OutputFormat,
        input_kind: ImageKind,
        input_lossless: bool,
    ) -> Result<Choice, ImagingError> {
        Ok(match format {
            OutputFormat::Auto => Choice::WebpSmart,
            OutputFormat::Webp => Choice::WebpLossy,
            OutputFormat::Png => Choice::Png,
            OutputFormat::Jpeg => Choice::Jpeg,
            OutputFormat::Original => same_format(input_kind, input_lossless).ok_or_else(|| {
                ImagingError::InvalidParameter {
                    name: "format",
                    reason: format!("`original` cannot re-encode {input_kind}; use webp or png"),
                }
            })?,
        })
    }
}

/// Re-encoding in the input's own format (lossless WebP stays lossless).
fn same_format(kind: ImageKind, lossless: bool) -> Option<Choice> {
    match kind {
        ImageKind::Png => Some(Choice::Png),
        ImageKind::Jpeg => Some(Choice::Jpeg),
        ImageKind::Gif => Some(Choice::Gif),
        ImageKind::Webp => Some(if lossless {
            Choice::WebpLossless
        } else {
            Choice::WebpLossy
        }),
        ImageKind::Svg | ImageKind::Avif => None,
    }
}

pub(crate) fn encode_still(
    img: &DynamicImage,
    choice: Choice,
    quality: Quality,
    flat: bool,
) -> Result<(Vec<u8>, Encoded), ImagingError> {
    match choice {
        Choice::WebpLossy => Ok((webp(img, false, quality)?, Encoded::WebpLossy)),
        Choice::WebpLossless => Ok((webp(img, true, quality)?, Encoded::WebpLossless)),
        Choice::WebpSmart => {
            let lossy = webp(img, false, quality)?;
            if flat {
                let lossless = webp(img, true, quality)?;
                if lossless.len() < lossy.len() {
                    return Ok((lossless, Encoded::WebpLossless));
                }
            }
            Ok((lossy, Encoded::WebpLossy))
        }
        Choice::Png => Ok((png(img)?, Encoded::Png)),
        Choice::Jpeg => Ok((jpeg(img, quality)?, Encoded::Jpeg)),
        Choice::Gif => Ok((gif(img)?, Encoded::Gif)),
    }
}

/// The libwebp configuration shared by still and animated encodes.
pub(crate) fn webp_config(lossless: bool, quality: Quality) -> Result<WebPConfig, ImagingError> {
    let mut cfg =
        WebPConfig::new().map_err(|()| ImagingError::encode("webp", "libwebp config init"))?;
    cfg.method = WEBP_METHOD;
    if lossless {
        cfg.lossless = 1;
        // For lossless, "quality" is compression effort; 75 is libwebp's default.
        cfg.quality = 75.0;
    } else {
        cfg.lossless = 0;
        cfg.quality = f32::from(quality.get());
    }
    Ok(cfg)
}

pub(crate) fn webp(
    img: &DynamicImage,
    lossless: bool,
    quality: Quality,
) -> Result<Vec<u8>, ImagingError> {
    let cfg = webp_config(lossless, quality)?;
    let converted;
    let (buf, layout): (&[u8], PixelLayout) = match img {
        DynamicImage::ImageRgb8(b) => (b.as_raw(), PixelLayout::Rgb),
        DynamicImage::ImageRgba8(b) => (b.as_raw(), PixelLayout::Rgba),
        DynamicImage::ImageLuma8(_) => {
            converted = DynamicImage::ImageRgb8(img.to_rgb8());
            (converted.as_bytes(), PixelLayout::Rgb)
        }
        _ => {
            converted = DynamicImage::ImageRgba8(img.to_rgba8());
            (converted.as_bytes(), PixelLayout::Rgba)
        }
    };
    let mem = webp::Encoder::new(buf, layout, img.width(), img.height())
        .encode_advanced(&cfg)
        .map_err(|e| ImagingError::encode("webp", format!("{e:?}")))?;
    Ok(mem.to_vec())
}

fn png(img: &DynamicImage) -> Result<Vec<u8>, ImagingError> {
    let mut out = Cursor::new(Vec::new());
    let enc =
        PngEncoder::new_with_quality(&mut out, CompressionType::Default, FilterType::Adaptive);
    img.write_with_encoder(enc)
        .map_err(|e| ImagingError::encode("png", e))?;
    Ok(out.into_inner())
}

fn jpeg(img: &DynamicImage, quality: Quality) -> Result<Vec<u8>, ImagingError> {
    let flat = flatten_on_white(img);
    let mut out = Vec::new();
    let enc = JpegEncoder::new_with_quality(&mut out, quality.get());
    flat.write_with_encoder(enc)
        .map_err(|e| ImagingError::encode("jpeg", e))?;
    Ok(out)
}

fn gif(img: &DynamicImage) -> Result<Vec<u8>, ImagingError> {
    let mut out = Vec::new();
    {
        let mut enc = GifEncoder::new_with_speed(&mut out, 10);
        enc.encode_frame(image::Frame::new(img.to_rgba8()))
            .map_err(|e| ImagingError::encode("gif", e))?;
    }
    Ok(out)
}

/// JPEG has no alpha: composite onto white (what a browser page background usually is).
pub(crate) fn flatten_on_white(img: &DynamicImage) -> DynamicImage {
    let blend = |c: u8, a: u8| -> u8 {
        ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a)) + 127) / 255) as u8
    };
    match img {
        DynamicImage::ImageLumaA8(b) => {
            DynamicImage::ImageLuma8(GrayImage::from_fn(b.width(), b.height(), |x, y| {
                let p = b.get_pixel(x, y).0;
                image::Luma([blend(p[0], p[1])])
            }))
        }
        DynamicImage::ImageRgba8(b) => {
            DynamicImage::ImageRgb8(RgbImage::from_fn(b.width(), b.height(), |x, y| {
                let p = b.get_pixel(x, y).0;
                image::Rgb([blend(p[0], p[3]), blend(p[1], p[3]), blend(p[2], p[3])])
            }))
        }
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => img.clone(),
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            if (x / 8 + y / 8) % 2 == 0 {
                image::Rgb([20, 20, 20])
            } else {
                image::Rgb([240, 240, 240])
            }
        }))
    }

    #[test]
    fn smart_webp_picks_lossless_for_flat_art() {
        let (bytes, enc) = encode_still(
            &checker(256, 256),
            Choice::WebpSmart,
            Quality::DEFAULT,
            true,
        )
        .unwrap();
        assert_eq!(enc, Encoded::WebpLossless);
        assert!(super::super::probe(&bytes).unwrap().lossless);
    }

    #[test]
    fn forced_webp_is_lossy_and_decodable() {
        let (bytes, enc) =
            encode_still(&checker(64, 32), Choice::WebpLossy, Quality::DEFAULT, true).unwrap();
        assert_eq!(enc, Encoded::WebpLossy);
        let back = image::load_from_memory(&bytes).unwrap();
        assert_eq!((back.width(), back.height()), (64, 32));
    }

    #[test]
    fn jpeg_flattens_transparency_onto_white() {
        let clear = DynamicImage::ImageRgba8(image::RgbaImage::new(16, 16));
        let (bytes, _) =
            encode_still(&clear, Choice::Jpeg, Quality::try_from(90).unwrap(), false).unwrap();
        let back = image::load_from_memory(&bytes).unwrap().to_rgb8();
        assert!(back.pixels().all(|p| p.0.iter().all(|&c| c > 245)));
    }
}
