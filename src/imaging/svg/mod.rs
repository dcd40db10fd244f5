//! SVG: sanitized and checked (sanitize.rs, css.rs, embedded.rs, expansion.rs), parsed by usvg,
//! then stored as the clean document or rendered by resvg. Every render's size and cost
//! (cost.rs) is decided and bounded before the first one starts: resvg cannot be interrupted
//! once it runs.

mod cost;
mod css;
mod embedded;
mod expansion;
mod sanitize;

use std::time::Instant;

use resvg::{tiny_skia, usvg};

use super::encode::{self, Choice};
use super::{
    ImageKind, ImagingError, Limits, OutputFormat, ProcessOptions, Processed, Rendition, Timings,
    ms, resize,
};

/// Largest raster we render from an SVG (per side), whatever the document claims.
const MAX_RASTER_SIDE: u32 = 8192;
/// Pixel operations (about a nanosecond each) all of a request's renders may take together,
/// per pixel MAX_PIXELS admits: about 5 s of one core at the default 50 MP.
const WORK_PER_ALLOWED_PIXEL: u64 = 100;

/// An SVG sanitized, parsed and priced: ready to store as it is or to render.
#[derive(Debug)]
pub(crate) struct Prepared {
    clean: String,
    tree: usvg::Tree,
    /// Sizes to render: the main output first, then each variant; empty to store the SVG.
    renders: Vec<(u32, u32)>,
    peak_pixels: u64,
    parse_ms: f64,
}

impl Prepared {
    /// Pixels the largest render holds at once (canvas, layers, filter results, embedded
    /// images); 0 when the sanitized SVG is stored without rendering.
    pub fn peak_pixels(&self) -> u64 {
        self.peak_pixels
    }
}

/// usvg options that cannot reach outside the document, and admit only checked embedded rasters.
fn usvg_options(limits: Limits) -> usvg::Options<'static> {
    usvg::Options {
        resources_dir: None,
        image_href_resolver: embedded::resolver(limits),
        ..Default::default()
    }
}

/// Sanitizes and parses `input`, decides the renders `opts` ask for and refuses them when one
/// would hold more than MAX_PIXELS pixels or all together would take too long.
pub(crate) fn prepare(input: &[u8], opts: &ProcessOptions) -> Result<Prepared, ImagingError> {
    let t = Instant::now();
    let clean = sanitize::sanitize(input, &opts.limits)?;
    let tree = usvg::Tree::from_str(&clean, &usvg_options(opts.limits))
        .map_err(|e| ImagingError::Svg(format!("the SVG cannot be rendered ({e})")))?;
    let parse_ms = ms(t);
    if !opts.rasterize {
        if !matches!(opts.format, OutputFormat::Auto | OutputFormat::Original) {
            return Err(ImagingError::InvalidParameter {
                name: "format",
                reason: format!(
                    "an SVG is stored as sanitized SVG; to get {} set rasterize: true",
                    opts.format
                ),
            });
        }
        return Ok(Prepared {
            clean,
            tree,
            renders: Vec::new(),
            peak_pixels: 0,
            parse_ms,
        });
    }
    let renders = render_sizes(&tree, opts);
    let mut peak_pixels = 0u64;
    let mut work = 0u64;
    for &(w, h) in &renders {
        let cost = cost::of(&tree, w, h).ok_or_else(|| {
            ImagingError::RenderLimit(format!(
                "rendering this SVG would draw more than {} elements: its patterns, clip paths or masks are drawn again for every use, and they use each other; flatten or simplify them",
                cost::MAX_DRAWS
            ))
        })?;
        if cost.peak_pixels > opts.limits.max_pixels {
            return Err(ImagingError::RenderLimit(format!(
                "rendering this SVG at {w}×{h} would hold about {:.1} MP of pixel buffers (canvas, group layers, masks, filter results, embedded images); the limit is {:.0} MP (MAX_PIXELS); pass a smaller max_width/max_height, or simplify its filters, masks and group opacity",
                cost.peak_pixels as f64 / 1e6,
                opts.limits.max_pixels as f64 / 1e6
            )));
        }
        peak_pixels = peak_pixels.max(cost.peak_pixels);
        work = work.saturating_add(cost.work);
    }
    let work_limit = opts
        .limits
        .max_pixels
        .saturating_mul(WORK_PER_ALLOWED_PIXEL);
    if work > work_limit {
        let (w, h) = renders[0];
        return Err(ImagingError::RenderLimit(format!(
            "rendering this SVG at {w}×{h}{} would take about {:.1} billion pixel operations; the limit is {:.1} billion ({WORK_PER_ALLOWED_PIXEL} per MAX_PIXELS pixel); filters multiply the cost per pixel (feTurbulence by numOctaves, feMorphology by its radius squared, feConvolveMatrix by its order squared): render it smaller, with fewer widths, or simplify its filters",
            match renders.len() {
                1 => String::new(),
                n => format!(" plus {} variants", n - 1),
            },
            work as f64 / 1e9,
            work_limit as f64 / 1e9
        )));
    }
    Ok(Prepared {
        clean,
        tree,
        renders,
        peak_pixels,
        parse_ms,
    })
}

