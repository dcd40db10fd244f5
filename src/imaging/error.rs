//! The imaging layer's one error type, split by who is at fault, with messages an agent can act on.

use image::error::{ImageError, LimitErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum ImagingError {
    /// The bytes are not an image format we accept (the caller's fault; convert first).
    #[error("{0}")]
    Unsupported(String),

    /// Width × height above `Limits::max_pixels`, refused from the header before decoding.
    #[error(
        "image is {width}×{height} = {:.1} MP; the limit is {} MP (MAX_PIXELS); downscale it before uploading",
        *width as f64 * *height as f64 / 1e6,
        fmt_mp(*limit)
    )]
    TooManyPixels { width: u32, height: u32, limit: u64 },

    /// Input larger than `Limits::max_input_bytes`.
    #[error(
        "input is {bytes} bytes ({:.1} MiB); the limit is {limit} bytes ({:.1} MiB, MAX_INPUT_BYTES); compress or downscale it before uploading",
        *bytes as f64 / 1048576.0,
        *limit as f64 / 1048576.0
    )]
    InputTooLarge { bytes: usize, limit: usize },

    /// Decoding would need more memory than allowed (animations: all frames together).
    #[error("{0}")]
    DecodeLimit(String),

    /// Rendering (an SVG) would hold more pixels or take more work than allowed.
    #[error("{0}")]
    RenderLimit(String),

    /// The file claims to be an image but is truncated or corrupt.
    #[error(
        "the image data is corrupt or truncated ({detail}); re-export or re-download the file and upload it again"
    )]
    Corrupt { detail: String },

    /// An argument is out of range or contradicts the input.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter { name: &'static str, reason: String },

    /// An SVG that cannot be made safe (e.g. entity-expansion bombs) or is not valid SVG.
    #[error("SVG refused: {0}")]
    Svg(String),

    /// An encoder failed on valid pixels: our fault, not the caller's.
    #[error("internal imaging error while encoding {format}: {detail}")]
    Encode {
        format: &'static str,
        detail: String,
    },
}

fn fmt_mp(pixels: u64) -> String {
    let mp = pixels as f64 / 1e6;
    if mp.fract() == 0.0 {
        format!("{mp:.0}")
    } else {
        format!("{mp:.1}")
    }
}

impl ImagingError {
    /// Stable snake_case tag for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ImagingError::Unsupported(_) => "unsupported_format",
            ImagingError::TooManyPixels { .. } => "too_many_pixels",
            ImagingError::InputTooLarge { .. } => "input_too_large",
            ImagingError::DecodeLimit(_) => "decode_limit",
            ImagingError::RenderLimit(_) => "render_limit",
            ImagingError::Corrupt { .. } => "corrupt_image",
            ImagingError::InvalidParameter { .. } => "invalid_parameter",
            ImagingError::Svg(_) => "svg_refused",
            ImagingError::Encode { .. } => "encode_failed",
        }
    }

    /// True when the caller can fix it by sending something else (4xx rather than 5xx).
    pub fn is_caller_error(&self) -> bool {
        !matches!(self, ImagingError::Encode { .. })
    }

    pub(crate) fn avif_unsupported() -> Self {
        ImagingError::Unsupported(
            "AVIF input is not supported (no pure-Rust AV1 decoder is bundled); convert it to PNG, JPEG or WebP and upload that".into(),
        )
    }

    /// Maps an `image` crate error for an input of `format`.
    pub(crate) fn from_image(format: &str, e: ImageError) -> Self {
        match e {
            ImageError::Limits(l) => match l.kind() {
                LimitErrorKind::DimensionError => ImagingError::DecodeLimit(format!(
                    "{format} dimensions exceed the decoder limits; downscale it before uploading"
                )),
                _ => ImagingError::DecodeLimit(format!(
                    "decoding this {format} would need more memory than allowed; downscale it before uploading"
                )),
            },
            ImageError::Unsupported(u) => ImagingError::Unsupported(format!(
                "this {format} uses a feature we cannot decode ({u}); re-save it as a standard PNG, JPEG or WebP"
            )),
            ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                ImagingError::Corrupt {
                    detail: format!("{format} ends early: the file is truncated"),
                }
            }
            other => ImagingError::Corrupt {
                detail: format!("{format}: {other}"),
            },
        }
    }

    pub(crate) fn encode(format: &'static str, detail: impl std::fmt::Display) -> Self {
        ImagingError::Encode {
            format,
            detail: detail.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_limit_message_gives_numbers_and_fix() {
        let e = ImagingError::TooManyPixels {
            width: 20000,
            height: 14000,
            limit: 50_000_000,
        };
        assert_eq!(
            e.to_string(),
            "image is 20000×14000 = 280.0 MP; the limit is 50 MP (MAX_PIXELS); downscale it before uploading"
        );
        assert_eq!(e.kind(), "too_many_pixels");
    }

    #[test]
    fn only_encoder_failures_are_our_fault() {
        assert!(ImagingError::avif_unsupported().is_caller_error());
        assert!(!ImagingError::encode("webp", "x").is_caller_error());
    }
}
