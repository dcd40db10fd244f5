//! Animated GIF/WebP: frames are composited, resized together and kept animated (animated WebP
//! or the stripped original); never flattened to one frame.

use std::borrow::Cow;
use std::io::Cursor;
use std::time::Instant;

use fast_image_resize::PixelType;
use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::{AnimationDecoder, Delay, ImageDecoder, RgbaImage};

use super::decode::{check_pixels, image_limits};
use super::encode::webp_config;
use super::{
    ImageKind, ImagingError, Limits, OutputFormat, Probe, ProcessOptions, Processed, Quality,
    Rendition, Timings, ms, resize, strip, webp_anim,
};

/// Composited full-canvas RGBA frames.
#[derive(Clone)]
struct Animation {
    width: u32,
    height: u32,
    /// (RGBA pixels, display time in ms)
    frames: Vec<(Vec<u8>, u32)>,
    /// 0 = forever.
    loop_count: u32,
}

/// Composited frames cost width × height × 4 bytes each; cap their sum at `max_pixels` pixels.
pub(crate) fn check_frames(
    w: u32,
    h: u32,
    frames: usize,
    limits: &Limits,
) -> Result<(), ImagingError> {
    check_pixels(w, h, limits)?;
    let total = u64::from(w) * u64::from(h) * frames as u64;
    if total > limits.max_pixels {
        return Err(ImagingError::DecodeLimit(format!(
            "animation is {w}×{h} with {frames} frames = {:.1} MP in total; the limit is {:.0} MP across all frames (MAX_PIXELS); shorten or downscale it",
            total as f64 / 1e6,
            limits.max_pixels as f64 / 1e6
        )));
    }
    Ok(())
}

fn decode_gif(input: &[u8], probe: &Probe, limits: &Limits) -> Result<Animation, ImagingError> {
    let corrupt = |e: gif::DecodingError| ImagingError::Corrupt {
        detail: format!("GIF: {e}"),
    };
    let count = probe.frames as usize;
    let info = gif::DecodeOptions::new()
        .read_info(input)
        .map_err(corrupt)?;
    let (w, h) = (u32::from(info.width()), u32::from(info.height()));
    check_frames(w, h, count, limits)?;
    let loop_count = match info.repeat() {
        gif::Repeat::Infinite => 0,
        gif::Repeat::Finite(n) => u32::from(n),
    };
    let mut dec =
        GifDecoder::new(Cursor::new(input)).map_err(|e| ImagingError::from_image("GIF", e))?;
    dec.set_limits(image_limits(limits))
        .map_err(|e| ImagingError::from_image("GIF", e))?;
    let mut frames = Vec::with_capacity(count);
    for frame in dec.into_frames() {
        let frame = frame.map_err(|e| ImagingError::from_image("GIF", e))?;
        if frames.len() == count {
            // More frames than the probe counted: the admission check no longer holds.
            return Err(ImagingError::Corrupt {
                detail: format!("GIF: more frames than the {count} its blocks announce"),
            });
        }
        let (n, d) = frame.delay().numer_denom_ms();
        // Browsers play GIF delays under 20 ms as 100 ms; keep what viewers actually saw.
        let delay = match n / d.max(1) {
            0..20 => 100,
            ms => ms,
        };
        frames.push((frame.into_buffer().into_raw(), delay));
    }
    Ok(Animation {
        width: w,
        height: h,
        frames,
        loop_count,
    })
}

/// libwebp reads the canvas size and frame count from the container; both are checked before
/// a single frame is decoded (each decoded frame is a full canvas).
fn decode_webp(input: &[u8], limits: &Limits) -> Result<Animation, ImagingError> {
    let decoded = webp_anim::decode(input, |w, h, frames| {
        check_frames(w, h, frames as usize, limits)
    })?;
    let mut prev_end = 0;
    let mut frames = Vec::with_capacity(decoded.frames.len());
    for (rgba, end) in decoded.frames {
        // libwebp reports each frame's end time; durations are the differences.
        frames.push((rgba, u32::try_from(end - prev_end).unwrap_or(0)));
        prev_end = end;
    }
    Ok(Animation {
        width: decoded.width,
        height: decoded.height,
        frames,
        loop_count: decoded.loop_count,
    })
}

