//! Where objects go: the bucket a caller may use, the key under KEY_PREFIX (exact or
//! content-addressed) and its variants' keys, the write mode and cache policy that come with
//! each, and the check every written key passes.

use super::{InputReason, Plan, UploadError, UploadRequest, Uploader};
use crate::auth::Principal;
use crate::imaging::{self, Overrides, Processed};
use crate::storage::{WriteMode, keys};

/// Content-addressed keys never change content, so caches may keep them forever.
const IMMUTABLE_CACHE: &str = "public, max-age=31536000, immutable";
/// A caller-chosen key may be overwritten later; caches must revalidate.
const MUTABLE_CACHE: &str = "public, max-age=60, must-revalidate";

/// Where an object will be written, relative to KEY_PREFIX.
pub(super) enum Placement {
    /// The caller named the key.
    Exact {
        relative_key: String,
        overwrite: bool,
    },
    /// `{prefix}/{slug}-{sha12}.{ext}`, known once the output bytes are.
    ContentAddressed { relative_prefix: String },
}

/// Where and how one object is written. Built only here, from a key relative to KEY_PREFIX, and
/// checked by [`Uploader::authorize_write`] right before every write.
pub(super) struct Target {
    pub bucket: String,
    /// The full object key: KEY_PREFIX joined with `relative_key`.
    pub key: String,
    /// The key below KEY_PREFIX: what the principal's policy speaks of.
    relative_key: String,
    pub content_type: &'static str,
    pub cache_control: &'static str,
    pub mode: WriteMode,
}

impl Target {
    /// The rendition `width` pixels wide, next to this object and written the same way.
    pub fn variant(&self, width: u32, extension: &str) -> Target {
        Target {
            bucket: self.bucket.clone(),
            key: variant_key(&self.key, width, extension),
            relative_key: variant_key(&self.relative_key, width, extension),
            content_type: self.content_type,
            cache_control: self.cache_control,
            mode: self.mode,
        }
    }
}

/// `a.example.com/hero.png` → `a.example.com/hero-64w.webp`: only the last path segment is
/// renamed, so a dot in a folder name never moves the variant to another folder.
fn variant_key(key: &str, width: u32, extension: &str) -> String {
    let (folder, name) = match key.rsplit_once('/') {
        Some((folder, name)) => (Some(folder), name),
        None => (None, key),
    };
    let stem = match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => name,
    };
    let name = format!("{stem}-{width}w.{extension}");
    match folder {
        Some(folder) => format!("{folder}/{name}"),
        None => name,
    }
}

impl Uploader {
    /// The main object's target, once its bytes (and so its hash) are known.
    pub(super) fn main_target(
        &self,
        plan: &Plan,
        processed: &Processed,
        filename: &str,
        sha256_hex: &str,
    ) -> Target {
        let (relative_key, cache_control, mode) = match &plan.placement {
            Placement::Exact {
                relative_key,
                overwrite,
            } => (
                relative_key.clone(),
                MUTABLE_CACHE,
                if *overwrite {
                    WriteMode::Overwrite
                } else {
                    WriteMode::CreateOnly
                },
            ),
            Placement::ContentAddressed { relative_prefix } => (
                keys::content_key(
                    relative_prefix,
                    filename,
                    sha256_hex,
                    processed.kind.extension(),
                ),
                IMMUTABLE_CACHE,
                WriteMode::CreateOnly,
            ),
        };
        Target {
            bucket: plan.bucket.clone(),
            key: keys::join(&self.settings.key_prefix, &relative_key),
            relative_key,
            content_type: processed.kind.content_type(),
            cache_control,
            mode,
        }
    }

    /// The one check every write passes, made right before it (`Uploader::store`) so that no
    /// path to the store can skip it: the key is a safe S3 key, outside the staging area, and
    /// inside the principal's prefixes. Earlier checks on the caller's arguments only fail
    /// fast; this one decides.
    pub(super) fn authorize_write(
        &self,
        principal: &Principal,
        target: &Target,
    ) -> Result<(), UploadError> {
        keys::validate_key("key", &target.key)?;
        self.refuse_staging_area("key", &target.key)?;
        check_key_permitted(principal, &target.relative_key)
    }

