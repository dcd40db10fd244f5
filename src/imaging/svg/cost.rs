//! What rendering a parsed SVG at a given size will cost, computed from the usvg tree before
//! resvg runs (resvg cannot be interrupted once it does): the pixels it holds at its peak and
//! the work it does, both bounded by the caller.
//!
//! The model follows where resvg 0.49 allocates and loops: every isolated group (opacity, blend
//! mode, clip, mask, filter) renders into a layer of its bounding box (up to 5×5 canvases);
//! a filter keeps one region-sized result per primitive; clips and masks render into layer-sized
//! pixmaps; a pattern renders its tile into a pixmap of the tile's own size; an embedded raster
//! is decoded whole each time it is drawn. Work is counted in "pixel operations" (about a
//! nanosecond each), with per-pixel weights for the costly filters: `feTurbulence` (per octave),
//! `feMorphology` (its whole window, per pixel) and `feConvolveMatrix` (per kernel cell).
//! Revisit this model when upgrading resvg.

use resvg::tiny_skia::{Rect, Transform};
use resvg::usvg::{self, Group, Node, Paint, filter};

/// A render's price, in pixels held at once and in pixel operations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Cost {
    pub peak_pixels: u64,
    pub work: u64,
}

/// Per-pixel weights, measured on resvg 0.49 (x86-64, one core) so that a unit is about a
/// nanosecond at worst. Every filter primitive copies its input and converts it to linearRGB
/// and back (the simple ones cost little more); a blur is five box passes each way over four
/// channels; a noise octave costs ~25 ns per channel; a convolution ~20 ns per kernel cell.
const SIMPLE_PRIMITIVE_WORK: u64 = 30;
const BLUR_WORK: u64 = 150;
const TURBULENCE_OCTAVE_WORK: u64 = 100;
const LIGHTING_WORK: u64 = 60;
const CONVOLVE_CELL_WORK: u64 = 20;
/// A canvas pixel is cleared, rendered, un-premultiplied and handed to the encoder; a layer
/// pixel is cleared and composited back through a bilinear pattern.
const CANVAS_WORK: u64 = 30;
const LAYER_WORK: u64 = 10;
/// Path rasterization per segment, and per dash (each dash becomes a sub-path to stroke).
const SEGMENT_WORK: u64 = 20;
const DASH_WORK: u64 = 50;
/// tiny-skia gives up dashing a path past this many dashes (Skia's `MAX_DASH_COUNT`).
const MAX_DASHES: f64 = 1_000_000.0;
/// Elements one render may draw, counting every re-draw: a pattern's content once per path
/// painted with it, a clip path's or mask's once per group using it. usvg caps a document at
/// a million elements, but references multiply (a pattern of patterns of patterns); resvg
/// would walk every one, and so would this model.
pub(super) const MAX_DRAWS: u64 = 4_000_000;

/// The cost of rendering `tree` into a `width`×`height` pixmap (scaled from its own size), or
/// `None` when it would draw more than `MAX_DRAWS` elements.
pub(super) fn of(tree: &usvg::Tree, width: u32, height: u32) -> Option<Cost> {
    let size = tree.size();
    let ts = Transform::from_scale(width as f32 / size.width(), height as f32 / size.height());
    let canvas = Rect::from_xywh(0.0, 0.0, width as f32, height as f32);
    let canvas_pixels = u64::from(width) * u64::from(height);
    let mut walker = Walker { draws: 0 };
    let inner = match canvas {
        Some(c) => walker.nodes(tree.root(), ts, c, max_bbox(c)),
        None => Cost::default(),
    };
    (walker.draws <= MAX_DRAWS).then(|| Cost {
        // Decoded pixels, as a raster's are counted: the encoder's buffers are not (the
        // same for every format, they scale with the output).
        peak_pixels: canvas_pixels + inner.peak_pixels,
        work: inner.work.saturating_add(CANVAS_WORK * canvas_pixels),
    })
}