impl Animation {
    /// Every frame at `w`×`h`; borrowed when that is the size already (frames are the bulk of
    /// an animation's memory: a copy would double it).
    fn resized(&self, w: u32, h: u32) -> Result<Cow<'_, Animation>, ImagingError> {
        if (w, h) == (self.width, self.height) {
            return Ok(Cow::Borrowed(self));
        }
        let frames = self
            .frames
            .iter()
            .map(|(px, d)| {
                let px = resize::resize_raw(px, self.width, self.height, PixelType::U8x4, w, h)?;
                Ok((px, *d))
            })
            .collect::<Result<_, ImagingError>>()?;
        Ok(Cow::Owned(Animation {
            width: w,
            height: h,
            frames,
            loop_count: self.loop_count,
        }))
    }

    fn encode_webp(&self, lossless: bool, quality: Quality) -> Result<Vec<u8>, ImagingError> {
        let config = webp_config(lossless, quality)?;
        webp_anim::encode(
            &self.frames,
            self.width,
            self.height,
            self.loop_count,
            &config,
        )
    }

    fn encode_gif(&self) -> Result<Vec<u8>, ImagingError> {
        let mut out = Vec::new();
        {
            let mut enc = GifEncoder::new_with_speed(&mut out, 10);
            let repeat = match self.loop_count {
                0 => Repeat::Infinite,
                n => Repeat::Finite(u16::try_from(n).unwrap_or(u16::MAX)),
            };
            enc.set_repeat(repeat)
                .map_err(|e| ImagingError::encode("gif", e))?;
            for (px, delay) in &self.frames {
                let buf = RgbaImage::from_raw(self.width, self.height, px.clone())
                    .ok_or_else(|| ImagingError::encode("gif", "frame size mismatch"))?;
                let frame =
                    image::Frame::from_parts(buf, 0, 0, Delay::from_numer_denom_ms(*delay, 1));
                enc.encode_frame(frame)
                    .map_err(|e| ImagingError::encode("gif", e))?;
            }
        }
        Ok(out)
    }
}

/// How an animation is written out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AnimOut {
    Webp { lossless: bool },
    Gif,
}

impl AnimOut {
    /// The input's own format, for `original` (lossless WebP stays lossless).
    fn same_as(probe: &Probe) -> AnimOut {
        match probe.kind {
            ImageKind::Gif => AnimOut::Gif,
            _ => AnimOut::Webp {
                lossless: probe.lossless,
            },
        }
    }

    fn kind(self) -> ImageKind {
        match self {
            AnimOut::Gif => ImageKind::Gif,
            AnimOut::Webp { .. } => ImageKind::Webp,
        }
    }

    fn encoder_name(self) -> &'static str {
        match self {
            AnimOut::Gif => "gif-anim",
            AnimOut::Webp { lossless: true } => "libwebp-anim-lossless",
            AnimOut::Webp { lossless: false } => "libwebp-anim",
        }
    }

    fn encode(self, animation: &Animation, quality: Quality) -> Result<Vec<u8>, ImagingError> {
        match self {
            AnimOut::Webp { lossless } => animation.encode_webp(lossless, quality),
            AnimOut::Gif => animation.encode_gif(),
        }
    }
}

pub(crate) fn process(
    input: &[u8],
    probe: &Probe,
    opts: &ProcessOptions,
) -> Result<Processed, ImagingError> {
    let kind = probe.kind;
    let mut timings = Timings::default();
    let t = Instant::now();
    let anim = match kind {
        ImageKind::Gif => decode_gif(input, probe, &opts.limits)?,
        _ => decode_webp(input, &opts.limits)?,
    };
    timings.decode_ms = ms(t);

    let target = match opts.format {
        OutputFormat::Png | OutputFormat::Jpeg => {
            return Err(ImagingError::InvalidParameter {
                name: "format",
                reason: format!(
                    "the {kind} is animated ({} frames) and {} would keep only one frame; use webp, auto or original",
                    anim.frames.len(),
                    opts.format
                ),
            });
        }
        OutputFormat::Auto | OutputFormat::Webp => AnimOut::Webp { lossless: false },
        OutputFormat::Original => AnimOut::same_as(probe),
    };

    let (w, h) = resize::fit(anim.width, anim.height, opts.max_width, opts.max_height);
    let resized = (w, h) != (anim.width, anim.height);
    let t = Instant::now();
    let main = anim.resized(w, h)?;
    timings.resize_ms = ms(t);

    let t = Instant::now();
    // The stripped original wins when it is asked for, or (auto) when it is no larger.
    let stripped = if resized {
        None
    } else {
        strip::strip(input, kind)?
    };
    let (bytes, written_as) = match (opts.format, stripped) {
        (OutputFormat::Original, Some(s)) => (s, None),
        (OutputFormat::Auto, Some(s)) => {
            let encoded = target.encode(&main, opts.quality)?;
            if s.len() <= encoded.len() {
                (s, None)
            } else {
                (encoded, Some(target))
            }
        }
        _ => (target.encode(&main, opts.quality)?, Some(target)),
    };
    timings.encode_ms = ms(t);

    // Variants are encoded like the main output; a stripped original's are re-encoded in kind.
    let variant_target = written_as.unwrap_or(AnimOut::same_as(probe));
    let mut variants = Vec::new();
    for (vw, vh) in resize::variant_sizes(anim.width, anim.height, w, &opts.widths) {
        let t = Instant::now();
        let v = anim.resized(vw, vh)?;
        timings.resize_ms += ms(t);
        let t = Instant::now();
        variants.push(Rendition {
            bytes: variant_target.encode(&v, opts.quality)?,
            width: vw,
            height: vh,
        });
        timings.encode_ms += ms(t);
    }

    Ok(Processed {
        bytes,
        kind: written_as.map_or(kind, AnimOut::kind),
        width: w,
        height: h,
        input_kind: kind,
        original_bytes: input.len(),
        resized,
        orientation_applied: false,
        encoder: written_as
            .map_or("original-stripped", AnimOut::encoder_name)
            .to_string(),
        variants,
        frames: u32::try_from(anim.frames.len()).unwrap_or(u32::MAX),
        timings,
    })
}
