//! The image pipeline between "bytes arrived" and "bytes go to S3": sniff, limit, decode, orient,
//! resize, colour-manage, encode, sanitize SVG. Pure, synchronous, CPU-bound; no transport types.

mod animated;
mod color;
mod container;
mod decode;
mod encode;
mod error;
mod options;
mod probe;
mod resize;
mod sniff;
mod strip;
mod svg;
mod webp_anim;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Instant;

pub use error::ImagingError;
pub use options::{ImageDefaults, Overrides, Quality, QualityOutOfRange};
pub use probe::{Probe, probe};
pub use sniff::sniff;

/// Resource limits checked before any pixel is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted width × height (per frame for animations).
    pub max_pixels: u64,
    /// Largest accepted input size in bytes.
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

/// What the caller wants stored.
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
    /// WebP unless the metadata-stripped original is smaller (the default).
    #[default]
    Auto,
    /// Always WebP (lossy, or animated WebP for animations).
    Webp,
    /// The input's own format, metadata stripped.
    Original,
    /// PNG (lossless).
    Png,
    /// JPEG (alpha flattened onto white).
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

    fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Auto => "auto",
            OutputFormat::Webp => "webp",
            OutputFormat::Original => "original",
            OutputFormat::Png => "png",
            OutputFormat::Jpeg => "jpeg",
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OutputFormat {
    type Err = ImagingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        if t == "jpg" {
            return Ok(OutputFormat::Jpeg);
        }
        OutputFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == t)
            .ok_or_else(|| ImagingError::InvalidParameter {
                name: "format",
                reason: format!(
                    "unknown format {s:?}; valid values are auto, webp, original, png, jpeg"
                ),
            })
    }
}

/// A detected image format.
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

impl fmt::Display for ImageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageKind::Png => "PNG",
            ImageKind::Jpeg => "JPEG",
            ImageKind::Webp => "WebP",
            ImageKind::Gif => "GIF",
            ImageKind::Svg => "SVG",
            ImageKind::Avif => "AVIF",
        })
    }
}

/// Everything `process` needs to know; built the same way by the server and the `process` CLI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessOptions {
    pub format: OutputFormat,
    /// Lossy WebP/JPEG quality.
    pub quality: Quality,
    /// Fit box; 0 = no limit on that axis. Never enlarges.
    pub max_width: u32,
    pub max_height: u32,
    /// Extra renditions by width, deduplicated; widths at or above the main output's are not
    /// rendered (the main image already is that rendition).
    pub widths: Vec<u32>,
    /// SVG only: render to a raster image with resvg instead of storing sanitized SVG.
    pub rasterize: bool,
    pub limits: Limits,
}

impl Default for ProcessOptions {
    fn default() -> Self {
        Overrides::default().resolve(&ImageDefaults::default(), false, Limits::default())
    }
}

/// More renditions than this is a caller mistake, not a srcset.
pub const MAX_VARIANTS: usize = 8;

/// An extra rendition; same kind and content type as the main output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendition {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// Where the time went, in milliseconds (for the CLI/benchmark and logs).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Timings {
    pub decode_ms: f64,
    pub resize_ms: f64,
    pub encode_ms: f64,
    pub total_ms: f64,
}

/// The result of `process`.
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
    /// What produced `bytes`: "libwebp-lossy", "libwebp-lossless", "libwebp-anim",
    /// "original-stripped", "png", "jpeg", "gif", "svg-sanitized", "resvg-…".
    pub encoder: String,
    pub variants: Vec<Rendition>,
    /// Frames decoded from the input (1 for still images). Animated WebP output may hold fewer:
    /// libwebp merges identical consecutive frames, keeping the total duration.
    pub frames: u32,
    pub timings: Timings,
}

/// Runs the whole pipeline on `input`. Pure and synchronous; call it from `spawn_blocking`.
pub fn process(input: &[u8], opts: &ProcessOptions) -> Result<Processed, ImagingError> {
    Job::prepare(input, opts.clone())?.run()
}

/// One image's work in two steps: [`Job::prepare`] refuses what must not run and prices what
/// may (cheap: headers, or an SVG's parse, bounded by bytes and elements), [`Job::run`] does it.
/// Between them a caller can reserve memory for [`Job::peak_pixels`].
pub struct Job<'a> {
    input: Cow<'a, [u8]>,
    probe: Probe,
    opts: ProcessOptions,
    /// An SVG's sanitized document, parsed tree and admitted renders.
    svg: Option<svg::Prepared>,
}