/// resvg clips layers to 5×5 canvases around the canvas (its `max_filter_bbox`).
fn max_bbox(canvas: Rect) -> Rect {
    Rect::from_xywh(
        canvas.x() - 2.0 * canvas.width(),
        canvas.y() - 2.0 * canvas.height(),
        5.0 * canvas.width(),
        5.0 * canvas.height(),
    )
    .unwrap_or(canvas)
}

/// Pixels of `rect` (in the drawing's coordinates) once transformed and clipped to `target`.
fn area(rect: Option<Rect>, ts: Transform, target: Rect) -> u64 {
    rect.and_then(|r| r.transform(ts))
        .and_then(|r| r.intersect(&target))
        .map_or(0, |r| {
            (f64::from(r.width()).ceil() * f64::from(r.height()).ceil()).min(u64::MAX as f64) as u64
        })
}

/// Walks the tree as resvg would render it, counting what it draws.
struct Walker {
    draws: u64,
}

impl Walker {
    /// Children of `group` drawn one after the other onto `target`: work adds up, the peak is the
    /// largest any one of them needs on top of what is already held.
    fn nodes(&mut self, group: &Group, ts: Transform, target: Rect, limit: Rect) -> Cost {
        let mut total = Cost::default();
        for node in group.children() {
            self.draws += 1;
            if self.draws > MAX_DRAWS {
                break; // priced out: `of` refuses it, the rest need not be walked
            }
            let c = self.node_cost(node, ts, target, limit);
            total.work = total.work.saturating_add(c.work);
            total.peak_pixels = total.peak_pixels.max(c.peak_pixels);
        }
        total
    }

    fn node_cost(&mut self, node: &Node, ts: Transform, target: Rect, limit: Rect) -> Cost {
        match node {
            Node::Group(group) => self.group_cost(group, ts, target, limit),
            Node::Path(path) => self.path_cost(path, ts, target, limit),
            Node::Image(image) => self.image_cost(image, ts, target, limit),
            Node::Text(text) => self.nodes(text.flattened(), ts, target, limit),
        }
    }

    fn group_cost(&mut self, group: &Group, ts: Transform, target: Rect, limit: Rect) -> Cost {
        let ts = ts.pre_concat(group.transform());
        if !group.should_isolate() {
            return self.nodes(group, ts, target, limit);
        }
        // The layer: the group's layer bounding box, clipped to 5×5 canvases.
        let Some(layer) = group
            .layer_bounding_box()
            .to_rect()
            .transform(ts)
            .and_then(|r| r.intersect(&limit))
        else {
            return Cost::default();
        };
        let layer_pixels = area(Some(layer), Transform::identity(), layer);
        let children = self.nodes(group, ts, layer, limit);

        let mut after = Cost::default(); // filters, clip and mask run after the children, in turn
        for f in group.filters() {
            let c = self.filter_cost(f, ts, layer);
            after.work = after.work.saturating_add(c.work);
            after.peak_pixels = after.peak_pixels.max(c.peak_pixels);
        }
        if let Some(clip) = group.clip_path() {
            let c = self.clip_cost(clip, ts, layer, limit);
            after.work = after.work.saturating_add(c.work);
            after.peak_pixels = after.peak_pixels.max(c.peak_pixels);
        }
        if let Some(mask) = group.mask() {
            let c = self.mask_cost(mask, ts, layer, limit);
            after.work = after.work.saturating_add(c.work);
            after.peak_pixels = after.peak_pixels.max(c.peak_pixels);
        }
        Cost {
            peak_pixels: layer_pixels.saturating_add(children.peak_pixels.max(after.peak_pixels)),
            work: children
                .work
                .saturating_add(after.work)
                .saturating_add(LAYER_WORK * layer_pixels),
        }
    }

    /// A clip path renders into a layer-sized pixmap, turned into a mask; nested clips repeat it.
    fn clip_cost(
        &mut self,
        clip: &usvg::ClipPath,
        ts: Transform,
        layer: Rect,
        limit: Rect,
    ) -> Cost {
        let content = self.nodes(clip.root(), ts.pre_concat(clip.transform()), layer, limit);
        let nested = clip
            .clip_path()
            .map_or(Cost::default(), |c| self.clip_cost(c, ts, layer, limit));
        masked(layer, content, nested)
    }

