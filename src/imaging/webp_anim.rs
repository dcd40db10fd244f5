//! Animated WebP through libwebp's `WebPAnimDecoder` and `WebPAnimEncoder`, the one place with
//! `unsafe`. Called directly, not through the `webp` crate's wrappers: its decoder decodes every
//! frame before the caller can count them (and loops forever on a frame that fails to decode),
//! and its encoder passes 0 as the closing timestamp, so libwebp replaces the last frame's
//! duration with the average.

use libwebp_sys as sys;
use webp::WebPConfig;

use super::ImagingError;

/// An animation as libwebp composites it: full-canvas RGBA frames.
pub(crate) struct Decoded {
    pub width: u32,
    pub height: u32,
    /// 0 = forever.
    pub loop_count: u32,
    /// (RGBA pixels, width × height × 4 bytes; time the frame ends, in ms from the start)
    pub frames: Vec<(Vec<u8>, i32)>,
}

/// Owns a `WebPAnimDecoder` and frees it exactly once.
struct DecoderHandle(*mut sys::WebPAnimDecoder);

impl Drop for DecoderHandle {
    fn drop(&mut self) {
        // SAFETY: created by WebPAnimDecoderNewInternal (checked non-null), deleted only here.
        unsafe { sys::WebPAnimDecoderDelete(self.0) }
    }
}

/// Decodes an animated WebP. `admit(width, height, frames)` sees the canvas size and the frame
/// count libwebp's demuxer read from the container, before any frame is decoded, and may refuse.
pub(crate) fn decode(
    input: &[u8],
    admit: impl FnOnce(u32, u32, u32) -> Result<(), ImagingError>,
) -> Result<Decoded, ImagingError> {
    let corrupt = |what: &str| ImagingError::Corrupt {
        detail: format!("animated WebP: {what}"),
    };
    // SAFETY: plain libwebp C API use. The options are initialised by their Init function; the
    // decoder reads `input` through a WebPData that borrows it for the decoder's lifetime (the
    // handle is dropped before this function returns); GetNext hands out a pointer to the
    // decoder's own canvas of canvas_width × canvas_height × 4 bytes (RGBA mode), valid until the
    // next call, which is copied at once.
    unsafe {
        let mut options: sys::WebPAnimDecoderOptions = std::mem::zeroed();
        if sys::WebPAnimDecoderOptionsInitInternal(&mut options, sys::WebPGetDemuxABIVersion()) == 0
        {
            return Err(ImagingError::encode(
                "animated webp",
                "decoder options init",
            ));
        }
        options.color_mode = sys::WEBP_CSP_MODE::MODE_RGBA;
        options.use_threads = 0;
        let data = sys::WebPData {
            bytes: input.as_ptr(),
            size: input.len(),
        };
        let decoder = DecoderHandle(sys::WebPAnimDecoderNewInternal(
            &data,
            &options,
            sys::WebPGetDemuxABIVersion(),
        ));
        if decoder.0.is_null() {
            return Err(corrupt("the container could not be read"));
        }
        let mut info: sys::WebPAnimInfo = std::mem::zeroed();
        if sys::WebPAnimDecoderGetInfo(decoder.0, &mut info) == 0 {
            return Err(corrupt("the container could not be read"));
        }
        let (width, height) = (info.canvas_width, info.canvas_height);
        admit(width, height, info.frame_count)?;
        let frame_bytes = (width as usize)
            .checked_mul(height as usize)
            .and_then(|n| n.checked_mul(4))
            .ok_or_else(|| corrupt("canvas size"))?;
        let mut frames = Vec::with_capacity(info.frame_count as usize);
        while sys::WebPAnimDecoderHasMoreFrames(decoder.0) != 0 {
            let mut buf: *mut u8 = std::ptr::null_mut();
            let mut timestamp: std::ffi::c_int = 0;
            // A frame that fails to decode stays "next": stop instead of retrying it forever.
            if sys::WebPAnimDecoderGetNext(decoder.0, &mut buf, &mut timestamp) == 0
                || buf.is_null()
            {
                return Err(corrupt(&format!(
                    "frame {} of {} could not be decoded",
                    frames.len() + 1,
                    info.frame_count
                )));
            }
            frames.push((
                std::slice::from_raw_parts(buf, frame_bytes).to_vec(),
                timestamp,
            ));
        }
        Ok(Decoded {
            width,
            height,
            loop_count: info.loop_count,
            frames,
        })
    }
}

/// Owns a `WebPAnimEncoder` and frees it exactly once.
struct Encoder(*mut sys::WebPAnimEncoder);

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: created by WebPAnimEncoderNewInternal (checked non-null), deleted only here.
        unsafe { sys::WebPAnimEncoderDelete(self.0) }
    }
}

