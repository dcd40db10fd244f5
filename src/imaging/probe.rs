//! One look at the container before any pixel is decoded: format, canvas size, frame count and
//! whether the coding is lossless. The decode budget and the pipeline both use this one probe.

use webp::{BitstreamFeatures, BitstreamFormat};

use super::{ImageKind, ImagingError, sniff};

/// What the headers say about an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    pub kind: ImageKind,
    /// Canvas width × height from the header; `None` for SVG (known after parsing) and for
    /// headers that cannot be read (decoding then reports why).
    pub dimensions: Option<(u32, u32)>,
    /// Frames in the container (1 for still images).
    pub frames: u32,
    /// The input is coded losslessly (PNG, GIF, lossless WebP, SVG).
    pub lossless: bool,
}

impl Probe {
    pub fn is_animated(&self) -> bool {
        self.frames > 1
    }

    /// Pixels of one canvas, when the header gave a size.
    pub fn pixels(&self) -> Option<u64> {
        self.dimensions.map(|(w, h)| u64::from(w) * u64::from(h))
    }
}

/// Reads the headers of `input`. Fails only when the format itself is not one we take.
pub fn probe(input: &[u8]) -> Result<Probe, ImagingError> {
    let kind = sniff(input)?;
    let probe = match kind {
        ImageKind::Png => Probe {
            kind,
            dimensions: png_dimensions(input),
            frames: 1,
            lossless: true,
        },
        ImageKind::Jpeg => Probe {
            kind,
            dimensions: raster_dimensions(input),
            frames: 1,
            lossless: false,
        },
        ImageKind::Gif => {
            let info = gif_info(input);
            Probe {
                kind,
                dimensions: info.map(|(w, h, _)| (w, h)),
                frames: info.map_or(1, |(_, _, frames)| frames.max(1)),
                lossless: true,
            }
        }
        ImageKind::Webp => {
            let features = BitstreamFeatures::new(input);
            Probe {
                kind,
                dimensions: features.as_ref().map(|f| (f.width(), f.height())),
                frames: webp_frames(input).max(1),
                lossless: features
                    .and_then(|f| f.format())
                    .is_some_and(|f| matches!(f, BitstreamFormat::Lossless)),
            }
        }
        ImageKind::Svg => Probe {
            kind,
            dimensions: None,
            frames: 1,
            lossless: true,
        },
        ImageKind::Avif => Probe {
            kind,
            dimensions: None,
            frames: 1,
            lossless: false,
        },
    };
    Ok(probe)
}

/// From the IHDR chunk, which must come first. Not through the `png` crate: reading its header
/// info parses every chunk before the pixels, inflating a zlib `iCCP` profile on the way.
fn png_dimensions(input: &[u8]) -> Option<(u32, u32)> {
    if input.get(12..16)? != b"IHDR" {
        return None;
    }
    let be = |at: usize| Some(u32::from_be_bytes(input.get(at..at + 4)?.try_into().ok()?));
    Some((be(16)?, be(20)?))
}

fn raster_dimensions(input: &[u8]) -> Option<(u32, u32)> {
    image::ImageReader::new(std::io::Cursor::new(input))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()
}

/// Logical screen size and frame count; frame data is skipped, not decoded.
pub(crate) fn gif_info(input: &[u8]) -> Option<(u32, u32, u32)> {
    let mut options = gif::DecodeOptions::new();
    options.skip_frame_decoding(true);
    let mut decoder = options.read_info(input).ok()?;
    let (w, h) = (u32::from(decoder.width()), u32::from(decoder.height()));
    let mut frames = 0u32;
    // `read_next_frame` reads the next frame's header itself: calling `next_frame_info` first
    // as well would skip every other frame and count half of them.
    while decoder.read_next_frame().ok()?.is_some() {
        frames = frames.saturating_add(1);
    }
    Some((w, h, frames))
}

/// ANMF chunks in a WebP's RIFF container: its frames, counted without decoding any.
fn webp_frames(input: &[u8]) -> u32 {
    let mut frames = 0u32;
    // RIFF header (12 bytes), then chunks: fourcc, little-endian size, payload padded to even.
    let mut at = 12usize;
    while let Some(header) = input.get(at..at + 8) {
        let size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if &header[..4] == b"ANMF" {
            frames = frames.saturating_add(1);
        }
        at = match at.checked_add(8 + size + (size & 1)) {
            Some(next) => next,
            None => break,
        };
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::super::webp_anim::tests::chunk;
    use super::*;

    #[test]
    fn gif_frames_are_all_counted() {
        let mut gif = b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xff\xff\xff".to_vec();
        for _ in 0..5 {
            gif.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0x02, 0x02, 0x44, 0x01, 0]);
        }
        gif.push(0x3B);
        assert_eq!(gif_info(&gif), Some((1, 1, 5)));
    }

    #[test]
    fn png_size_comes_from_ihdr_alone() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&70_000u32.to_be_bytes());
        png.extend_from_slice(&3u32.to_be_bytes());
        assert_eq!(png_dimensions(&png), Some((70_000, 3)));
        assert_eq!(png_dimensions(&png[..20]), None);
    }

    #[test]
    fn webp_frames_are_counted_from_the_container() {
        let mut body = b"WEBP".to_vec();
        body.extend(chunk(b"VP8X", &[0; 10]));
        body.extend(chunk(b"ANIM", &[0; 6]));
        for _ in 0..3 {
            body.extend(chunk(b"ANMF", &[0; 17]));
        }
        let mut riff = b"RIFF".to_vec();
        riff.extend_from_slice(&(body.len() as u32).to_le_bytes());
        riff.extend(body);
        assert_eq!(webp_frames(&riff), 3);
        // A size running past the end stops the walk instead of overflowing.
        let mut lying = riff.clone();
        lying.extend(b"ANMF\xff\xff\xff\xff");
        assert_eq!(webp_frames(&lying), 4);
    }
}
