//! Image processing: sniff, decode within limits, re-encode for the web. Pure, synchronous, CPU-bound.

use std::fmt;
use std::io::Cursor;
use std::str::FromStr;

use image::{DynamicImage, ImageFormat, ImageReader};

/// Size limits checked before any pixel is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_pixels: u64,
    pub max_input_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pixels: 50_000_000,
            max_input_bytes: 32 * 1024 * 1024,
        }
    }
}

/// The output format a caller asks for.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// WebP unless keeping the original is smaller.
    #[default]
    Auto,
    /// Always WebP.
    Webp,
    /// Keep the input's format.
    Original,
    Png,
    Jpeg,
}

impl OutputFormat {
    pub const ALL: [OutputFormat; 5] = [
        OutputFormat::Auto,
        OutputFormat::Webp,
        OutputFormat::Original,
        OutputFormat::Png,
        OutputFormat::Jpeg,
    ];
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutputFormat::Auto => "auto",
            OutputFormat::Webp => "webp",
            OutputFormat::Original => "original",
            OutputFormat::Png => "png",
            OutputFormat::Jpeg => "jpeg",
        })
    }
}

impl FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OutputFormat::ALL
            .into_iter()
            .find(|f| f.to_string().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("unknown format {s:?}; use one of auto, webp, original, png, jpeg")
            })
    }
}

/// A concrete image format, detected from magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageKind {
    Png,
    Jpeg,
    Webp,
    Gif,
    Svg,
    Avif,
}

impl ImageKind {
    pub fn content_type(&self) -> &'static str {
        match self {
            ImageKind::Png => "image/png",
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Webp => "image/webp",
            ImageKind::Gif => "image/gif",
            ImageKind::Svg => "image/svg+xml",
            ImageKind::Avif => "image/avif",
        }
    }

    pub fn extension(&self) -> &'static str {
        match self {
            ImageKind::Png => "png",
            ImageKind::Jpeg => "jpg",
            ImageKind::Webp => "webp",
            ImageKind::Gif => "gif",
            ImageKind::Svg => "svg",
            ImageKind::Avif => "avif",
        }
    }
}

/// What a caller wants done to one image.
#[derive(Clone, Debug)]
pub struct ProcessOptions {
    pub format: OutputFormat,
    /// 1–100.
    pub quality: u8,
    /// 0 = no limit.
    pub max_width: u32,
    /// 0 = no limit.
    pub max_height: u32,
    /// Extra renditions' widths.
    pub widths: Vec<u32>,
    /// Render SVG to a raster format.
    pub rasterize: bool,
    pub limits: Limits,
}

/// An extra rendition of the same image; same kind as the main output.
#[derive(Clone, Debug)]
pub struct Rendition {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// The web-ready output and what was done to produce it.
#[derive(Clone, Debug)]
pub struct Processed {
    pub bytes: Vec<u8>,
    pub kind: ImageKind,
    pub width: u32,
    pub height: u32,
    pub input_kind: ImageKind,
    pub original_bytes: usize,
    pub resized: bool,
    pub orientation_applied: bool,
    pub encoder: String,
    pub variants: Vec<Rendition>,
}

/// Why an image could not be processed; every message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ImagingError {
    #[error("the data is empty; send the image's bytes")]
    Empty,
    #[error("the data is not a supported image (PNG, JPEG, WebP, GIF); {hint}")]
    Unsupported { hint: String },
    #[error(
        "image is {bytes} bytes; the limit is {limit} bytes (MAX_INPUT_BYTES); compress or downscale it before uploading"
    )]
    TooManyBytes { bytes: usize, limit: usize },
    #[error(
        "image is {width}×{height} = {:.1} MP; the limit is {:.1} MP (MAX_PIXELS); downscale it before uploading",
        *width as f64 * *height as f64 / 1e6, *limit as f64 / 1e6
    )]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("the image data is corrupt or truncated ({detail}); re-export the image and try again")]
    Corrupt { detail: String },
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    #[error("could not encode the output ({0}); try format \"original\" or \"png\"")]
    Encode(String),
}

impl ImagingError {
    /// A stable tag for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ImagingError::Empty => "empty",
            ImagingError::Unsupported { .. } => "unsupported",
            ImagingError::TooManyBytes { .. } => "too_many_bytes",
            ImagingError::TooManyPixels { .. } => "too_many_pixels",
            ImagingError::Corrupt { .. } => "corrupt",
            ImagingError::InvalidParameter(_) => "invalid_parameter",
            ImagingError::Encode(_) => "encode",
        }
    }
}