/// The main output fitted into the box (at most `MAX_RASTER_SIDE` a side, never enlarged),
/// then each variant narrower than it. A width at or above the main output's would be the main
/// image again (only narrower variants are stored), so it is never rendered.
fn render_sizes(tree: &usvg::Tree, opts: &ProcessOptions) -> Vec<(u32, u32)> {
    let size = tree.size().to_int_size();
    let (iw, ih) = (size.width(), size.height());
    let side = |max: u32| match max {
        0 => MAX_RASTER_SIDE,
        max => max.min(MAX_RASTER_SIDE),
    };
    let (w, h) = resize::fit(iw, ih, side(opts.max_width), side(opts.max_height));
    let mut widths: Vec<u32> = opts.widths.iter().copied().filter(|vw| *vw < w).collect();
    widths.sort_unstable();
    widths.dedup();
    std::iter::once((w, h))
        .chain(widths.into_iter().map(|vw| {
            let vh = (f64::from(h) * f64::from(vw) / f64::from(w)).round() as u32;
            (vw, vh.max(1))
        }))
        .collect()
}

/// Stores the sanitized document, or renders and encodes the sizes `prepare` admitted.
pub(crate) fn run(
    prepared: Prepared,
    input_len: usize,
    opts: &ProcessOptions,
) -> Result<Processed, ImagingError> {
    let mut timings = Timings {
        decode_ms: prepared.parse_ms,
        ..Timings::default()
    };
    let size = prepared.tree.size().to_int_size();
    let (iw, ih) = (size.width(), size.height());
    let Some((&(w, h), variant_sizes)) = prepared.renders.split_first() else {
        return Ok(Processed {
            bytes: prepared.clean.into_bytes(),
            kind: ImageKind::Svg,
            width: iw,
            height: ih,
            input_kind: ImageKind::Svg,
            original_bytes: input_len,
            resized: false,
            orientation_applied: false,
            encoder: "svg-sanitized".into(),
            variants: Vec::new(),
            frames: 1,
            timings,
        });
    };
    let choice = match opts.format {
        OutputFormat::Auto => Choice::WebpSmart,
        OutputFormat::Webp => Choice::WebpLossy,
        OutputFormat::Png | OutputFormat::Original => Choice::Png,
        OutputFormat::Jpeg => Choice::Jpeg,
    };
    let t = Instant::now();
    let main = render(&prepared.tree, w, h)?;
    timings.resize_ms = ms(t);
    let t = Instant::now();
    let (bytes, enc) = encode::encode_still(&main, choice, opts.quality, true)?;
    drop(main);
    let variant_choice = enc.as_choice(ImageKind::Png, true);
    let mut variants = Vec::with_capacity(variant_sizes.len());
    for &(vw, vh) in variant_sizes {
        let img = render(&prepared.tree, vw, vh)?;
        let (vbytes, _) = encode::encode_still(&img, variant_choice, opts.quality, true)?;
        variants.push(Rendition {
            bytes: vbytes,
            width: vw,
            height: vh,
        });
    }
    timings.encode_ms = ms(t);
    Ok(Processed {
        bytes,
        kind: enc.kind(),
        width: w,
        height: h,
        input_kind: ImageKind::Svg,
        original_bytes: input_len,
        resized: (w, h) != (iw, ih),
        orientation_applied: false,
        encoder: format!("resvg+{}", enc.name()),
        variants,
        frames: 1,
        timings,
    })
}