impl<'a> Job<'a> {
    /// Checks the input and options, reads the headers and, for an SVG, sanitizes and parses
    /// it and decides its renders: every refusal that needs no pixels happens here.
    pub fn prepare(
        input: impl Into<Cow<'a, [u8]>>,
        opts: ProcessOptions,
    ) -> Result<Self, ImagingError> {
        let input = input.into();
        validate(&input, &opts)?;
        let probe = probe(&input)?;
        // The header's size, before the job asks the decode budget for it (the decoders check
        // again, against what they actually read).
        if let Some((w, h)) = probe.dimensions {
            if probe.is_animated() {
                animated::check_frames(w, h, probe.frames as usize, &opts.limits)?;
            } else {
                decode::check_pixels(w, h, &opts.limits)?;
            }
        }
        container::check_metadata(&input, probe.kind)?;
        let svg = match probe.kind {
            ImageKind::Svg => Some(svg::prepare(&input, &opts)?),
            ImageKind::Avif => return Err(ImagingError::avif_unsupported()),
            _ => None,
        };
        Ok(Job {
            input,
            probe,
            opts,
            svg,
        })
    }

    /// Pixels the work holds at its peak, known before any is decoded: the decoded canvas of a
    /// still image; every frame of an animation (and their resized copies); an SVG's largest
    /// render with its layers and filter buffers. Unknown sizes count as MAX_PIXELS.
    pub fn peak_pixels(&self) -> u64 {
        if let Some(svg) = &self.svg {
            return svg.peak_pixels();
        }
        let limits = &self.opts.limits;
        let Some((w, h)) = self.probe.dimensions else {
            return limits.max_pixels;
        };
        let canvas = u64::from(w) * u64::from(h);
        if !self.probe.is_animated() {
            return canvas;
        }
        // Frames are held decoded; a resized main output and then each variant add a copy.
        let (mw, mh) = resize::fit(w, h, self.opts.max_width, self.opts.max_height);
        let main = if (mw, mh) == (w, h) {
            0
        } else {
            u64::from(mw) * u64::from(mh)
        };
        let variant = resize::variant_sizes(w, h, mw, &self.opts.widths)
            .into_iter()
            .map(|(vw, vh)| u64::from(vw) * u64::from(vh))
            .max()
            .unwrap_or(0);
        u64::from(self.probe.frames).saturating_mul(canvas + main + variant)
    }

    /// Decodes, transforms and encodes. Pure and synchronous; call it from `spawn_blocking`.
    pub fn run(self) -> Result<Processed, ImagingError> {
        let start = Instant::now();
        let (input, probe, opts) = (&self.input[..], &self.probe, &self.opts);
        let mut out = match self.svg {
            Some(prepared) => svg::run(prepared, input.len(), opts)?,
            None if probe.is_animated() => animated::process(input, probe, opts)?,
            None => raster(input, probe, opts)?,
        };
        out.timings.total_ms = ms(start);
        Ok(out)
    }
}

fn validate(input: &[u8], opts: &ProcessOptions) -> Result<(), ImagingError> {
    if input.len() > opts.limits.max_input_bytes {
        return Err(ImagingError::InputTooLarge {
            bytes: input.len(),
            limit: opts.limits.max_input_bytes,
        });
    }
    if input.is_empty() {
        return Err(ImagingError::Corrupt {
            detail: "the input is empty (0 bytes)".into(),
        });
    }
    check_options(opts)
}

/// The checks on options that need no image: callers that take options before any bytes
/// (the upload view's `open_uploader`) refuse bad ones up front with the same message.
pub fn check_options(opts: &ProcessOptions) -> Result<(), ImagingError> {
    if opts.widths.len() > MAX_VARIANTS {
        return Err(ImagingError::InvalidParameter {
            name: "widths",
            reason: format!(
                "{} widths requested; at most {MAX_VARIANTS} are allowed",
                opts.widths.len()
            ),
        });
    }
    if let Some(w) = opts.widths.iter().find(|w| **w == 0) {
        return Err(ImagingError::InvalidParameter {
            name: "widths",
            reason: format!("width {w} is not allowed; every width must be at least 1 pixel"),
        });
    }
    Ok(())
}

