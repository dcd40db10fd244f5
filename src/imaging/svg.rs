//! SVG: parse with a real XML parser (roxmltree, entity-bomb protected), rebuild the document
//! from an allowlist (no scripts, handlers, foreignObject, external references, DOCTYPE), check it
//! renders with usvg, and optionally rasterize it with resvg.

use std::fmt::Write as _;
use std::time::Instant;

use resvg::{tiny_skia, usvg};
use roxmltree::{Document, Node, NodeType, ParsingOptions};

use super::encode::{self, Choice};
use super::{
    ImageKind, ImagingError, OutputFormat, ProcessOptions, Processed, Rendition, Timings, ms,
    resize,
};

const SVG_NS: &str = "http://www.w3.org/2000/svg";
const XLINK_NS: &str = "http://www.w3.org/1999/xlink";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// Element count bound: protects the sanitizer and renderer from pathological documents.
const MAX_NODES: u32 = 200_000;
/// Largest raster we render from an SVG (per side), independent of the document's claims.
const MAX_RASTER_SIDE: u32 = 8192;

/// Static SVG elements we keep. Everything else (script, foreignObject, handler, unknown or
/// foreign-namespace elements, metadata) is dropped with its subtree.
const ALLOWED_ELEMENTS: &[&str] = &[
    "svg",
    "g",
    "defs",
    "symbol",
    "use",
    "title",
    "desc",
    "switch",
    "a",
    "path",
    "rect",
    "circle",
    "ellipse",
    "line",
    "polyline",
    "polygon",
    "text",
    "tspan",
    "textPath",
    "image",
    "linearGradient",
    "radialGradient",
    "stop",
    "pattern",
    "clipPath",
    "mask",
    "marker",
    "filter",
    "feBlend",
    "feColorMatrix",
    "feComponentTransfer",
    "feComposite",
    "feConvolveMatrix",
    "feDiffuseLighting",
    "feDisplacementMap",
    "feDistantLight",
    "feDropShadow",
    "feFlood",
    "feFuncA",
    "feFuncB",
    "feFuncG",
    "feFuncR",
    "feGaussianBlur",
    "feImage",
    "feMerge",
    "feMergeNode",
    "feMorphology",
    "feOffset",
    "fePointLight",
    "feSpecularLighting",
    "feSpotLight",
    "feTile",
    "feTurbulence",
    "style",
    "animate",
    "animateMotion",
    "animateTransform",
    "set",
    "mpath",
];

