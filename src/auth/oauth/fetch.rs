//! The one HTTP client of the OAuth module: issuer metadata and signing keys, from
//! operator-configured issuers only, with time, size and redirect bounds.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::Url;
use serde::de::DeserializeOwned;

use super::IssuerUrl;
use super::url::is_loopback;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A whole fetch, connect to last byte: a slow issuer delays the first token, not the server.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Discovery documents and key sets are a few KiB; real ones stay far below this.
pub(super) const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
const MAX_REDIRECTS: usize = 3;

/// Fetches issuer documents as JSON. The client is built on first use: loading the system's root
/// certificates costs tens of milliseconds, which a cold start serving API keys need not pay.
#[derive(Clone, Default)]
pub struct Fetcher {
    client: Arc<OnceLock<Result<reqwest::Client, String>>>,
}

/// Why a document could not be had; names the URL (issuer URLs carry no secrets), never a token.
#[derive(Debug, thiserror::Error)]
#[error("{url}: {reason}")]
pub struct FetchError {
    pub url: String,
    pub reason: String,
}

impl Fetcher {
    fn client(&self) -> Result<&reqwest::Client, String> {
        self.client
            .get_or_init(|| build().map_err(|e| format!("cannot build the HTTP client: {e}")))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// GETs `url` on behalf of `issuer` and parses at most [`MAX_DOCUMENT_BYTES`] of JSON.
    pub async fn json<T: DeserializeOwned>(
        &self,
        issuer: &IssuerUrl,
        url: &str,
    ) -> Result<T, FetchError> {
        let failed = |reason: String| FetchError {
            url: url.to_owned(),
            reason,
        };
        let parsed = Url::parse(url).map_err(|e| failed(format!("not a URL ({e})")))?;
        if !issuer.permits(&parsed) {
            return Err(failed(
                "must use https (http only when the issuer itself is on loopback)".into(),
            ));
        }
        let mut response = self
            .client()
            .map_err(failed)?
            .get(parsed)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| failed(e.without_url().to_string()))?;
        if response
            .content_length()
            .is_some_and(|len| len > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(failed(format!("larger than {MAX_DOCUMENT_BYTES} bytes")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| failed(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(failed(format!("larger than {MAX_DOCUMENT_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| failed(format!("not the expected JSON ({e})")))
    }
}

/// The client: bounded in time, at most a few redirects, each to `https` (or loopback `http`).
fn build() -> Result<reqwest::Client, reqwest::Error> {
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        // Loopback http only continues a fetch that started there (a test issuer): a
        // remote issuer cannot bounce us onto this machine's own services.
        let secure = attempt.url().scheme() == "https"
            || (loopback_http(attempt.url())
                && attempt.previous().first().is_some_and(loopback_http));
        if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if !secure {
            attempt.error("redirected away from https")
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TOTAL_TIMEOUT)
        .redirect(redirects)
        .user_agent(concat!(
            env!("CARGO_PKG_NAME"),
            "/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
}

fn loopback_http(url: &Url) -> bool {
    url.scheme() == "http" && is_loopback(url)
}
