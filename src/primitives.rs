//! Small value helpers several layers share: random identifiers, RFC 3339 timestamps, the
//! base name of a caller's file name, and which media types a staged upload may declare. One
//! definition each.

/// `bytes` random bytes from the OS generator, hex-encoded (request ids, staging tokens, the
/// embedded store's credentials).
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("the OS random number generator is available");
    hex::encode(buffer)
}

/// `2026-11-25T19:19:27Z`-style UTC time.
pub fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The current time, as [`rfc3339`].
pub fn now_rfc3339() -> String {
    rfc3339(time::OffsetDateTime::now_utc())
}

/// The last segment of a file name that may carry a Unix or Windows directory.
pub fn basename(filename: &str) -> &str {
    filename.rsplit(['/', '\\']).next().unwrap_or(filename)
}

/// The media type of bytes whose type the uploader did not state.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// `image/<subtype>` with a token-like subtype: no parameters, nothing that could end a header.
pub fn is_image_media_type(media_type: &str) -> bool {
    media_type.len() <= 100
        && media_type.split_once('/').is_some_and(|(kind, subtype)| {
            kind.eq_ignore_ascii_case("image")
                && !subtype.is_empty()
                && subtype
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
        })
}

/// What a staging PUT may declare: an image type, or [`OCTET_STREAM`]. Never `text/html` and
/// the like, whatever the ticket said: staged bytes are only ever read back by this server.
pub fn is_stageable_media_type(media_type: &str) -> bool {
    is_image_media_type(media_type) || media_type.eq_ignore_ascii_case(OCTET_STREAM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_image_types_and_octet_stream_may_be_staged() {
        assert!(is_image_media_type("image/png"));
        assert!(is_image_media_type("image/svg+xml"));
        assert!(!is_image_media_type("text/html"));
        assert!(!is_image_media_type("image/png\r\nx-evil: 1"));
        assert!(!is_image_media_type("image/png; charset=x"));
        assert!(!is_image_media_type("image/"));
        assert!(is_stageable_media_type("application/octet-stream"));
        assert!(is_stageable_media_type("IMAGE/JPEG"));
        assert!(!is_stageable_media_type("text/html"));
        assert!(!is_stageable_media_type("application/xhtml+xml"));
    }

    #[test]
    fn basename_drops_unix_and_windows_directories() {
        assert_eq!(basename("a/b/c.png"), "c.png");
        assert_eq!(basename("C:\\Users\\me\\c.png"), "c.png");
        assert_eq!(basename("c.png"), "c.png");
    }

    #[test]
    fn random_hex_has_two_digits_per_byte_and_differs_each_time() {
        let a = random_hex(8);
        assert_eq!(a.len(), 16);
        assert_ne!(a, random_hex(8));
    }

    #[test]
    fn rfc3339_is_utc_with_a_z() {
        assert_eq!(
            rfc3339(time::OffsetDateTime::UNIX_EPOCH),
            "1970-01-01T00:00:00Z"
        );
    }
}
