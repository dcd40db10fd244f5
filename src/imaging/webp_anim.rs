//! Animated WebP encoding through libwebp's `WebPAnimEncoder`, the one place with `unsafe`.
//! Called directly (not through the `webp` crate's wrapper) so the closing timestamp is the end
//! of the last frame: the wrapper passes 0, and libwebp then replaces the last frame's duration
//! with the average.

use libwebp_sys as sys;
use webp::WebPConfig;

use super::ImagingError;

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
