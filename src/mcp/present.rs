//! How pipeline results look to an agent: the result types' fields, and the ready-to-paste
//! extras built from them (`srcset`, an `<img>` tag, a `curl` command).

use std::collections::BTreeMap;

use super::schema::{UploadOutcome, UploadUrl, VariantOutcome};
use crate::primitives::{basename, rfc3339};
use crate::upload::{StagingTicket, StoredImage};

/// The tool result for a stored image.
pub fn upload_outcome(stored: StoredImage) -> UploadOutcome {
    let variants: Vec<VariantOutcome> = stored
        .variants
        .into_iter()
        .map(|v| VariantOutcome {
            url: v.url,
            key: v.key,
            width: v.width,
            height: v.height,
            bytes: v.bytes,
        })
        .collect();
    let srcset = srcset(&variants, &stored.url, stored.width);
    let html = img_tag(
        &stored.url,
        srcset.as_deref(),
        stored.width,
        stored.height,
        &stored.filename,
    );
    UploadOutcome {
        url: stored.url,
        bucket: stored.bucket,
        key: stored.key,
        etag: stored.etag,
        content_type: stored.content_type,
        bytes: stored.bytes,
        original_bytes: stored.original_bytes,
        width: stored.width,
        height: stored.height,
        format: stored.kind,
        sha256: stored.sha256,
        deduplicated: stored.deduplicated,
        resized: stored.resized,
        orientation_applied: stored.orientation_applied,
        encoder: stored.encoder,
        variants,
        srcset,
        html,
        warnings: stored.warnings,
    }
}

/// The tool result for a staging ticket, with a `curl` command that uses it.
pub fn upload_url(ticket: StagingTicket, filename: &str) -> UploadUrl {
    let curl = curl_command(&ticket.upload_url, &ticket.headers, filename);
    UploadUrl {
        upload_url: ticket.upload_url,
        method: "PUT".into(),
        headers: ticket.headers,
        staging_key: ticket.staging_key.key(),
        expires_at: rfc3339(ticket.expires_at),
        bytes: ticket.bytes,
        max_bytes: ticket.max_bytes,
        curl,
    }
}

/// `url 640w, url 1280w, …` over the variants and the main image, or `None` without variants.
fn srcset(variants: &[VariantOutcome], main_url: &str, main_width: u32) -> Option<String> {
    if variants.is_empty() {
        return None;
    }
    let mut entries: Vec<(u32, &str)> =
        variants.iter().map(|v| (v.width, v.url.as_str())).collect();
    if !entries.iter().any(|(w, _)| *w == main_width) {
        entries.push((main_width, main_url));
    }
    entries.sort_by_key(|(w, _)| *w);
    Some(
        entries
            .iter()
            .map(|(w, url)| format!("{url} {w}w"))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// An `<img>` tag for the page the agent is writing; alt text comes from the filename.
fn img_tag(src: &str, srcset: Option<&str>, width: u32, height: u32, filename: &str) -> String {
    let alt = alt_text(filename);
    let responsive = srcset.map_or(String::new(), |set| {
        format!(
            r#" srcset="{}" sizes="(max-width: {width}px) 100vw, {width}px""#,
            escape_attribute(set)
        )
    });
    format!(
        r#"<img src="{}"{responsive} width="{width}" height="{height}" alt="{}" loading="lazy" decoding="async">"#,
        escape_attribute(src),
        escape_attribute(&alt)
    )
}

/// "hero_banner-final.png" → "hero banner final".
fn alt_text(filename: &str) -> String {
    let base = basename(filename);
    let stem = base.rsplit_once('.').map_or(base, |(stem, _)| stem);
    stem.split(|c: char| c == '_' || c == '-' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn escape_attribute(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `curl -sS -X PUT -H 'Name: value' --upload-file './file.png' 'url'`, quoted for POSIX shells.
fn curl_command(url: &str, headers: &BTreeMap<String, String>, filename: &str) -> String {
    let mut command = String::from("curl -sS --fail-with-body -X PUT");
    for (name, value) in headers {
        command.push_str(" -H ");
        command.push_str(&shell_quote(&format!("{name}: {value}")));
    }
    command.push_str(" --upload-file ");
    command.push_str(&shell_quote(&format!("./{}", basename(filename))));
    command.push(' ');
    command.push_str(&shell_quote(url));
    command
}

fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srcset_lists_variants_and_the_main_image_by_width() {
        let variant = |w: u32| VariantOutcome {
            url: format!("https://cdn/x-{w}w.webp"),
            key: String::new(),
            width: w,
            height: w / 2,
            bytes: 1,
        };
        assert_eq!(srcset(&[], "https://cdn/x.webp", 1920), None);
        assert_eq!(
            srcset(&[variant(1280), variant(640)], "https://cdn/x.webp", 1920).unwrap(),
            "https://cdn/x-640w.webp 640w, https://cdn/x-1280w.webp 1280w, https://cdn/x.webp 1920w"
        );
    }

    #[test]
    fn img_tag_is_escaped_and_lazy() {
        let tag = img_tag(
            "https://cdn/a.webp",
            Some("https://cdn/a-640w.webp 640w"),
            1280,
            720,
            "Hero \"banner\"_v2.png",
        );
        assert_eq!(
            tag,
            r#"<img src="https://cdn/a.webp" srcset="https://cdn/a-640w.webp 640w" sizes="(max-width: 1280px) 100vw, 1280px" width="1280" height="720" alt="Hero &quot;banner&quot; v2" loading="lazy" decoding="async">"#
        );
        assert!(
            img_tag("u", None, 1, 1, "a.png")
                .starts_with(r#"<img src="u" width="1" height="1" alt="a""#)
        );
    }

    #[test]
    fn curl_command_is_quoted_for_the_shell() {
        let mut headers = BTreeMap::new();
        headers.insert("content-type".to_owned(), "image/png".to_owned());
        let command = curl_command(
            "http://h/b/k?X-Amz-Signature=abc&x=1",
            &headers,
            "it's mine.png",
        );
        assert_eq!(
            command,
            "curl -sS --fail-with-body -X PUT -H 'content-type: image/png' --upload-file './it'\\''s mine.png' 'http://h/b/k?X-Amz-Signature=abc&x=1'"
        );
    }
}
