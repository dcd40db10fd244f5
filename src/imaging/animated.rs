//! Animated GIF/WebP: frames are composited, resized together and kept animated (animated WebP
//! or the stripped original); never flattened to one frame.

use std::io::Cursor;
use std::time::Instant;

use fast_image_resize::PixelType;
use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::{AnimationDecoder, Delay, ImageDecoder, RgbaImage};
use webp::BitstreamFeatures;

use super::decode::{check_pixels, image_limits};
use super::encode::{webp_config, webp_is_lossless};
use super::{
    ImageKind, ImagingError, Limits, OutputFormat, ProcessOptions, Processed, Rendition, Timings,
    ms, resize, strip,
};

/// Composited full-canvas RGBA frames.
struct Animation {
    width: u32,
    height: u32,
    /// (RGBA pixels, display time in ms)
    frames: Vec<(Vec<u8>, u32)>,
    /// 0 = forever.
    loop_count: u32,
}

/// More than one frame? Cheap: reads frame headers only.
pub(crate) fn is_animated(input: &[u8], kind: ImageKind) -> Result<bool, ImagingError> {
    Ok(match kind {
        ImageKind::Webp => BitstreamFeatures::new(input).is_some_and(|f| f.has_animation()),
        ImageKind::Gif => gif_frame_count(input).unwrap_or(0) > 1,
        _ => false,
    })
}

fn gif_frame_count(input: &[u8]) -> Result<usize, gif::DecodingError> {
    let mut opts = gif::DecodeOptions::new();
    opts.skip_frame_decoding(true);
    let mut dec = opts.read_info(input)?;
    let mut n = 0;
    while dec.next_frame_info()?.is_some() {
        // Skip the frame's data without decoding it.
        dec.read_next_frame()?;
        n += 1;
    }
    Ok(n)
}

