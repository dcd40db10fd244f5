//! Presigned staging uploads: large images travel out of band (one HTTP PUT), not through the
//! model as base64. A ticket belongs to the principal that asked for it, lets one PUT of the
//! declared size and type through, and is finalized at most once.
//!
//! A ticket is a folder `<STAGING_PREFIX><owner>/<token>/`: `owner` names the principal (a hash
//! of its id, so any id makes a safe key) and `token` is the issue time in hex followed by 96
//! random bits, so the open tickets of one principal are one bounded listing. The folder holds:
//!
//! - `.issued`, written when the ticket is issued: it counts against `MAX_OPEN_UPLOAD_URLS`;
//! - `<name>`, the caller's file, through the presigned PUT, which signs `Content-Length`,
//!   `Content-Type` and `If-None-Match: *` (S3 and the embedded store refuse any other size or
//!   type, and a second PUT while an object sits there);
//! - `.claimed`, written create-only by the finalize that uses the ticket, so of concurrent
//!   finalizes exactly one proceeds. A failed finalize removes it (the file can be retried); a
//!   successful one keeps it and replaces `<name>` by an empty object: the original is gone,
//!   and the URL cannot stage another file.
//!
//! Nothing here is an in-memory state: Lambda instances share tickets through the bucket.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::{InputReason, UploadError, Uploader, validate_filename};
use crate::auth::Principal;
use crate::imaging::ImagingError;
use crate::primitives::{OCTET_STREAM, is_image_media_type, random_hex};
use crate::storage::{NewObject, PutOutcome, PutTerms, Storage, WriteMode, keys};

/// Marks an issued ticket.
const ISSUED: &str = ".issued";
/// Marks a ticket a finalize holds or has used.
const CLAIMED: &str = ".claimed";
/// Keys read at most when counting a principal's open tickets (each ticket has up to three):
/// past this many in one expiry window, the principal is issuing faster than any real use.
const MAX_LISTED_KEYS: usize = 10_000;

/// What a caller wants to stage.
#[derive(Debug, Clone)]
pub struct StagingRequest {
    pub filename: String,
    /// `image/png`, …, or `application/octet-stream`; the PUT must send exactly this
    /// `Content-Type` (`application/octet-stream` when `None`).
    pub content_type: Option<String>,
    /// The file's exact size: the URL is signed for this many bytes and no other.
    pub bytes: u64,
}

/// A presigned PUT into the staging area.
#[derive(Debug, Clone)]
pub struct StagingTicket {
    /// Presigned URL: a PUT of the file's raw bytes here, before `expires_at`, stages it.
    pub upload_url: String,
    /// Headers the PUT must carry exactly (besides `Host` and `Content-Length`).
    pub headers: BTreeMap<String, String>,
    /// The key to finalize with, once the PUT succeeded.
    pub staging_key: StagingKey,
    pub expires_at: time::OffsetDateTime,
    /// The size the URL is signed for: the PUT's body must be exactly this long.
    pub bytes: u64,
    /// Largest file this caller may stage, in bytes.
    pub max_bytes: usize,
}

/// A staging key as `create_upload_url` makes it: `<prefix><owner>/<token>/<name>`. Parsed
/// once; the token is a credential of sorts, so logs get [`StagingKey::redacted`].
#[derive(Clone, PartialEq, Eq)]
pub struct StagingKey {
    /// `<prefix><owner>/<token>/`.
    folder: String,
    owner: String,
    token: String,
    name: String,
}

impl StagingKey {
    /// A new key for `principal`'s file `filename`, issued now.
    fn issue(staging_prefix: &str, principal: &Principal, filename: &str) -> Self {
        let owner = owner_tag(principal);
        let token = format!("{:08x}{}", issued_now(), random_hex(12));
        StagingKey {
            folder: format!("{staging_prefix}{owner}/{token}/"),
            owner,
            token,
            name: staged_name(filename),
        }
    }

