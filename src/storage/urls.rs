//! Public URLs of stored objects: CDN base when configured, else the bucket's own S3 URL.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters left as they are in a key's path segments (RFC 3986 unreserved).
const KEY_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How returned URLs are built.
#[derive(Clone, Debug)]
pub enum PublicUrls {
    /// `{base}/{key}`: CloudFront or a custom domain (`PUBLIC_BASE_URL`).
    Base(String),
    /// `{endpoint}/{bucket}/{key}`: an S3-compatible endpoint in path style.
    PathStyle { endpoint: String },
    /// `https://{bucket}.s3.{region}.amazonaws.com/{key}`: AWS virtual-hosted style.
    Aws { region: String },
}

impl PublicUrls {
    pub fn url(&self, bucket: &str, key: &str) -> String {
        let key = encode_key(key);
        match self {
            PublicUrls::Base(base) => format!("{base}/{key}"),
            PublicUrls::PathStyle { endpoint } => format!("{endpoint}/{bucket}/{key}"),
            // A dotted bucket name breaks the *.s3 wildcard certificate; AWS serves those in path style.
            PublicUrls::Aws { region } if bucket.contains('.') => {
                format!("https://s3.{region}.amazonaws.com/{bucket}/{key}")
            }
            PublicUrls::Aws { region } => {
                format!("https://{bucket}.s3.{region}.amazonaws.com/{key}")
            }
        }
    }
}

/// Percent-encodes each path segment of a key, keeping the `/` between them.
pub fn encode_key(key: &str) -> String {
    key.split('/')
        .map(|segment| utf8_percent_encode(segment, KEY_SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdn_base_url_wins() {
        let urls = PublicUrls::Base("https://cdn.example.com".into());
        assert_eq!(
            urls.url("b", "images/a b.webp"),
            "https://cdn.example.com/images/a%20b.webp"
        );
    }

    #[test]
    fn aws_urls_are_virtual_hosted_except_for_dotted_buckets() {
        let urls = PublicUrls::Aws {
            region: "eu-west-1".into(),
        };
        assert_eq!(
            urls.url("assets", "x/y.png"),
            "https://assets.s3.eu-west-1.amazonaws.com/x/y.png"
        );
        assert_eq!(
            urls.url("assets.example.com", "y.png"),
            "https://s3.eu-west-1.amazonaws.com/assets.example.com/y.png"
        );
    }

    #[test]
    fn custom_endpoints_are_path_style() {
        let urls = PublicUrls::PathStyle {
            endpoint: "http://127.0.0.1:9000".into(),
        };
        assert_eq!(
            urls.url("uploads", "k.webp"),
            "http://127.0.0.1:9000/uploads/k.webp"
        );
    }

    #[test]
    fn keys_are_percent_encoded_per_segment() {
        assert_eq!(
            encode_key("메인/a+b?.png"),
            "%EB%A9%94%EC%9D%B8/a%2Bb%3F.png"
        );
    }
}