/// Encodes full-canvas RGBA frames (`(pixels, display time in ms)`, each exactly
/// `width × height × 4` bytes) as one animated WebP that loops `loop_count` times (0 = forever).
pub(crate) fn encode(
    frames: &[(Vec<u8>, u32)],
    width: u32,
    height: u32,
    loop_count: u32,
    config: &WebPConfig,
) -> Result<Vec<u8>, ImagingError> {
    let err = |what: &str| ImagingError::encode("animated webp", what);
    let (w, h) = (
        i32::try_from(width).map_err(|_| err("width"))?,
        i32::try_from(height).map_err(|_| err("height"))?,
    );
    let frame_bytes = (width as usize)
        .checked_mul(height as usize)
        .and_then(|n| n.checked_mul(4))
        .ok_or_else(|| err("canvas size"))?;
    if frames.iter().any(|(px, _)| px.len() != frame_bytes) {
        return Err(err("frame size mismatch"));
    }
    // SAFETY: plain libwebp C API use. Every struct is initialised by its Init function before
    // use; each picture imports from a buffer of exactly width × height × 4 bytes (checked
    // above) with a stride of width × 4, and is freed right after it is added; the encoder is
    // freed by `Encoder`'s Drop on every path; the assembled WebPData is copied, then cleared.
    unsafe {
        let mut options: sys::WebPAnimEncoderOptions = std::mem::zeroed();
        if sys::WebPAnimEncoderOptionsInitInternal(&mut options, sys::WebPGetMuxABIVersion()) == 0 {
            return Err(err("options init"));
        }
        options.anim_params.loop_count = i32::try_from(loop_count).unwrap_or(0);
        let encoder = Encoder(sys::WebPAnimEncoderNewInternal(
            w,
            h,
            &options,
            sys::WebPGetMuxABIVersion(),
        ));
        if encoder.0.is_null() {
            return Err(err("encoder allocation"));
        }
        let mut timestamp: i32 = 0;
        for (pixels, delay) in frames {
            let mut picture: sys::WebPPicture = std::mem::zeroed();
            if !sys::WebPPictureInit(&mut picture) {
                return Err(err("picture init"));
            }
            picture.use_argb = 1;
            picture.width = w;
            picture.height = h;
            if sys::WebPPictureImportRGBA(&mut picture, pixels.as_ptr(), w * 4) == 0 {
                sys::WebPPictureFree(&mut picture);
                return Err(err("picture import (out of memory)"));
            }
            let added = sys::WebPAnimEncoderAdd(encoder.0, &mut picture, timestamp, config);
            sys::WebPPictureFree(&mut picture);
            if added == 0 {
                let message = sys::WebPAnimEncoderGetError(encoder.0);
                let message = if message.is_null() {
                    "frame encode".to_string()
                } else {
                    std::ffi::CStr::from_ptr(message)
                        .to_string_lossy()
                        .into_owned()
                };
                return Err(err(&message));
            }
            timestamp =
                timestamp.saturating_add(i32::try_from((*delay).max(1)).unwrap_or(i32::MAX));
        }
        // The closing call carries the end time of the last frame.
        sys::WebPAnimEncoderAdd(encoder.0, std::ptr::null_mut(), timestamp, std::ptr::null());
        let mut data: sys::WebPData = std::mem::zeroed();
        if sys::WebPAnimEncoderAssemble(encoder.0, &mut data) == 0 || data.bytes.is_null() {
            return Err(err("assemble"));
        }
        let out = std::slice::from_raw_parts(data.bytes, data.size).to_vec();
        sys::WebPDataClear(&mut data);
        Ok(out)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A RIFF chunk: fourcc, little-endian size, payload padded to an even length.
    pub(in super::super) fn chunk(id: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = id.to_vec();
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(payload);
        if payload.len() % 2 == 1 {
            out.push(0);
        }
        out
    }

    /// A `side`×`side` canvas with one ANMF frame of 1×1 per entry of `frames` (its VP8L data).
    fn animation(side: u32, frames: &[&[u8]]) -> Vec<u8> {
        let le24 = |v: u32| v.to_le_bytes()[..3].to_vec();
        let mut vp8x = vec![0x02, 0, 0, 0];
        vp8x.extend(le24(side - 1));
        vp8x.extend(le24(side - 1));
        let mut body = b"WEBP".to_vec();
        body.extend(chunk(b"VP8X", &vp8x));
        body.extend(chunk(b"ANIM", &[0; 6]));
        for vp8l in frames {
            let mut anmf = [0, 0, 0, 0, 100]
                .iter()
                .flat_map(|v| le24(*v))
                .collect::<Vec<_>>();
            anmf.push(0);
            anmf.extend(chunk(b"VP8L", vp8l));
            body.extend(chunk(b"ANMF", &anmf));
        }
        let mut riff = b"RIFF".to_vec();
        riff.extend_from_slice(&(body.len() as u32).to_le_bytes());
        riff.extend(body);
        riff
    }

    /// A lossless 1×1 pixel (single-symbol prefix codes: the pixel takes no bits).
    const PIXEL: &[u8] = &[0x2F, 0, 0, 0, 0, 0x88, 0x88, 0x08];

    #[test]
    fn the_canvas_and_frame_count_are_admitted_before_any_frame_is_decoded() {
        let input = animation(7000, &[PIXEL; 10]);
        let mut seen = None;
        let err = decode(&input, |w, h, frames| {
            seen = Some((w, h, frames));
            Err(ImagingError::DecodeLimit("refused".into()))
        })
        .err()
        .expect("refused");
        assert_eq!(err.kind(), "decode_limit");
        assert_eq!(seen, Some((7000, 7000, 10)));
        let decoded = decode(&animation(4, &[PIXEL; 3]), |_, _, _| Ok(())).unwrap();
        assert_eq!(
            (decoded.width, decoded.height, decoded.frames.len()),
            (4, 4, 3)
        );
        assert!(decoded.frames.iter().all(|(px, _)| px.len() == 4 * 4 * 4));
    }

    #[test]
    fn a_frame_that_fails_to_decode_ends_decoding_instead_of_being_retried() {
        let broken: &[u8] = &[0x2F, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF];
        let input = animation(4, &[PIXEL, broken, PIXEL]);
        let err = decode(&input, |_, _, _| Ok(())).err().expect("an error");
        assert_eq!(err.kind(), "corrupt_image", "{err}");
        assert!(err.to_string().contains("frame 2 of 3"), "{err}");
    }
}
