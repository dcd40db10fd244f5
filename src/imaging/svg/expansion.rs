//! How many elements an SVG becomes once its references are followed, bounded before usvg
//! follows them. usvg copies (or converts again) the target of every `<use>`, pattern, marker,
//! clip path, mask and filter reference for each use, so references to references multiply: a
//! 20 KB document of patterns painting with patterns held usvg for tens of seconds, one more
//! level for an hour. Counted on the parsed document with every target's size computed once.

use std::collections::{HashMap, HashSet};

use roxmltree::{Document, Node, NodeId};

use super::super::ImagingError;

/// Elements a document may expand to: usvg's own cap on its element tree, applied here to
/// what its converter also copies.
pub(super) const MAX_EXPANDED: u64 = 1_000_000;

/// Refuses `doc` when following its references would produce more than `MAX_EXPANDED` elements.
pub(super) fn check(doc: &Document) -> Result<(), ImagingError> {
    let mut ids = HashMap::new();
    for node in doc.descendants().filter(Node::is_element) {
        if let Some(id) = node.attribute("id") {
            ids.entry(id).or_insert(node); // usvg resolves an id to its first element
        }
    }
    let mut counter = Counter {
        ids,
        sizes: HashMap::new(),
        open: HashSet::new(),
    };
    let mut total = counter.size(doc.root_element());
    // A style sheet's url(#…) may apply to any element its selectors match: count it as if it
    // applied to every element.
    let elements = doc.descendants().filter(Node::is_element).count() as u64;
    let sheets: String = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "style")
        .flat_map(|n| n.descendants().filter_map(|t| t.text()))
        .collect();
    for id in fragment_urls(&sheets) {
        let per_use = counter.target(id);
        total = total.saturating_add(per_use.saturating_mul(elements));
    }
    if total > MAX_EXPANDED {
        return Err(ImagingError::Svg(format!(
            "the SVG expands to more than {MAX_EXPANDED} elements once its references are followed (<use>, patterns, markers, clip paths, masks and filters are copied for every use, and here they use each other); flatten or simplify them"
        )));
    }
    Ok(())
}

struct Counter<'a, 'input> {
    ids: HashMap<&'a str, Node<'a, 'input>>,
    /// Expanded size of each element already counted.
    sizes: HashMap<NodeId, u64>,
    /// Elements being counted: a reference back to one is a cycle, which usvg drops.
    open: HashSet<NodeId>,
}

impl<'a, 'input> Counter<'a, 'input> {
    fn target(&mut self, id: &str) -> u64 {
        match self.ids.get(id).copied() {
            Some(node) => self.size(node),
            None => 0,
        }
    }

    /// The element, its children, and a copy of every element it references.
    fn size(&mut self, node: Node<'a, 'input>) -> u64 {
        if let Some(size) = self.sizes.get(&node.id()) {
            return *size;
        }
        if !self.open.insert(node.id()) {
            return 0;
        }
        let mut size: u64 = 1;
        for child in node.children().filter(Node::is_element) {
            size = size.saturating_add(self.size(child));
        }
        for attr in node.attributes() {
            let value = attr.value();
            let targets: Vec<&str> = if attr.name() == "href" {
                value.trim().strip_prefix('#').into_iter().collect()
            } else {
                fragment_urls(value)
            };
            // A marker is drawn at a path's ends or at each of its vertices.
            let uses = if attr.name() == "style" && value.contains("marker")
                || attr.name() == "marker-mid"
                || attr.name() == "marker"
            {
                vertices(node)
            } else {
                1
            };
            for id in targets {
                let per_use = self.target(id);
                size = size.saturating_add(per_use.saturating_mul(uses));
            }
        }
        self.open.remove(&node.id());
        self.sizes.insert(node.id(), size);
        size
    }
}

/// The ids of every `url(#id)` in `value` (escapes are not resolved: the sanitizer keeps only
/// CSS without them in `url()`s pointing elsewhere, and an unresolved id references nothing).
fn fragment_urls(value: &str) -> Vec<&str> {
    value
        .match_indices("url(")
        .filter_map(|(i, _)| {
            let rest = value[i + 4..].trim_start().trim_start_matches(['"', '\'']);
            let id = rest.strip_prefix('#')?;
            let end = id.find(|c: char| matches!(c, ')' | '"' | '\'') || c.is_whitespace())?;
            Some(&id[..end])
        })
        .collect()
}

/// An upper bound on the vertices of a path or poly-shape: one per pair of numbers.
fn vertices(node: Node) -> u64 {
    let data = node
        .attribute("d")
        .or_else(|| node.attribute("points"))
        .unwrap_or("");
    let numbers = data
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|s| !s.is_empty())
        .count() as u64;
    numbers / 2 + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(svg: &str) -> Result<(), ImagingError> {
        check(&Document::parse(svg).unwrap())
    }

    #[test]
    fn references_to_references_are_refused_before_usvg_follows_them() {
        // Each level uses the one below ten times; usvg expands `<use>` even inside <defs>.
        let svg = |levels: u32| {
            let mut defs = r#"<g id="l0"><rect width="1" height="1"/></g>"#.to_string();
            for level in 1..=levels {
                let uses = format!(r##"<use href="#l{}"/>"##, level - 1).repeat(10);
                defs.push_str(&format!(r#"<g id="l{level}">{uses}</g>"#));
            }
            format!(r#"<svg xmlns="http://www.w3.org/2000/svg"><defs>{defs}</defs></svg>"#)
        };
        // 10^5 rects: fine; 10^7: refused.
        assert!(expanded(&svg(5)).is_ok());
        let err = expanded(&svg(7)).unwrap_err();
        assert!(err.to_string().contains("references"), "{err}");
    }

    #[test]
    fn patterns_markers_and_style_sheets_multiply_too() {
        let big = format!(
            r#"<pattern id="p">{}</pattern>"#,
            r#"<rect width="1" height="1"/>"#.repeat(2000)
        );
        let painted = r#"<rect width="4" height="4" fill="url(#p)"/>"#.repeat(600);
        let svg = format!(r#"<svg xmlns="http://www.w3.org/2000/svg">{big}{painted}</svg>"#);
        assert!(expanded(&svg).is_err());
        // A marker at each of 1000 vertices.
        let marker = format!(
            r#"<marker id="m">{}</marker>"#,
            r#"<circle r="1"/>"#.repeat(2000)
        );
        let path = format!(
            r#"<path marker-mid="url(#m)" d="M0 0{}"/>"#,
            " L1 1".repeat(1000)
        );
        let svg = format!(r#"<svg xmlns="http://www.w3.org/2000/svg">{marker}{path}</svg>"#);
        assert!(expanded(&svg).is_err());
        // A style sheet may paint any element with the pattern.
        let svg = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg"><style>rect {{ fill: url(#p) }}</style>{big}{}</svg>"#,
            r#"<circle r="1"/>"#.repeat(600)
        );
        assert!(expanded(&svg).is_err());
    }

    #[test]
    fn ordinary_reuse_and_cycles_are_fine() {
        let svg = r##"<svg xmlns="http://www.w3.org/2000/svg"><defs><g id="a"><use href="#b"/></g><g id="b"><use href="#a"/></g><linearGradient id="g"><stop/></linearGradient></defs><use href="#a"/><rect fill="url(#g)" stroke="url( '#g' )"/></svg>"##;
        assert!(expanded(svg).is_ok());
        assert_eq!(
            fragment_urls(r##"url(#a) url( "#b" ) url(c)"##),
            vec!["a", "b"]
        );
    }
}