/// Parses and sanitizes; returns the clean document text.
pub(crate) fn sanitize(input: &[u8]) -> Result<String, ImagingError> {
    let text = std::str::from_utf8(input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input))
        .map_err(|e| ImagingError::Svg(format!("the SVG is not valid UTF-8 text ({e})")))?;
    // DTDs are parsed (many real SVGs carry the SVG 1.1 DOCTYPE) but never written back;
    // roxmltree refuses recursive and exponentially expanding entities, and with no entity
    // resolver it never fetches external ones.
    let opts = ParsingOptions {
        allow_dtd: true,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, opts).map_err(|e| match e {
        roxmltree::Error::EntityReferenceLoop(_) | roxmltree::Error::NodesLimitReached => {
            ImagingError::Svg(format!(
                "entity expansion or element count exceeds safe limits ({e}); remove the DOCTYPE/ENTITY declarations"
            ))
        }
        other => ImagingError::Svg(format!("the SVG is not well-formed XML ({other})")),
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "svg" || root.tag_name().namespace() != Some(SVG_NS) {
        return Err(ImagingError::Svg(
            "the root element is not <svg xmlns=\"http://www.w3.org/2000/svg\">".into(),
        ));
    }
    let mut out = String::with_capacity(text.len());
    let mut uses_xlink = false;
    write_element(root, &mut out, &mut uses_xlink, true);
    if uses_xlink {
        // Declared on the root only when some xlink:href survived.
        out = out.replacen(
            "<svg xmlns=\"http://www.w3.org/2000/svg\"",
            "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\"",
            1,
        );
    }
    Ok(out)
}

fn write_element(node: Node, out: &mut String, uses_xlink: &mut bool, is_root: bool) {
    let name = node.tag_name().name();
    if node.tag_name().namespace() != Some(SVG_NS) || !ALLOWED_ELEMENTS.contains(&name) {
        return;
    }
    if is_animation(name) && animates_unsafe_attribute(node) {
        return;
    }
    if name == "style" && !css_is_safe(&node_text(node)) {
        return;
    }
    out.push('<');
    out.push_str(name);
    if is_root {
        out.push_str(" xmlns=\"http://www.w3.org/2000/svg\"");
    }
    for attr in node.attributes() {
        let local = attr.name();
        let qualified = match attr.namespace() {
            None => local.to_string(),
            Some(XLINK_NS) if local == "href" || local == "title" => {
                *uses_xlink = true;
                format!("xlink:{local}")
            }
            Some(XML_NS) if local == "space" || local == "lang" => format!("xml:{local}"),
            // sodipodi:, inkscape:, foreign namespaces: editor metadata, dropped.
            Some(_) => continue,
        };
        if !attribute_is_safe(local, attr.value()) {
            continue;
        }
        out.push(' ');
        out.push_str(&qualified);
        out.push_str("=\"");
        escape(attr.value(), true, out);
        out.push('"');
    }
    let mut children = node.children().peekable();
    if children.peek().is_none() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for child in children {
        match child.node_type() {
            NodeType::Element => write_element(child, out, uses_xlink, false),
            NodeType::Text => escape(child.text().unwrap_or(""), false, out),
            // Comments and processing instructions are metadata.
            _ => {}
        }
    }
    let _ = write!(out, "</{name}>");
}

fn is_animation(name: &str) -> bool {
    matches!(
        name,
        "animate" | "set" | "animateMotion" | "animateTransform"
    )
}

/// `<set attributeName="href" to="javascript:…">` re-introduces what we removed.
fn animates_unsafe_attribute(node: Node) -> bool {
    let target = node
        .attribute("attributeName")
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    target.ends_with("href") || target.starts_with("on") || target == "style"
}

fn attribute_is_safe(local: &str, value: &str) -> bool {
    let lname = local.to_ascii_lowercase();
    if lname.starts_with("on") {
        return false; // onload, onclick, onmouseover, …
    }
    if lname == "href" || lname == "src" {
        return href_is_safe(value);
    }
    if lname == "style" {
        return css_is_safe(value);
    }
    // Any attribute value: no script URLs, no url() pointing outside the document.
    let compact = compact_lower(value);
    !compact.contains("javascript:") && !compact.contains("vbscript:") && urls_are_local(&compact)
}

/// Only in-document fragments and embedded raster images survive as link targets.
fn href_is_safe(value: &str) -> bool {
    let v = compact_lower(value);
    v.starts_with('#')
        || [
            "data:image/png",
            "data:image/jpeg",
            "data:image/jpg",
            "data:image/gif",
            "data:image/webp",
        ]
        .iter()
        .any(|p| v.starts_with(p))
}

/// CSS may not import or reference anything outside the document.
fn css_is_safe(css: &str) -> bool {
    let c = compact_lower(css);
    !c.contains("@import")
        && !c.contains("javascript:")
        && !c.contains("expression(")
        && !c.contains("-moz-binding")
        && urls_are_local(&c)
}

fn urls_are_local(compact: &str) -> bool {
    compact.match_indices("url(").all(|(i, _)| {
        let rest = compact[i + 4..].trim_start_matches(['"', '\'']);
        rest.starts_with('#')
    })
}

/// Lower-case with whitespace and control characters removed (`java\tscript:` tricks).
fn compact_lower(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .flat_map(char::to_lowercase)
        .collect()
}

fn node_text(node: Node) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

fn escape(s: &str, attr: bool, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// usvg options that cannot reach outside the document even if something slipped through.
fn usvg_options() -> usvg::Options<'static> {
    usvg::Options {
        resources_dir: None,
        image_href_resolver: usvg::ImageHrefResolver {
            resolve_data: usvg::ImageHrefResolver::default_data_resolver(),
            resolve_string: Box::new(|_, _| None),
        },
        ..Default::default()
    }
}

pub(crate) fn process(input: &[u8], opts: &ProcessOptions) -> Result<Processed, ImagingError> {
    let mut timings = Timings::default();
    let t = Instant::now();
    let clean = sanitize(input)?;
    let tree = usvg::Tree::from_str(&clean, &usvg_options())
        .map_err(|e| ImagingError::Svg(format!("the SVG cannot be rendered ({e})")))?;
    timings.decode_ms = ms(t);
    let size = tree.size().to_int_size();
    let (iw, ih) = (size.width(), size.height());

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
        return Ok(Processed {
            bytes: clean.into_bytes(),
            kind: ImageKind::Svg,
            width: iw,
            height: ih,
            input_kind: ImageKind::Svg,
            original_bytes: input.len(),
            resized: false,
            orientation_applied: false,
            encoder: "svg-sanitized".into(),
            variants: Vec::new(),
            frames: 1,
            timings,
        });
    }

    // Rasterize at the intrinsic size, fitted into the box; vectors may be scaled up for
    // explicit variant widths.
    let (w, h) = resize::fit(iw, ih, opts.max_width, opts.max_height);
    let (w, h) = (w.min(MAX_RASTER_SIDE), h.min(MAX_RASTER_SIDE));
    let choice = match opts.format {
        OutputFormat::Auto => Choice::WebpSmart,
        OutputFormat::Webp => Choice::WebpLossy,
        OutputFormat::Png | OutputFormat::Original => Choice::Png,
        OutputFormat::Jpeg => Choice::Jpeg,
    };
    let t = Instant::now();
    let main = render(&tree, w, h)?;
    timings.resize_ms = ms(t);
    let t = Instant::now();
    let (bytes, enc) = encode::encode_still(&main, choice, opts.quality, true)?;
    let variant_choice = enc.as_choice(ImageKind::Png, true);
    let mut variants = Vec::new();
    let mut widths = opts.widths.clone();
    widths.sort_unstable();
    widths.dedup();
    for vw in widths {
        let vw = vw.min(MAX_RASTER_SIDE);
        let vh = ((f64::from(ih) * f64::from(vw) / f64::from(iw.max(1))).round() as u32)
            .clamp(1, MAX_RASTER_SIDE);
        let img = render(&tree, vw, vh)?;
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
        original_bytes: input.len(),
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

    fn clean(s: &str) -> String {
        sanitize(s.as_bytes()).unwrap()
    }

    #[test]
    fn scripts_handlers_and_foreign_objects_are_removed() {
        let out = clean(
            r#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script>
            <rect width="5" height="5" onclick="alert(3)" OnMouseOver="x()"/>
            <foreignObject><body xmlns="http://www.w3.org/1999/xhtml">hi</body></foreignObject></svg>"#,
        );
        let lower = out.to_ascii_lowercase();
        for bad in [
            "script",
            "alert",
            "onload",
            "onclick",
            "onmouseover",
            "foreignobject",
            "body",
        ] {
            assert!(!lower.contains(bad), "{bad} survived in {out}");
        }
        assert!(out.contains("<rect width=\"5\" height=\"5\"/>"), "{out}");
    }

    #[test]
    fn external_and_script_links_are_removed_but_fragments_stay() {
        let out = clean(
            r##"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">
            <a href="javascript:alert(1)"><circle r="1"/></a>
            <a xlink:href=" java&#9;script:alert(1)"><circle r="2"/></a>
            <image href="https://evil.example/x.png"/><image xlink:href="file:///etc/passwd"/>
            <use href="#c"/><rect fill="url(http://evil.example/p.svg#g)" style="fill:url('https://x')"/>
            <style>@import url(https://evil.example/a.css);</style>
            <set attributeName="href" to="javascript:alert(1)"/></svg>"##,
        );
        for bad in ["javascript", "evil", "file:", "@import", "<set"] {
            assert!(!out.contains(bad), "{bad} survived in {out}");
        }
        assert!(out.contains("<use href=\"#c\"/>"), "{out}");
        assert!(out.contains("<circle r=\"1\"/>"), "{out}");
    }

    #[test]
    fn billion_laughs_is_refused_and_doctype_is_dropped() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">]><svg xmlns="http://www.w3.org/2000/svg"><text>&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;</text></svg>"#;
        let err = sanitize(bomb.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), "svg_refused");
        let ok = clean(
            r#"<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"><svg xmlns="http://www.w3.org/2000/svg"/>"#,
        );
        assert!(!ok.contains("DOCTYPE"), "{ok}");
    }

    #[test]
    fn non_svg_xml_is_refused() {
        assert!(sanitize(b"<html xmlns=\"http://www.w3.org/1999/xhtml\"><svg/></html>").is_err());
        assert!(sanitize(b"<svg><unclosed></svg>").is_err());
    }
}