/// Detects the format from magic bytes.
pub fn sniff(input: &[u8]) -> Option<ImageKind> {
    match image::guess_format(input).ok()? {
        ImageFormat::Png => Some(ImageKind::Png),
        ImageFormat::Jpeg => Some(ImageKind::Jpeg),
        ImageFormat::WebP => Some(ImageKind::Webp),
        ImageFormat::Gif => Some(ImageKind::Gif),
        ImageFormat::Avif => Some(ImageKind::Avif),
        _ => None,
    }
}

/// Width and height from the header alone (no pixel is decoded), for raster formats.
pub fn dimensions(input: &[u8]) -> Option<(u32, u32)> {
    ImageReader::new(Cursor::new(input))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()
}

/// Turns input bytes into a web-ready image.
pub fn process(input: &[u8], opts: &ProcessOptions) -> Result<Processed, ImagingError> {
    if input.is_empty() {
        return Err(ImagingError::Empty);
    }
    if input.len() > opts.limits.max_input_bytes {
        return Err(ImagingError::TooManyBytes {
            bytes: input.len(),
            limit: opts.limits.max_input_bytes,
        });
    }
    if !(1..=100).contains(&opts.quality) {
        return Err(ImagingError::InvalidParameter(format!(
            "quality is {}; use a value from 1 to 100",
            opts.quality
        )));
    }
    let kind = sniff(input).ok_or_else(|| ImagingError::Unsupported {
        hint: "send the file's raw bytes, base64-encoded".into(),
    })?;
    let image = decode(input, kind, &opts.limits)?;
    let (width, height) = (image.width(), image.height());

    let keep_original = || Processed {
        bytes: input.to_vec(),
        kind,
        width,
        height,
        input_kind: kind,
        original_bytes: input.len(),
        resized: false,
        orientation_applied: false,
        encoder: "original".into(),
        variants: Vec::new(),
    };
    match opts.format {
        OutputFormat::Original => Ok(keep_original()),
        OutputFormat::Webp | OutputFormat::Auto => {
            let webp = encode_webp(&image, opts.quality)?;
            if opts.format == OutputFormat::Auto && webp.len() >= input.len() {
                return Ok(keep_original());
            }
            Ok(Processed {
                bytes: webp,
                kind: ImageKind::Webp,
                encoder: "libwebp-lossy".into(),
                ..keep_original()
            })
        }
        OutputFormat::Png | OutputFormat::Jpeg => {
            let (format, out_kind) = if opts.format == OutputFormat::Png {
                (ImageFormat::Png, ImageKind::Png)
            } else {
                (ImageFormat::Jpeg, ImageKind::Jpeg)
            };
            let image = if out_kind == ImageKind::Jpeg {
                DynamicImage::ImageRgb8(image.to_rgb8())
            } else {
                image
            };
            let mut bytes = Vec::new();
            image
                .write_to(&mut Cursor::new(&mut bytes), format)
                .map_err(|e| ImagingError::Encode(e.to_string()))?;
            Ok(Processed {
                bytes,
                kind: out_kind,
                encoder: "image".into(),
                ..keep_original()
            })
        }
    }
}

fn decode(input: &[u8], kind: ImageKind, limits: &Limits) -> Result<DynamicImage, ImagingError> {
    let corrupt = |e: image::ImageError| ImagingError::Corrupt {
        detail: e.to_string(),
    };
    if kind == ImageKind::Avif {
        return Err(ImagingError::Unsupported {
            hint: "AVIF is not supported yet; convert it to PNG or WebP".into(),
        });
    }
    let reader = || {
        ImageReader::new(Cursor::new(input))
            .with_guessed_format()
            .map_err(|e| ImagingError::Corrupt {
                detail: e.to_string(),
            })
    };
    let (width, height) = reader()?.into_dimensions().map_err(corrupt)?;
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(ImagingError::TooManyPixels {
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    let mut decode_limits = image::Limits::default();
    decode_limits.max_image_width = Some(width);
    decode_limits.max_image_height = Some(height);
    decode_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8));
    let mut reader = reader()?;
    reader.limits(decode_limits);
    reader.decode().map_err(corrupt)
}

fn encode_webp(image: &DynamicImage, quality: u8) -> Result<Vec<u8>, ImagingError> {
    let image = if image.color().has_alpha() {
        DynamicImage::ImageRgba8(image.to_rgba8())
    } else {
        DynamicImage::ImageRgb8(image.to_rgb8())
    };
    let encoder =
        webp::Encoder::from_image(&image).map_err(|e| ImagingError::Encode(e.to_string()))?;
    Ok(encoder.encode(f32::from(quality)).to_vec())
}
