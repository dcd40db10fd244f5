//! SVG sanitizing: parse with a real XML parser (roxmltree) and rebuild the document from an
//! allowlist — no scripts, handlers, foreignObject, external references, DTD — with every
//! embedded image and every piece of CSS checked, and the output bounded like the input.

use roxmltree::{Document, Node, NodeType, ParsingOptions};

use super::super::{ImagingError, Limits};
use super::{css, embedded, expansion};

const SVG_NS: &str = "http://www.w3.org/2000/svg";
const XLINK_NS: &str = "http://www.w3.org/1999/xlink";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// Element count bound: protects the sanitizer and renderer from pathological documents.
const MAX_NODES: u32 = 200_000;

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

/// Parses and sanitizes; returns the clean document text, at most `limits.max_input_bytes`.
pub(crate) fn sanitize(input: &[u8], limits: &Limits) -> Result<String, ImagingError> {
    let text = std::str::from_utf8(input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input))
        .map_err(|e| ImagingError::Svg(format!("the SVG is not valid UTF-8 text ({e})")))?;
    refuse_internal_subset(text)?;
    // The stock DOCTYPE (an external identifier, no subset) is parsed but never written back;
    // with no entity resolver roxmltree never fetches external entities.
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
    expansion::check(&doc)?;
    let mut writer = Writer {
        out: String::with_capacity(text.len().min(limits.max_input_bytes)),
        uses_xlink: false,
        limits,
    };
    writer.element(root, true)?;
    let mut out = writer.out;
    if writer.uses_xlink {
        // Declared on the root only when some xlink:href survived.
        out = out.replacen(
            "<svg xmlns=\"http://www.w3.org/2000/svg\"",
            "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\"",
            1,
        );
    }
    Ok(out)
}

/// Refuses `<!DOCTYPE svg [ … ]>`: an internal subset can declare entities that expand far past
/// the input (a 1 MB entity used 1000 times is a 1 GB document). Looked for where XML allows a
/// DOCTYPE, in the prolog, before roxmltree expands anything; quoted identifiers may hold `[`.
fn refuse_internal_subset(text: &str) -> Result<(), ImagingError> {
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        let skip_past = |rest: &str, end: &str| rest.find(end).map(|i| i + end.len());
        let next = if rest.starts_with("<?") {
            skip_past(rest, "?>")
        } else if rest.starts_with("<!--") {
            skip_past(rest, "-->")
        } else if let Some(decl) = rest.strip_prefix("<!DOCTYPE") {
            if doctype_has_subset(decl) {
                return Err(ImagingError::Svg(
                    "the SVG declares an internal DTD subset (<!DOCTYPE svg [ … ]>), whose entities can expand without bound; remove the [ … ] part or the whole DOCTYPE".into(),
                ));
            }
            return Ok(());
        } else {
            return Ok(()); // the root element: there is no DOCTYPE
        };
        match next {
            Some(i) => rest = &rest[i..],
            None => return Ok(()), // unterminated: roxmltree reports it
        }
    }
}

/// Whether the declaration after `<!DOCTYPE` opens a `[` subset before its closing `>`.
fn doctype_has_subset(decl: &str) -> bool {
    let mut quote = None;
    for c in decl.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[') => return true,
            (None, '>') => return false,
            _ => {}
        }
    }
    false
}

/// Writes the allowed part of the document, refusing to grow past the input limit.
struct Writer<'a> {
    out: String,
    uses_xlink: bool,
    limits: &'a Limits,
}

impl Writer<'_> {
    fn check_size(&self) -> Result<(), ImagingError> {
        if self.out.len() > self.limits.max_input_bytes {
            return Err(ImagingError::Svg(format!(
                "the sanitized SVG would exceed {} bytes (MAX_INPUT_BYTES); simplify the document",
                self.limits.max_input_bytes
            )));
        }
        Ok(())
    }

    fn element(&mut self, node: Node, is_root: bool) -> Result<(), ImagingError> {
        let name = node.tag_name().name();
        if node.tag_name().namespace() != Some(SVG_NS) || !ALLOWED_ELEMENTS.contains(&name) {
            return Ok(());
        }
        if is_animation(name) && animates_unsafe_attribute(node) {
            return Ok(());
        }
        if name == "style" && !css::is_safe(&node_text(node)) {
            return Ok(());
        }
        self.check_size()?;
        let out = &mut self.out;
        out.push('<');
        out.push_str(name);
        if is_root {
            out.push_str(" xmlns=\"http://www.w3.org/2000/svg\"");
        }
        for attr in node.attributes() {
            let local = attr.name();
            let qualified = match attr.namespace() {
                None => local.to_string(),
                Some(XLINK_NS) if local == "href" || local == "title" => format!("xlink:{local}"),
                Some(XML_NS) if local == "space" || local == "lang" => format!("xml:{local}"),
                // sodipodi:, inkscape:, foreign namespaces: editor metadata, dropped.
                Some(_) => continue,
            };
            if !attribute_is_safe(local, attr.value()) {
                continue;
            }
            let link = local.eq_ignore_ascii_case("href") || local.eq_ignore_ascii_case("src");
            if link && is_data_uri(attr.value()) {
                // An embedded image too large to decode refuses the document: dropping it
                // would store something other than what was sent.
                embedded::check_href(attr.value(), self.limits)?;
            }
            if attr.namespace() == Some(XLINK_NS) {
                self.uses_xlink = true;
            }
            let out = &mut self.out;
            out.push(' ');
            out.push_str(&qualified);
            out.push_str("=\"");
            escape(attr.value(), true, out);
            out.push('"');
        }
        let mut children = node.children().peekable();
        if children.peek().is_none() {
            self.out.push_str("/>");
            return Ok(());
        }
        self.out.push('>');
        for child in children {
            match child.node_type() {
                NodeType::Element => self.element(child, false)?,
                NodeType::Text => {
                    escape(child.text().unwrap_or(""), false, &mut self.out);
                    self.check_size()?;
                }
                // Comments and processing instructions are metadata.
                _ => {}
            }
        }
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        Ok(())
    }
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
    // Any other value may be read as CSS (style, and presentation attributes like fill, whose
    // values browsers parse with their CSS parser): nothing that loads or runs.
    let compact = compact_lower(value);
    !compact.contains("javascript:") && !compact.contains("vbscript:") && css::is_safe(value)
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