    /// Where the object goes, relative to KEY_PREFIX (the public root of the bucket). Caller keys
    /// and prefixes never reach the staging area; without a prefix, the principal's own is used.
    pub(super) fn placement(
        &self,
        principal: &Principal,
        request: &UploadRequest,
    ) -> Result<Placement, UploadError> {
        let root = self.settings.key_prefix.as_str();
        if let Some(key) = &request.key {
            keys::validate_key("key", key)?;
            self.refuse_staging_area("key", &keys::join(root, key))?;
            check_key_permitted(principal, key)?;
            return Ok(Placement::Exact {
                relative_key: key.clone(),
                overwrite: request.overwrite,
            });
        }
        Ok(Placement::ContentAddressed {
            relative_prefix: self.relative_prefix(principal, request.prefix.as_deref())?,
        })
    }

    /// The folder of content-addressed keys: the caller's `prefix`, or the principal's own.
    fn relative_prefix(
        &self,
        principal: &Principal,
        prefix: Option<&str>,
    ) -> Result<String, UploadError> {
        match prefix.map(|p| p.trim_matches('/')) {
            Some(prefix) if !prefix.is_empty() => {
                keys::validate_key("prefix", prefix)?;
                let root = self.settings.key_prefix.as_str();
                self.refuse_staging_area("prefix", &format!("{}/", keys::join(root, prefix)))?;
                Ok(prefix.to_owned())
            }
            _ => Ok(principal.policy.default_prefix()),
        }
    }

    /// Refuses, before any image exists, a `prefix` and image options that every upload made
    /// with them would be refused for: for callers that take them first and files later (the
    /// upload view). The key checked is one a content-addressed upload under the prefix gets.
    pub fn check_options(
        &self,
        principal: &Principal,
        prefix: Option<&str>,
        image: &Overrides,
    ) -> Result<(), UploadError> {
        let relative_prefix = self.relative_prefix(principal, prefix)?;
        let sample_key = keys::content_key(&relative_prefix, "image", &"0".repeat(64), "webp");
        check_key_permitted(principal, &sample_key)?;
        let options = image.resolve(&self.settings.defaults, false, self.settings.limits);
        imaging::check_options(&options)?;
        Ok(())
    }

    /// The staging prefix holds presigned uploads only; final objects never land there.
    fn refuse_staging_area(&self, what: &str, key: &str) -> Result<(), UploadError> {
        let staging = &self.settings.staging_prefix;
        if key.starts_with(staging.as_str()) {
            return Err(UploadError::invalid(
                InputReason::StagingArea,
                format!(
                    "{what} {key:?} is inside {staging:?}, which is reserved for create_upload_url; choose another"
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn resolve_bucket(
        &self,
        principal: &Principal,
        requested: Option<&str>,
    ) -> Result<String, UploadError> {
        let allowed = self.permitted_buckets(principal);
        let default = &self.settings.default_bucket;
        let bucket = match requested.map(str::trim).filter(|b| !b.is_empty()) {
            Some(bucket) => bucket,
            // Without a bucket: the default if permitted, else the principal's first.
            None if allowed.contains(default) => return Ok(default.clone()),
            None => allowed.first().map(String::as_str).unwrap_or(default),
        };
        if allowed.iter().any(|a| a == bucket) {
            Ok(bucket.to_owned())
        } else {
            Err(UploadError::BucketNotAllowed {
                bucket: bucket.to_owned(),
                allowed,
            })
        }
    }

    /// Configured buckets the principal's policy allows.
    pub(super) fn permitted_buckets(&self, principal: &Principal) -> Vec<String> {
        self.settings
            .allowed_buckets
            .iter()
            .filter(|b| principal.policy.allows_bucket(b))
            .cloned()
            .collect()
    }
}

/// The principal's prefix patterns must cover the key (relative to KEY_PREFIX).
fn check_key_permitted(principal: &Principal, relative_key: &str) -> Result<(), UploadError> {
    if principal.policy.allows_key(relative_key) {
        Ok(())
    } else {
        Err(UploadError::KeyNotPermitted {
            principal: principal.id.clone(),
            key: relative_key.to_owned(),
            allowed: principal.policy.describe_prefixes(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_names_change_only_the_last_segment() {
        for (key, expected) in [
            (
                "sites/a.example.com/hero",
                "sites/a.example.com/hero-64w.webp",
            ),
            (
                "sites/a.example.com/hero.png",
                "sites/a.example.com/hero-64w.webp",
            ),
            (
                "images/hero-0123456789ab.webp",
                "images/hero-0123456789ab-64w.webp",
            ),
            ("hero.tar.gz", "hero.tar-64w.webp"),
            ("hero", "hero-64w.webp"),
            ("v1.2/.hidden", "v1.2/.hidden-64w.webp"),
        ] {
            assert_eq!(variant_key(key, 64, "webp"), expected, "{key}");
        }
    }
}