pub(crate) fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Still raster images: PNG, JPEG, static WebP, static GIF.
fn raster(input: &[u8], probe: &Probe, opts: &ProcessOptions) -> Result<Processed, ImagingError> {
    let kind = probe.kind;
    let mut timings = Timings::default();
    let t = Instant::now();
    let decoded = decode::decode(input, kind, &opts.limits)?;
    timings.decode_ms = ms(t);

    let (src_w, src_h) = decoded.oriented_dimensions();
    let (w, h) = resize::fit(src_w, src_h, opts.max_width, opts.max_height);
    let resized = (w, h) != (src_w, src_h);
    let oriented = decoded.orientation != image::metadata::Orientation::NoTransforms;

    // Keep the stripped input when it is at least as good: `original` without changes, or
    // `auto` where WebP would not make it smaller (never grow). Not after a resize or rotation:
    // the stored pixels would then differ from what was asked for.
    let untouched = !resized && !oriented;
    let stripped =
        if untouched && matches!(opts.format, OutputFormat::Original | OutputFormat::Auto) {
            strip::strip(input, kind)?
        } else {
            None
        };
    let flat = decoded.flat;
    let choice = encode::Choice::for_still(opts.format, kind, probe.lossless)?;
    let mut encode_main = || -> Result<_, ImagingError> {
        let t = Instant::now();
        let main = decoded.render(w, h)?;
        timings.resize_ms = ms(t);
        let t = Instant::now();
        let out = encode::encode_still(&main, choice, opts.quality, flat)?;
        timings.encode_ms = ms(t);
        Ok(out)
    };
    let (bytes, enc) = match (opts.format, stripped) {
        (OutputFormat::Original, Some(s)) => (s, encode::Encoded::OriginalStripped(kind)),
        (OutputFormat::Auto, Some(s)) => {
            let (webp, enc) = encode_main()?;
            if s.len() <= webp.len() {
                (s, encode::Encoded::OriginalStripped(kind))
            } else {
                (webp, enc)
            }
        }
        _ => encode_main()?,
    };
    let out_kind = enc.kind();

    // Variants are rendered from the full-resolution source, encoded like the main output.
    let t = Instant::now();
    let variant_choice = enc.as_choice(kind, probe.lossless);
    let mut variants = Vec::new();
    for (vw, vh) in resize::variant_sizes(src_w, src_h, w, &opts.widths) {
        let img = decoded.render(vw, vh)?;
        let (vbytes, _) = encode::encode_still(&img, variant_choice, opts.quality, flat)?;
        variants.push(Rendition {
            bytes: vbytes,
            width: vw,
            height: vh,
        });
    }
    timings.encode_ms += ms(t);

    Ok(Processed {
        bytes,
        kind: out_kind,
        width: w,
        height: h,
        input_kind: kind,
        original_bytes: input.len(),
        resized,
        orientation_applied: oriented,
        encoder: enc.name().to_string(),
        variants,
        frames: 1,
        timings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_format_parses_case_insensitively_and_lists_valid_values_on_error() {
        assert_eq!("WebP".parse::<OutputFormat>().unwrap(), OutputFormat::Webp);
        assert_eq!(
            " auto ".parse::<OutputFormat>().unwrap(),
            OutputFormat::Auto
        );
        assert_eq!("JPG".parse::<OutputFormat>().unwrap(), OutputFormat::Jpeg);
        let err = "tiff".parse::<OutputFormat>().unwrap_err().to_string();
        assert!(err.contains("auto, webp, original, png, jpeg"), "{err}");
        for f in OutputFormat::ALL {
            assert_eq!(f.to_string().parse::<OutputFormat>().unwrap(), f);
        }
    }

    #[test]
    fn output_format_serializes_lowercase() {
        assert_eq!(
            serde_json::to_string(&OutputFormat::Original).unwrap(),
            "\"original\""
        );
        let f: OutputFormat = serde_json::from_str("\"png\"").unwrap();
        assert_eq!(f, OutputFormat::Png);
    }

    #[test]
    fn image_kinds_have_content_types_and_extensions() {
        assert_eq!(ImageKind::Svg.content_type(), "image/svg+xml");
        assert_eq!(ImageKind::Jpeg.extension(), "jpg");
        assert_eq!(ImageKind::Webp.content_type(), "image/webp");
    }

    #[test]
    fn oversized_input_is_refused_before_sniffing() {
        let opts = ProcessOptions {
            limits: Limits {
                max_input_bytes: 4,
                ..Default::default()
            },
            ..Default::default()
        };
        let err = process(b"0123456789", &opts).unwrap_err();
        assert_eq!(err.kind(), "input_too_large");
        assert!(err.to_string().contains("MAX_INPUT_BYTES"));
    }
}