fn render(tree: &usvg::Tree, w: u32, h: u32) -> Result<image::DynamicImage, ImagingError> {
    let mut pixmap = tiny_skia::Pixmap::new(w, h)
        .ok_or_else(|| ImagingError::encode("svg raster", format!("cannot allocate {w}×{h}")))?;
    let size = tree.size();
    let transform =
        tiny_skia::Transform::from_scale(w as f32 / size.width(), h as f32 / size.height());
    resvg::render(tree, transform, &mut pixmap.as_mut());
    // tiny-skia stores premultiplied RGBA; encoders want straight alpha.
    let mut data = pixmap.take();
    for px in data.chunks_exact_mut(4) {
        let a = u16::from(px[3]);
        if a != 0 && a != 255 {
            for c in &mut px[..3] {
                *c = ((u16::from(*c) * 255 + a / 2) / a).min(255) as u8;
            }
        }
    }
    image::RgbaImage::from_raw(w, h, data)
        .map(image::DynamicImage::ImageRgba8)
        .ok_or_else(|| ImagingError::encode("svg raster", "pixmap size mismatch"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(max_width: u32, widths: Vec<u32>) -> ProcessOptions {
        ProcessOptions {
            rasterize: true,
            max_width,
            max_height: 0,
            widths,
            ..ProcessOptions::default()
        }
    }

    fn svg(side: u32, body: &str) -> String {
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}">{body}</svg>"#
        )
    }

    #[test]
    fn variant_widths_at_or_above_the_main_output_are_never_rendered() {
        let doc = svg(100, r#"<rect width="100" height="100"/>"#);
        let wide = options(0, vec![8192, 8191, 100, 50, 50]);
        let prepared = prepare(doc.as_bytes(), &wide).unwrap();
        assert_eq!(prepared.renders, vec![(100, 100), (50, 50)]);
        // Fitted to 64 wide: a 80-wide variant would be wider than the image it belongs to.
        let fitted = options(64, vec![80, 32]);
        assert_eq!(
            prepare(doc.as_bytes(), &fitted).unwrap().renders,
            vec![(64, 64), (32, 32)]
        );
    }

    #[test]
    fn a_render_above_the_pixel_limit_is_refused_before_it_starts() {
        let doc = svg(8192, r#"<rect width="100%" height="100%"/>"#);
        let err = prepare(doc.as_bytes(), &options(0, vec![])).unwrap_err();
        assert_eq!(err.kind(), "render_limit");
        let msg = err.to_string();
        assert!(
            msg.contains("8192×8192") && msg.contains("MAX_PIXELS"),
            "{msg}"
        );
        // The default box renders it at a size that fits.
        let fitted = ProcessOptions {
            rasterize: true,
            ..ProcessOptions::default()
        };
        let prepared = prepare(doc.as_bytes(), &fitted).unwrap();
        assert_eq!(prepared.renders, vec![(1080, 1080)]);
        assert_eq!(prepared.peak_pixels(), 1080 * 1080);
    }

    #[test]
    fn layers_and_embedded_images_count_in_the_peak() {
        let peak = |doc: &str| {
            prepare(doc.as_bytes(), &options(0, vec![]))
                .unwrap()
                .peak_pixels
        };
        let plain = peak(&svg(1000, r#"<rect width="1000" height="1000"/>"#));
        assert_eq!(plain, 1_000_000, "the canvas alone");
        // Nested group layers are all held at once, the innermost while it renders.
        let mut nested = r#"<rect width="1000" height="1000"/>"#.to_string();
        for _ in 0..4 {
            nested = format!(r#"<g opacity="0.5">{nested}<circle r="9"/></g>"#);
        }
        // The canvas and four layers of (at least) the canvas.
        assert!(peak(&svg(1000, &nested)) >= 5_000_000);
        // An embedded 3000×3000 PNG is decoded whole (its header is all the check reads).
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&3000u32.to_be_bytes());
        png.extend_from_slice(&3000u32.to_be_bytes());
        png.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD.encode(&png);
        let embedded = svg(
            1000,
            &format!(r#"<image width="1000" height="1000" href="data:image/png;base64,{data}"/>"#),
        );
        // The canvas, the decoded image and the pixmap made from it.
        assert!(peak(&embedded) >= 1_000_000 + 2 * 9_000_000);
    }

    #[test]
    fn patterns_of_patterns_are_refused_before_usvg_expands_them() {
        // Each level paints 100 rects with the level below: 100^4 draws at the top.
        let mut defs = r#"<pattern id="p0" width="4" height="4" patternUnits="userSpaceOnUse"><rect width="1" height="1"/></pattern>"#.to_string();
        for level in 1..=4 {
            let rects = format!(
                r#"<rect width="4" height="4" fill="url(#p{})"/>"#,
                level - 1
            )
            .repeat(100);
            defs.push_str(&format!(
                r#"<pattern id="p{level}" width="4" height="4" patternUnits="userSpaceOnUse">{rects}</pattern>"#
            ));
        }
        let doc = svg(
            64,
            &format!(r#"<defs>{defs}</defs><rect width="64" height="64" fill="url(#p4)"/>"#),
        );
        let started = Instant::now();
        let err = prepare(doc.as_bytes(), &options(0, vec![])).unwrap_err();
        assert_eq!(err.kind(), "svg_refused");
        assert!(err.to_string().contains("patterns"), "{err}");
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    }

    #[test]
    fn filter_work_is_bounded_before_rendering() {
        let turbulence = |octaves: u32| {
            svg(
                2000,
                &format!(
                    r#"<filter id="f"><feTurbulence baseFrequency="0.01" numOctaves="{octaves}"/></filter><rect width="100%" height="100%" filter="url(#f)"/>"#
                ),
            )
        };
        assert!(prepare(turbulence(2).as_bytes(), &options(0, vec![])).is_ok());
        let err = prepare(turbulence(30).as_bytes(), &options(0, vec![])).unwrap_err();
        assert_eq!(err.kind(), "render_limit");
        assert!(err.to_string().contains("numOctaves"), "{err}");
        // feMorphology visits its whole window for every pixel: a 500 px radius on 1000×1000
        // would be 10^12 operations.
        let morphology = svg(
            1000,
            r#"<filter id="f"><feMorphology radius="500"/></filter><rect width="1000" height="1000" filter="url(#f)"/>"#,
        );
        let err = prepare(morphology.as_bytes(), &options(0, vec![])).unwrap_err();
        assert_eq!(err.kind(), "render_limit");
    }
}