    /// Reads a caller's `staging_key`: inside the staging prefix, in the shape `issue` makes.
    pub(super) fn parse(staging_prefix: &str, text: &str) -> Result<Self, UploadError> {
        let invalid = |why: &str| {
            UploadError::invalid(
                InputReason::StagingKey,
                format!("staging_key {why}; pass the staging_key returned by create_upload_url"),
            )
        };
        keys::validate_key("staging_key", text)
            .map_err(|e| UploadError::invalid(InputReason::StagingKey, e.to_string()))?;
        let Some(rest) = text.strip_prefix(staging_prefix) else {
            return Err(invalid(&format!(
                "{text:?} is outside the staging area {staging_prefix:?}"
            )));
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let [owner, token, name] = parts[..] else {
            return Err(invalid("is not of the form <owner>/<token>/<name>"));
        };
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex(owner, 16) || !hex(token, 32) || name.is_empty() || name.starts_with('.') {
            return Err(invalid("is not of the form <owner>/<token>/<name>"));
        }
        Ok(StagingKey {
            folder: format!("{staging_prefix}{owner}/{token}/"),
            owner: owner.to_owned(),
            token: token.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The object key.
    pub fn key(&self) -> String {
        format!("{}{}", self.folder, self.name)
    }

    /// The key with the token's random part replaced by a short hash: enough to match a
    /// `create_upload_url` audit line with the finalize, useless to anyone reading logs.
    pub fn redacted(&self) -> String {
        let digest = hex::encode(&Sha256::digest(self.token.as_bytes())[..4]);
        let prefix = self.folder.trim_end_matches('/');
        let prefix = prefix.rsplit_once('/').map_or(prefix, |(p, _)| p);
        format!("{prefix}/{}…{digest}/{}", &self.token[..8], self.name)
    }

    fn marker(&self, name: &str) -> String {
        format!("{}{name}", self.folder)
    }

    /// Only the principal the ticket was issued to may finalize it.
    fn check_owner(&self, principal: &Principal) -> Result<(), UploadError> {
        if self.owner == owner_tag(principal) {
            return Ok(());
        }
        Err(UploadError::invalid(
            InputReason::StagingKeyForeign,
            "this staging_key was issued to another caller; pass a staging_key that create_upload_url returned to you",
        ))
    }
}

impl std::fmt::Debug for StagingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A finalize's hold on its ticket. [`Claim::spend`] after the final object is stored,
/// [`Claim::release`] after a failure; dropped without either (the call was cancelled), it is
/// released in the background.
pub(super) struct Claim {
    storage: Storage,
    bucket: String,
    key: StagingKey,
    settled: bool,
}

impl Claim {
    pub(super) fn key(&self) -> &StagingKey {
        &self.key
    }

    /// The ticket is used: the staged original is replaced by an empty object, which the URL's
    /// `If-None-Match: *` cannot overwrite, and `.claimed` stays so no second finalize runs.
    pub(super) async fn spend(mut self) {
        self.settled = true;
        let emptied = self
            .storage
            .put(marker(&self.bucket, self.key.key()), WriteMode::Overwrite)
            .await;
        if let Err(e) = emptied {
            tracing::warn!(staging_key = %self.key.redacted(), error = %e,
                "could not empty a used staging object; the lifecycle rule will remove it");
        }
    }

    /// The finalize failed: the file stays staged and the ticket may be finalized again.
    pub(super) async fn release(mut self) {
        self.settled = true;
        release(&self.storage, &self.bucket, &self.key).await;
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (storage, bucket, key) = (self.storage.clone(), self.bucket.clone(), self.key.clone());
        runtime.spawn(async move { release(&storage, &bucket, &key).await });
    }
}

async fn release(storage: &Storage, bucket: &str, key: &StagingKey) {
    if let Err(e) = storage.delete(bucket, &key.marker(CLAIMED)).await {
        tracing::warn!(staging_key = %key.redacted(), error = %e,
            "could not release a staging ticket after a failed upload; ask for a new upload URL");
    }
}

impl Uploader {
    /// Issues a presigned PUT URL for one image of `request.bytes` bytes in the staging prefix
    /// of the default bucket, if the caller has fewer than `MAX_OPEN_UPLOAD_URLS` open.
    pub async fn create_upload_url(
        &self,
        principal: &Principal,
        request: StagingRequest,
    ) -> Result<StagingTicket, UploadError> {
        let settings = &self.settings;
        validate_filename(&request.filename)?;
        let max_bytes = self.input_limit(principal);
        if request.bytes == 0 {
            return Err(UploadError::invalid(
                InputReason::StagingSize,
                "bytes is 0; pass the file's exact size in bytes (e.g. `wc -c < file`)",
            ));
        }
        if request.bytes > max_bytes as u64 {
            return Err(ImagingError::InputTooLarge {
                bytes: usize::try_from(request.bytes).unwrap_or(usize::MAX),
                limit: max_bytes,
            }
            .into());
        }
        let content_type = match request.content_type.as_deref().map(str::trim) {
            None | Some("") => OCTET_STREAM.to_owned(),
            Some(ct) if is_image_media_type(ct) || ct.eq_ignore_ascii_case(OCTET_STREAM) => {
                ct.to_ascii_lowercase()
            }
            Some(ct) => {
                return Err(UploadError::invalid(
                    InputReason::ContentType,
                    format!(
                        "content_type {ct:?} is not an image type; use e.g. image/png, or leave it out"
                    ),
                ));
            }
        };

        let staging_key = StagingKey::issue(&settings.staging_prefix, principal, &request.filename);
        self.refuse_past_open_limit(&staging_key).await?;
        let bucket = &settings.default_bucket;
        self.storage
            .put(
                marker(bucket, staging_key.marker(ISSUED)),
                WriteMode::CreateOnly,
            )
            .await?;
        let expires_at = time::OffsetDateTime::now_utc() + settings.staging_url_expiry;
        let presigned = self
            .storage
            .presign_put(
                bucket,
                &staging_key.key(),
                &PutTerms {
                    content_type,
                    content_length: request.bytes,
                },
                settings.staging_url_expiry,
            )
            .await?;
        Ok(StagingTicket {
            upload_url: presigned.url,
            headers: presigned.headers.into_iter().collect(),
            staging_key,
            expires_at,
            bytes: request.bytes,
            max_bytes,
        })
    }

    /// Refuses a new ticket when the owner already holds `MAX_OPEN_UPLOAD_URLS` open ones:
    /// issued within the URL lifetime and not yet finalized. Checked before anything is
    /// written; calls racing each other may overshoot by their number.
    async fn refuse_past_open_limit(&self, new: &StagingKey) -> Result<(), UploadError> {
        let settings = &self.settings;
        let owner_folder = format!("{}{}/", settings.staging_prefix, new.owner);
        let window = u32::try_from(settings.staging_url_expiry.as_secs()).unwrap_or(u32::MAX);
        let start_after = format!("{owner_folder}{:08x}", issued_now().saturating_sub(window));
        let listed = self
            .storage
            .list_keys(
                &settings.default_bucket,
                &owner_folder,
                &start_after,
                MAX_LISTED_KEYS,
            )
            .await?;
        let (mut issued, mut claimed) = (BTreeSet::new(), BTreeSet::new());
        for key in &listed {
            match key[owner_folder.len()..].split_once('/') {
                Some((token, ISSUED)) => issued.insert(token),
                Some((token, CLAIMED)) => claimed.insert(token),
                _ => false,
            };
        }
        let open = issued.difference(&claimed).count();
        let limit = settings.max_open_upload_urls;
        if open < limit && listed.len() < MAX_LISTED_KEYS {
            return Ok(());
        }
        let minutes = settings.staging_url_expiry.as_secs().div_ceil(60);
        Err(UploadError::invalid(
            InputReason::OpenUploadUrls,
            format!(
                "you have {open} upload URLs that are not used yet (the limit is {limit}, MAX_OPEN_UPLOAD_URLS): \
                 upload those files with upload_image_to_s3 first, or wait for them to expire (within {minutes} min)"
            ),
        ))
    }

    /// Takes the ticket behind `staging_key` for this finalize: only its owner may, and only
    /// one finalize at a time and ever successfully. Nothing of the staged file is read before.
    pub(super) async fn claim_staged(
        &self,
        principal: &Principal,
        staging_key: &str,
    ) -> Result<Claim, UploadError> {
        let key = StagingKey::parse(&self.settings.staging_prefix, staging_key)?;
        key.check_owner(principal)?;
        let bucket = &self.settings.default_bucket;
        match self
            .storage
            .put(marker(bucket, key.marker(CLAIMED)), WriteMode::CreateOnly)
            .await?
        {
            PutOutcome::Stored { .. } => Ok(Claim {
                storage: self.storage.clone(),
                bucket: bucket.clone(),
                key,
                settled: false,
            }),
            PutOutcome::AlreadyExists => Err(UploadError::invalid(
                InputReason::StagingUsed,
                "this staging_key was already used, or another call is using it right now: a staging_key \
                 uploads one file once. Call create_upload_url for a new one",
            )),
        }
    }

    /// A well-formed staging key of this caller's, else `None` (the item reports why itself).
    pub(super) fn own_staging_key(&self, principal: &Principal, text: &str) -> Option<StagingKey> {
        StagingKey::parse(&self.settings.staging_prefix, text)
            .ok()
            .filter(|key| key.check_owner(principal).is_ok())
    }
}

/// An empty object at `key`: a ticket marker, or what replaces a used staged file.
fn marker(bucket: &str, key: String) -> NewObject {
    NewObject {
        bucket: bucket.to_owned(),
        key,
        body: Vec::new(),
        content_type: OCTET_STREAM.to_owned(),
        cache_control: "no-store".to_owned(),
        metadata: Vec::new(),
        sha256: Sha256::digest([]).into(),
    }
}

/// The caller's folder name: 64 bits of a hash of its id, and of its subject when it signed in
/// with OAuth (members of one group principal do not share tickets).
fn owner_tag(principal: &Principal) -> String {
    let mut owner = format!("s3-upload-mcp staging owner\0{}", principal.id);
    if let Some(subject) = &principal.subject {
        owner.push_str("\0sub\0");
        owner.push_str(subject);
    }
    hex::encode(&Sha256::digest(owner)[..8])
}

/// Seconds since 1970, as the token's first eight hex digits (good until 2106).
fn issued_now() -> u32 {
    u32::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(u32::MAX)
}

/// `slug.ext` from the caller's filename, for a readable staging key.
fn staged_name(filename: &str) -> String {
    let extension = filename
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .filter(|ext| {
            !ext.is_empty() && ext.len() <= 5 && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        })
        .unwrap_or_else(|| "bin".to_owned());
    format!("{}.{extension}", keys::slug(filename))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Policy;

    fn principal(id: &str) -> Principal {
        Principal {
            id: id.into(),
            subject: None,
            policy: Policy::unrestricted(),
        }
    }

    #[test]
    fn members_of_one_group_principal_own_separate_staging_folders() {
        let member = |sub: &str| Principal {
            subject: Some(sub.into()),
            ..principal("design-team")
        };
        assert_ne!(owner_tag(&member("ann")), owner_tag(&member("bob")));
        assert_ne!(
            owner_tag(&member("ann")),
            owner_tag(&principal("design-team"))
        );
    }

    #[test]
    fn staged_names_keep_a_short_extension() {
        assert_eq!(staged_name("메인 배너.PNG"), "mein-baeneo.png");
        assert_eq!(staged_name("noext"), "noext.bin");
        assert_eq!(staged_name("x.verylongext"), "x.bin");
    }

    #[test]
    fn an_issued_key_parses_back_and_belongs_to_its_principal_only() {
        let alice = principal("arn:aws:sts::1:assumed-role/r/alice");
        let key = StagingKey::issue("_staging/", &alice, "Hero.PNG");
        let parsed = StagingKey::parse("_staging/", &key.key()).unwrap();
        assert_eq!(parsed, key);
        assert!(parsed.check_owner(&alice).is_ok());
        let err = parsed.check_owner(&principal("bob")).unwrap_err();
        assert_eq!(err.kind(), "staging_key_foreign");
        assert!(key.key().ends_with("/hero.png"), "{}", key.key());
    }

    #[test]
    fn the_redacted_key_keeps_no_part_of_the_random_token() {
        let key = StagingKey::issue("_staging/", &principal("alice"), "a.png");
        let redacted = key.redacted();
        assert!(!redacted.contains(&key.token[8..]), "{redacted}");
        assert!(redacted.starts_with(&format!("_staging/{}/{}…", key.owner, &key.token[..8])));
        assert!(redacted.ends_with("/a.png"));
        assert_eq!(format!("{key:?}"), redacted);
    }

    #[test]
    fn malformed_staging_keys_are_refused() {
        let owner = "0123456789abcdef";
        let token = "0123456789abcdef0123456789abcdef";
        for bad in [
            format!("_staging/{token}/x.png"),
            format!("_staging/{owner}/{token}/.claimed"),
            format!("_staging/{owner}/{token}/"),
            format!("_staging/{owner}/not-a-token/x.png"),
            format!("_staging/{owner}/{token}/x/y.png"),
            format!("images/{owner}/{token}/x.png"),
        ] {
            assert!(StagingKey::parse("_staging/", &bad).is_err(), "{bad}");
        }
        assert!(StagingKey::parse("_staging/", &format!("_staging/{owner}/{token}/x.png")).is_ok());
    }
}
