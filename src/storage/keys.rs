//! Object keys: content-addressed names from filenames, and validation of caller-chosen keys.

/// Longest slug kept from a filename; keys stay readable and well under S3's 1024-byte limit.
const MAX_SLUG_CHARS: usize = 60;
/// S3's limit on a key's length in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// `{prefix}/{slug}-{first 12 hex of sha256}.{ext}`: identical outputs land on identical keys.
pub fn content_key(prefix: &str, filename: &str, sha256_hex: &str, extension: &str) -> String {
    let name = format!("{}-{}.{extension}", slug(filename), &sha256_hex[..12]);
    join(prefix, &name)
}

/// Joins a prefix (slashes at either end ignored) and a name.
pub fn join(prefix: &str, name: &str) -> String {
    match prefix.trim_matches('/') {
        "" => name.to_owned(),
        prefix => format!("{prefix}/{name}"),
    }
}

/// The filename without its extension, transliterated to ASCII, lowercased, with every run of
/// other characters turned into one `-`: "메인 배너.png" → "mein-baeneo".
pub fn slug(filename: &str) -> String {
    let base = crate::primitives::basename(filename);
    let stem = match base.rsplit_once('.') {
        Some((stem, _ext)) if !stem.is_empty() => stem,
        _ => base,
    };
    let mut slug = String::with_capacity(stem.len());
    for c in any_ascii::any_ascii(stem).chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.truncate(MAX_SLUG_CHARS);
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "image".to_owned()
    } else {
        slug.to_owned()
    }
}

/// Why a caller-chosen key or prefix was refused; the message says what is allowed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("{what} is empty; leave it out to get a generated key")]
    Empty { what: &'static str },
    #[error("{what} is {bytes} bytes; S3 allows at most {MAX_KEY_BYTES}")]
    TooLong { what: &'static str, bytes: usize },
    #[error("{what} contains control characters (NUL, newline, …); use printable characters")]
    ControlCharacters { what: &'static str },
    #[error("{what} {key:?} starts with '/'; write it relative, e.g. \"images/hero.webp\"")]
    Absolute { what: &'static str, key: String },
    #[error("{what} {key:?} contains a '.' or '..' segment; use a plain path")]
    DotSegment { what: &'static str, key: String },
    #[error("{what} {key:?} contains an empty segment ('//')")]
    EmptySegment { what: &'static str, key: String },
}

/// Checks a caller-chosen key or prefix (`what` names the argument in the message).
pub fn validate_key(what: &'static str, key: &str) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty { what });
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(KeyError::TooLong {
            what,
            bytes: key.len(),
        });
    }
    if key.chars().any(char::is_control) {
        return Err(KeyError::ControlCharacters { what });
    }
    let key_owned = || key.to_owned();
    if key.starts_with('/') {
        return Err(KeyError::Absolute {
            what,
            key: key_owned(),
        });
    }
    if key
        .split(['/', '\\'])
        .any(|segment| segment == ".." || segment == ".")
    {
        return Err(KeyError::DotSegment {
            what,
            key: key_owned(),
        });
    }
    if key.contains("//") {
        return Err(KeyError::EmptySegment {
            what,
            key: key_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_filename_becomes_an_ascii_slug() {
        assert_eq!(slug("메인 배너.png"), "mein-baeneo");
    }

    #[test]
    fn slug_lowercases_and_collapses_punctuation() {
        assert_eq!(slug("Hero Image (Final) v2!!.PNG"), "hero-image-final-v2");
        assert_eq!(slug("café-crème.jpg"), "cafe-creme");
        assert_eq!(slug("../../etc/passwd"), "passwd");
        assert_eq!(slug(".png"), "png");
        assert_eq!(slug("🙂.png"), "slight-smile");
    }

    #[test]
    fn slug_of_nothing_usable_is_image() {
        assert_eq!(slug(""), "image");
        assert_eq!(slug("---.png"), "image");
    }

    #[test]
    fn slug_is_bounded() {
        assert!(slug(&"a".repeat(500)).len() <= MAX_SLUG_CHARS);
    }

    #[test]
    fn content_key_has_prefix_slug_hash_and_extension() {
        let sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            content_key("images/", "Hero.png", sha, "webp"),
            "images/hero-0123456789ab.webp"
        );
        assert_eq!(
            content_key("", "Hero.png", sha, "webp"),
            "hero-0123456789ab.webp"
        );
    }

    #[test]
    fn unsafe_keys_are_refused_with_a_reason() {
        for bad in [
            "",
            "/abs",
            "a/../b",
            "a/./b",
            "a//b",
            "nul\0byte",
            "line\nbreak",
            &"k".repeat(1025),
        ] {
            assert!(
                validate_key("key", bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(validate_key("key", "images/2026/hero.webp").is_ok());
        assert!(validate_key("key", "메인/배너.webp").is_ok());
    }
}