    /// A mask renders into a layer-sized pixmap plus an alpha mask; nested masks repeat it.
    fn mask_cost(&mut self, mask: &usvg::Mask, ts: Transform, layer: Rect, limit: Rect) -> Cost {
        let content = self.nodes(mask.root(), ts, layer, limit);
        let nested = mask
            .mask()
            .map_or(Cost::default(), |m| self.mask_cost(m, ts, layer, limit));
        masked(layer, content, nested)
    }

    /// A filter crops its region from the layer and keeps one region-sized result per primitive
    /// until it ends, plus the working copies of the one running.
    fn filter_cost(&mut self, f: &filter::Filter, ts: Transform, layer: Rect) -> Cost {
        let region_rect = f
            .rect()
            .to_rect()
            .transform(ts)
            .and_then(|r| r.intersect(&layer));
        let Some(region_rect) = region_rect else {
            return Cost::default();
        };
        let region = area(Some(region_rect), Transform::identity(), region_rect);
        let (sx, sy) = ts.get_scale();
        let mut work: u64 = 0;
        let mut extra_peak: u64 = 0;
        for primitive in f.primitives() {
            let per_pixel = match primitive.kind() {
                filter::Kind::Turbulence(t) => TURBULENCE_OCTAVE_WORK
                    .saturating_mul(u64::from(t.num_octaves()).max(1))
                    .saturating_add(SIMPLE_PRIMITIVE_WORK),
                filter::Kind::Morphology(m) => {
                    // Every output pixel visits its whole (2rx+1)×(2ry+1) window.
                    let w = region_rect.width().ceil() as f64;
                    let h = region_rect.height().ceil() as f64;
                    let rx = (f64::from(m.radius_x().get() * sx)).round().clamp(0.0, w);
                    let ry = (f64::from(m.radius_y().get() * sy)).round().clamp(0.0, h);
                    let window = (2.0 * rx + 1.0) * (2.0 * ry + 1.0) * 2.0;
                    (window.min(u64::MAX as f64) as u64).saturating_add(SIMPLE_PRIMITIVE_WORK)
                }
                filter::Kind::ConvolveMatrix(c) => {
                    let cells = u64::from(c.matrix().columns()) * u64::from(c.matrix().rows());
                    cells
                        .saturating_mul(CONVOLVE_CELL_WORK)
                        .saturating_add(SIMPLE_PRIMITIVE_WORK)
                }
                filter::Kind::GaussianBlur(_) | filter::Kind::DropShadow(_) => BLUR_WORK,
                filter::Kind::DiffuseLighting(_) | filter::Kind::SpecularLighting(_) => {
                    LIGHTING_WORK
                }
                filter::Kind::Image(image) => {
                    let content = self.nodes(image.root(), ts, region_rect, region_rect);
                    work = work.saturating_add(content.work);
                    extra_peak = extra_peak.max(content.peak_pixels);
                    SIMPLE_PRIMITIVE_WORK
                }
                _ => SIMPLE_PRIMITIVE_WORK,
            };
            work = work.saturating_add(per_pixel.saturating_mul(region));
        }
        let primitives = f.primitives().len() as u64;
        Cost {
            // The cropped source, one result per primitive, and a working copy.
            peak_pixels: region
                .saturating_mul(primitives + 2)
                .saturating_add(extra_peak),
            work,
        }
    }