/// Composited frames cost width × height × 4 bytes each; cap their sum at `max_pixels` pixels.
fn check_frames(w: u32, h: u32, frames: usize, limits: &Limits) -> Result<(), ImagingError> {
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

fn decode_gif(input: &[u8], limits: &Limits) -> Result<Animation, ImagingError> {
    let corrupt = |e: gif::DecodingError| ImagingError::Corrupt {
        detail: format!("GIF: {e}"),
    };
    let count = gif_frame_count(input).map_err(corrupt)?;
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

fn decode_webp(input: &[u8], limits: &Limits) -> Result<Animation, ImagingError> {
    let features = BitstreamFeatures::new(input).ok_or_else(|| ImagingError::Corrupt {
        detail: "WebP header could not be read".into(),
    })?;
    check_pixels(features.width(), features.height(), limits)?;
    let anim = webp::AnimDecoder::new(input)
        .decode()
        .map_err(|e| ImagingError::Corrupt {
            detail: format!("animated WebP: {e}"),
        })?;
    let all = anim.get_frames(0..anim.len()).unwrap_or_default();
    let (w, h) = all
        .first()
        .map(|f| (f.width(), f.height()))
        .unwrap_or((features.width(), features.height()));
    check_frames(w, h, all.len(), limits)?;
    let mut prev_end = 0;
    let mut frames = Vec::with_capacity(all.len());
    for f in &all {
        // libwebp reports each frame's end time; durations are the differences.
        let end = f.get_time_ms();
        let rgba = match f.get_layout() {
            webp::PixelLayout::Rgba => f.get_image().to_vec(),
            webp::PixelLayout::Rgb => f
                .get_image()
                .chunks_exact(3)
                .flat_map(|p| [p[0], p[1], p[2], 255])
                .collect(),
        };
        frames.push((rgba, u32::try_from(end - prev_end).unwrap_or(0)));
        prev_end = end;
    }
    Ok(Animation {
        width: w,
        height: h,
        frames,
        loop_count: anim.loop_count,
    })
}

impl Animation {
    fn resized(&self, w: u32, h: u32) -> Result<Animation, ImagingError> {
        let frames = self
            .frames
            .iter()
            .map(|(px, d)| {
                let px = if (w, h) == (self.width, self.height) {
                    px.clone()
                } else {
                    resize::resize_raw(px, self.width, self.height, PixelType::U8x4, w, h)?
                };
                Ok((px, *d))
            })
            .collect::<Result<_, ImagingError>>()?;
        Ok(Animation {
            width: w,
            height: h,
            frames,
            loop_count: self.loop_count,
        })
    }

    /// Animated WebP through libwebp's WebPAnimEncoder. Called directly (not via the `webp`
    /// crate's wrapper) so the closing timestamp is the end of the last frame: the wrapper passes
    /// 0, and libwebp then replaces the last frame's duration with the average.
    fn encode_webp(&self, lossless: bool, quality: u8) -> Result<Vec<u8>, ImagingError> {
        use libwebp_sys as sys;
        let err = |what: &str| ImagingError::encode("animated webp", what);
        let cfg = webp_config(lossless, quality)?;
        let (w, h) = (
            i32::try_from(self.width).map_err(|_| err("width"))?,
            i32::try_from(self.height).map_err(|_| err("height"))?,
        );
        struct Enc(*mut sys::WebPAnimEncoder);
        impl Drop for Enc {
            fn drop(&mut self) {
                // SAFETY: created by WebPAnimEncoderNewInternal, deleted exactly once.
                unsafe { sys::WebPAnimEncoderDelete(self.0) }
            }
        }
        // SAFETY: plain libwebp C API use: every struct is initialised by its Init function,
        // pictures import from buffers of exactly width×height×4 bytes (checked below) and are
        // freed after use, the encoder is freed by `Enc`, WebPData is cleared after copying.
        unsafe {
            let mut opts: sys::WebPAnimEncoderOptions = std::mem::zeroed();
            if sys::WebPAnimEncoderOptionsInitInternal(&mut opts, sys::WebPGetMuxABIVersion()) == 0
            {
                return Err(err("options init"));
            }
            opts.anim_params.loop_count = i32::try_from(self.loop_count).unwrap_or(0);
            let enc = Enc(sys::WebPAnimEncoderNewInternal(
                w,
                h,
                &opts,
                sys::WebPGetMuxABIVersion(),
            ));
            if enc.0.is_null() {
                return Err(err("encoder allocation"));
            }
            let mut ts: i32 = 0;
            for (px, delay) in &self.frames {
                if px.len() != self.width as usize * self.height as usize * 4 {
                    return Err(err("frame size mismatch"));
                }
                let mut pic: sys::WebPPicture = std::mem::zeroed();
                if !sys::WebPPictureInit(&mut pic) {
                    return Err(err("picture init"));
                }
                pic.use_argb = 1;
                pic.width = w;
                pic.height = h;
                if sys::WebPPictureImportRGBA(&mut pic, px.as_ptr(), w * 4) == 0 {
                    sys::WebPPictureFree(&mut pic);
                    return Err(err("picture import (out of memory)"));
                }
                let ok = sys::WebPAnimEncoderAdd(enc.0, &mut pic, ts, &cfg);
                sys::WebPPictureFree(&mut pic);
                if ok == 0 {
                    let msg = sys::WebPAnimEncoderGetError(enc.0);
                    let msg = if msg.is_null() {
                        "frame encode".to_string()
                    } else {
                        std::ffi::CStr::from_ptr(msg).to_string_lossy().into_owned()
                    };
                    return Err(err(&msg));
                }
                ts = ts.saturating_add(i32::try_from((*delay).max(1)).unwrap_or(i32::MAX));
            }
            // The closing call carries the end time of the last frame.
            sys::WebPAnimEncoderAdd(enc.0, std::ptr::null_mut(), ts, std::ptr::null());
            let mut data: sys::WebPData = std::mem::zeroed();
            if sys::WebPAnimEncoderAssemble(enc.0, &mut data) == 0 || data.bytes.is_null() {
                return Err(err("assemble"));
            }
            let out = std::slice::from_raw_parts(data.bytes, data.size).to_vec();
            sys::WebPDataClear(&mut data);
            Ok(out)
        }
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum AnimOut {
    Webp { lossless: bool },
    Gif,
}

pub(crate) fn process(
    input: &[u8],
    kind: ImageKind,
    opts: &ProcessOptions,
) -> Result<Processed, ImagingError> {
    let mut timings = Timings::default();
    let t = Instant::now();
    let anim = match kind {
        ImageKind::Gif => decode_gif(input, &opts.limits)?,
        _ => decode_webp(input, &opts.limits)?,
    };
    timings.decode_ms = ms(t);

    let reencode_same = match kind {
        ImageKind::Gif => AnimOut::Gif,
        _ => AnimOut::Webp {
            lossless: webp_is_lossless(input),
        },
    };
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
        OutputFormat::Original => reencode_same,
    };

    let (w, h) = resize::fit(anim.width, anim.height, opts.max_width, opts.max_height);
    let resized = (w, h) != (anim.width, anim.height);
    let t = Instant::now();
    let main = anim.resized(w, h)?;
    timings.resize_ms = ms(t);

    let t = Instant::now();
    let encode = |a: &Animation, out: AnimOut| match out {
        AnimOut::Webp { lossless } => a.encode_webp(lossless, opts.quality),
        AnimOut::Gif => a.encode_gif(),
    };
    let mut out_kind = match target {
        AnimOut::Gif => ImageKind::Gif,
        AnimOut::Webp { .. } => ImageKind::Webp,
    };
    let mut encoder = match target {
        AnimOut::Gif => "gif-anim",
        AnimOut::Webp { lossless: true } => "libwebp-anim-lossless",
        AnimOut::Webp { lossless: false } => "libwebp-anim",
    };
    let mut variant_target = target;
    let stripped = if resized {
        None
    } else {
        strip::strip(input, kind)?
    };
    let bytes = match (opts.format, stripped) {
        (OutputFormat::Original, Some(s)) => {
            encoder = "original-stripped";
            s
        }
        (OutputFormat::Auto, Some(s)) => {
            let webp = encode(&main, target)?;
            if s.len() <= webp.len() {
                encoder = "original-stripped";
                out_kind = kind;
                variant_target = reencode_same;
                s
            } else {
                webp
            }
        }
        _ => encode(&main, target)?,
    };
    timings.encode_ms = ms(t);

    let mut variants = Vec::new();
    for (vw, vh) in resize::variant_sizes(anim.width, anim.height, &opts.widths) {
        let t = Instant::now();
        let v = anim.resized(vw, vh)?;
        timings.resize_ms += ms(t);
        let t = Instant::now();
        variants.push(Rendition {
            bytes: encode(&v, variant_target)?,
            width: vw,
            height: vh,
        });
        timings.encode_ms += ms(t);
    }

    Ok(Processed {
        bytes,
        kind: out_kind,
        width: w,
        height: h,
        input_kind: kind,
        original_bytes: input.len(),
        resized,
        orientation_applied: false,
        encoder: encoder.to_string(),
        variants,
        frames: u32::try_from(anim.frames.len()).unwrap_or(u32::MAX),
        timings,
    })
}