fn is_data_uri(value: &str) -> bool {
    compact_lower(value).starts_with("data:")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(s: &str) -> String {
        sanitize(s.as_bytes(), &Limits::default()).unwrap()
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
        let err = sanitize(bomb.as_bytes(), &Limits::default()).unwrap_err();
        assert_eq!(err.kind(), "svg_refused");
        let ok = clean(
            r#"<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"><svg xmlns="http://www.w3.org/2000/svg"/>"#,
        );
        assert!(!ok.contains("DOCTYPE"), "{ok}");
    }

    #[test]
    fn non_svg_xml_is_refused() {
        assert!(
            sanitize(
                b"<html xmlns=\"http://www.w3.org/1999/xhtml\"><svg/></html>",
                &Limits::default()
            )
            .is_err()
        );
        assert!(sanitize(b"<svg><unclosed></svg>", &Limits::default()).is_err());
    }

    #[test]
    fn an_internal_dtd_subset_is_refused_wherever_the_prolog_hides_it() {
        let entity = r#"<?xml version="1.0"?><!-- a comment --><?pi x?>
            <!DOCTYPE svg [<!ENTITY a "x">]><svg xmlns="http://www.w3.org/2000/svg"><text>&a;</text></svg>"#;
        let err = sanitize(entity.as_bytes(), &Limits::default()).unwrap_err();
        assert!(err.to_string().contains("internal DTD subset"), "{err}");
        // No entities, still a subset.
        let empty = r#"<!DOCTYPE svg []><svg xmlns="http://www.w3.org/2000/svg"/>"#;
        assert!(sanitize(empty.as_bytes(), &Limits::default()).is_err());
        // A '[' inside the quoted system identifier is not a subset.
        let quoted = r#"<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://example.com/[svg].dtd"><svg xmlns="http://www.w3.org/2000/svg"/>"#;
        assert!(sanitize(quoted.as_bytes(), &Limits::default()).is_ok());
    }

    #[test]
    fn the_sanitized_output_never_exceeds_the_input_limit() {
        // Each '>' in text is written back as "&gt;": four times the bytes.
        let doc = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg"><text>{}</text></svg>"#,
            ">".repeat(1000)
        );
        let limits = Limits {
            max_input_bytes: 2000,
            ..Limits::default()
        };
        assert!(doc.len() < limits.max_input_bytes);
        let err = sanitize(doc.as_bytes(), &limits).unwrap_err();
        assert!(err.to_string().contains("MAX_INPUT_BYTES"), "{err}");
    }

    #[test]
    fn css_escapes_and_fetching_functions_do_not_survive_in_style_or_attributes() {
        let out = clean(
            r#"<svg xmlns="http://www.w3.org/2000/svg">
            <style>@\69mport "https://evil.example/a.css";</style>
            <style>rect { fill: u\72l(https://evil.example/u) }</style>
            <style>rect { background: image-set("https://evil.example/i.png" 1x) }</style>
            <style>circle { fill: url(#g) }</style>
            <rect width="5" height="5" style="fill: u\72l(https://evil.example/s)" fill="u\72l(https://evil.example/f)"/>
            <circle r="2" style="fill: url(#g); opacity: .5"/></svg>"#,
        );
        assert!(!out.contains("evil"), "{out}");
        assert!(out.contains("circle { fill: url(#g) }"), "{out}");
        assert!(
            out.contains(r#"style="fill: url(#g); opacity: .5""#),
            "{out}"
        );
        assert!(out.contains(r#"<rect width="5" height="5"/>"#), "{out}");
    }
}