    fn path_cost(&mut self, path: &usvg::Path, ts: Transform, target: Rect, limit: Rect) -> Cost {
        if !path.is_visible() {
            return Cost::default();
        }
        let segments = path.data().len() as u64;
        let mut cost = Cost {
            peak_pixels: 0,
            work: segments.saturating_mul(SEGMENT_WORK),
        };
        if let Some(fill) = path.fill() {
            cost.work = cost
                .work
                .saturating_add(area(Some(path.bounding_box()), ts, target));
            self.add_paint(&mut cost, fill.paint(), ts, limit);
        }
        if let Some(stroke) = path.stroke() {
            cost.work =
                cost.work
                    .saturating_add(area(Some(path.stroke_bounding_box()), ts, target));
            if let Some(dashes) = stroke.dasharray() {
                let interval: f32 = dashes.iter().sum();
                if interval > 0.0 {
                    let count = f64::from(path_length(path.data()))
                        * (dashes.len() / 2).max(1) as f64
                        / f64::from(interval);
                    cost.work = cost
                        .work
                        .saturating_add((count.min(MAX_DASHES) as u64).saturating_mul(DASH_WORK));
                }
            }
            self.add_paint(&mut cost, stroke.paint(), ts, limit);
        }
        cost
    }

    /// A pattern renders its tile (at the drawing's scale) into a pixmap of the tile's own size,
    /// once for every path painted with it.
    fn add_paint(&mut self, cost: &mut Cost, paint: &Paint, ts: Transform, limit: Rect) {
        let Paint::Pattern(pattern) = paint else {
            return;
        };
        let (sx, sy) = ts.pre_concat(pattern.transform()).get_scale();
        let rect = pattern.rect();
        let (w, h) = (
            f64::from(rect.width() * sx).round(),
            f64::from(rect.height() * sy).round(),
        );
        let tile_pixels = (w.max(0.0) * h.max(0.0)).min(u64::MAX as f64) as u64;
        let content = match Rect::from_xywh(0.0, 0.0, w as f32, h as f32) {
            Some(tile) => self.nodes(pattern.root(), Transform::from_scale(sx, sy), tile, limit),
            None => Cost::default(),
        };
        cost.peak_pixels = cost
            .peak_pixels
            .max(tile_pixels.saturating_add(content.peak_pixels));
        cost.work = cost
            .work
            .saturating_add(tile_pixels)
            .saturating_add(content.work);
    }

    /// An embedded raster is decoded whole every time it is drawn (the sanitizer has already
    /// refused any above the pixel limit); a nested SVG renders into a canvas-sized pixmap.
    fn image_cost(
        &mut self,
        image: &usvg::Image,
        ts: Transform,
        target: Rect,
        limit: Rect,
    ) -> Cost {
        if !image.is_visible() {
            return Cost::default();
        }
        let drawn = area(Some(image.bounding_box()), ts, target);
        match image.kind() {
            usvg::ImageKind::SVG(tree) => {
                let pixels = area(Some(target), Transform::identity(), target);
                let inner = self.nodes(tree.root(), ts, target, limit);
                Cost {
                    peak_pixels: pixels.saturating_add(inner.peak_pixels),
                    work: inner.work.saturating_add(2 * pixels),
                }
            }
            usvg::ImageKind::JPEG(data)
            | usvg::ImageKind::PNG(data)
            | usvg::ImageKind::GIF(data)
            | usvg::ImageKind::WEBP(data) => {
                let decoded = super::embedded::decoded_pixels(data);
                Cost {
                    // The decoder's buffer and the premultiplied pixmap made from it.
                    peak_pixels: decoded.saturating_mul(2),
                    work: decoded.saturating_mul(4).saturating_add(drawn),
                }
            }
        }
    }
}

/// A clip or mask over `layer`: a layer-sized pixmap and the mask made from it, held while its
/// content renders and then while any nested clip or mask does.
fn masked(layer: Rect, content: Cost, nested: Cost) -> Cost {
    let pixels = area(Some(layer), Transform::identity(), layer);
    Cost {
        peak_pixels: 2 * pixels + content.peak_pixels.max(nested.peak_pixels),
        work: (LAYER_WORK * pixels).saturating_add(content.work.saturating_add(nested.work)),
    }
}

/// Length of the path's control polygon: at least the curve's length, cheap to compute.
fn path_length(path: &resvg::tiny_skia::Path) -> f32 {
    let mut length = 0.0;
    let mut last = None;
    for p in path.points() {
        if let Some(prev) = last {
            let prev: resvg::tiny_skia::Point = prev;
            length += prev.distance(*p);
        }
        last = Some(*p);
    }
    length
}
