//! What a principal may write: bucket and key-prefix glob patterns, and a size limit; and the
//! per-person policy of signed-in callers no principal names (`OAUTH_DEFAULT_PREFIX`).

use std::str::FromStr;

use glob::{MatchOptions, Pattern};
use sha2::{Digest, Sha256};

/// `*` matches across `/` too: "figma/*" allows "figma/landing/hero.webp".
const MATCH: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: false,
    require_literal_leading_dot: false,
};

/// Buckets and key prefixes (relative to KEY_PREFIX) a principal may write, as globs.
#[derive(Clone, Debug)]
pub struct Policy {
    buckets: Vec<Pattern>,
    prefixes: Vec<Pattern>,
    /// Largest image this principal may send, in bytes.
    pub max_bytes: Option<u64>,
}

impl Policy {
    /// Everything: for the local, unauthenticated modes.
    pub fn unrestricted() -> Self {
        Policy {
            buckets: vec![Pattern::new("*").expect("valid pattern")],
            prefixes: vec![Pattern::new("*").expect("valid pattern")],
            max_bytes: None,
        }
    }

    /// Builds a policy from glob texts; the error names the bad pattern.
    pub fn new(
        buckets: &[String],
        prefixes: &[String],
        max_bytes: Option<u64>,
    ) -> Result<Self, PolicyError> {
        let compile = |what: &'static str, patterns: &[String]| {
            if patterns.is_empty() {
                return Err(PolicyError::Empty { what });
            }
            patterns
                .iter()
                .map(|p| {
                    Pattern::new(p.trim_start_matches('/')).map_err(|e| PolicyError::Pattern {
                        what,
                        pattern: p.clone(),
                        detail: e.to_string(),
                    })
                })
                .collect()
        };
        Ok(Policy {
            buckets: compile("buckets", buckets)?,
            prefixes: compile("prefixes", prefixes)?,
            max_bytes,
        })
    }

    pub fn allows_bucket(&self, bucket: &str) -> bool {
        self.buckets.iter().any(|p| p.matches_with(bucket, MATCH))
    }

    /// `key` is relative to KEY_PREFIX, e.g. "figma/hero-0a1b2c3d4e5f.webp".
    pub fn allows_key(&self, key: &str) -> bool {
        self.prefixes.iter().any(|p| p.matches_with(key, MATCH))
    }

    /// The folder to use when a call names none: the literal start of the first prefix pattern
    /// ("figma/*" → "figma"); empty when the first pattern starts with a wildcard.
    pub fn default_prefix(&self) -> String {
        let first = self
            .prefixes
            .first()
            .map(Pattern::as_str)
            .unwrap_or_default();
        let literal = first.split(['*', '?', '[']).next().unwrap_or_default();
        // Only whole folders: "fig*" gives nothing, "figma/a*" gives "figma".
        match literal.rsplit_once('/') {
            Some((folder, _)) => folder.trim_matches('/').to_owned(),
            None if literal.len() == first.len() => literal.to_owned(),
            None => String::new(),
        }
    }

    /// The prefix patterns as written, for messages ("figma/*, shared/*").
    pub fn describe_prefixes(&self) -> String {
        self.prefixes
            .iter()
            .map(Pattern::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A policy that cannot be built; the message names the list and the pattern.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{what} is empty; use [\"*\"] to allow all")]
    Empty { what: &'static str },
    #[error("{what} pattern {pattern:?}: {detail}")]
    Pattern {
        what: &'static str,
        pattern: String,
        detail: String,
    },
}

/// `OAUTH_DEFAULT_PREFIX`: a prefix pattern in which `{sub}` stands for the caller's subject,
/// e.g. `users/{sub}/*`: one private folder per person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectPrefix(String);

impl SubjectPrefix {
    const PLACEHOLDER: &str = "{sub}";

    /// The policy of the caller whose token says `sub`: any allowed bucket, this prefix only.
    pub fn policy_for(&self, sub: &str) -> Policy {
        let prefix = self.0.replace(Self::PLACEHOLDER, &key_segment(sub));
        Policy::new(&["*".to_owned()], &[prefix], None)
            .expect("checked when parsed: a subject segment adds no pattern syntax")
    }
}

impl FromStr for SubjectPrefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let template = s.trim().trim_start_matches('/');
        // `{sub}` must be a whole folder name: in `users/{sub}*` the subject `ann` could
        // write into `anne/`.
        let whole_segments = template.match_indices(Self::PLACEHOLDER).all(|(at, _)| {
            (at == 0 || template[..at].ends_with('/'))
                && template[at + Self::PLACEHOLDER.len()..].starts_with('/')
        });
        if !whole_segments {
            return Err(format!(
                "{template:?}: {{sub}} must be a whole folder name followed by `/`, e.g. users/{{sub}}/*"
            ));
        }
        if template.replace(Self::PLACEHOLDER, "").contains(['{', '}']) {
            return Err(format!(
                "{template:?}: the only placeholder is {{sub}}, e.g. users/{{sub}}/*"
            ));
        }
        Policy::new(
            &["*".to_owned()],
            &[template.replace(Self::PLACEHOLDER, "x")],
            None,
        )
        .map_err(|e| e.to_string())?;
        Ok(SubjectPrefix(template.to_owned()))
    }
}

/// A token's subject as one folder name: itself when it is short and plainly safe (no glob or
/// path syntax), else `sha256-` and 128 bits of its hash. Distinct subjects never share a folder:
/// literal names never start with `sha256-`.
pub fn key_segment(sub: &str) -> String {
    const HASHED: &str = "sha256-";
    let plain = (1..=128).contains(&sub.len())
        && !sub.starts_with('.')
        && !sub.starts_with(HASHED)
        && sub
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'));
    if plain {
        sub.to_owned()
    } else {
        format!(
            "{HASHED}{}",
            hex::encode(&Sha256::digest(sub.as_bytes())[..16])
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_prefix_gives_each_subject_its_own_folder() {
        let template: SubjectPrefix = "/users/{sub}/*".parse().unwrap();
        let ann = template.policy_for("ann");
        assert!(ann.allows_key("users/ann/hero.webp"));
        assert!(!ann.allows_key("users/anne/hero.webp"));
        assert!(!ann.allows_key("users/bob/hero.webp"));
        assert_eq!(ann.default_prefix(), "users/ann");
        assert!(ann.allows_bucket("any-allowed-bucket"));
    }

    #[test]
    fn subjects_with_path_or_glob_syntax_become_hashed_folder_names() {
        assert_eq!(key_segment("00u1ab2CD-e_f.g@x"), "00u1ab2CD-e_f.g@x");
        for hostile in [
            "*",
            "../admin",
            "a/b",
            "..",
            ".hidden",
            "[a]",
            "",
            "sha256-0000",
            "é",
        ] {
            let segment = key_segment(hostile);
            assert!(segment.starts_with("sha256-"), "{hostile:?} -> {segment}");
            assert_eq!(segment.len(), "sha256-".len() + 32);
        }
        assert_ne!(key_segment("a/b"), key_segment("a/c"));
        // A wildcard subject gets a folder of its own, not everyone's.
        let star = "users/{sub}/*"
            .parse::<SubjectPrefix>()
            .unwrap()
            .policy_for("*");
        assert!(!star.allows_key("users/ann/hero.webp"));
    }

    #[test]
    fn default_prefix_templates_are_checked() {
        for bad in [
            "users/{sub}*",
            "users/x{sub}/*",
            "users/{sub}",
            "users/{user}/*",
            "[",
        ] {
            assert!(bad.parse::<SubjectPrefix>().is_err(), "{bad}");
        }
        assert!("inbox/*".parse::<SubjectPrefix>().is_ok());
        assert!("{sub}/*".parse::<SubjectPrefix>().is_ok());
    }

    fn policy(buckets: &[&str], prefixes: &[&str]) -> Policy {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        Policy::new(&owned(buckets), &owned(prefixes), None).unwrap()
    }

    #[test]
    fn prefix_globs_match_whole_subtrees() {
        let p = policy(&["*"], &["figma/*"]);
        assert!(p.allows_key("figma/hero.webp"));
        assert!(p.allows_key("figma/landing/hero.webp"));
        assert!(!p.allows_key("marketing/hero.webp"));
        assert!(!p.allows_key("figmaX/hero.webp"));
    }

    #[test]
    fn bucket_globs_are_exact_unless_wildcarded() {
        let p = policy(&["assets-*", "logos"], &["*"]);
        assert!(p.allows_bucket("assets-prod"));
        assert!(p.allows_bucket("logos"));
        assert!(!p.allows_bucket("logos-old"));
    }

    #[test]
    fn default_prefix_is_the_literal_folder_of_the_first_pattern() {
        assert_eq!(policy(&["*"], &["figma/*"]).default_prefix(), "figma");
        assert_eq!(
            policy(&["*"], &["team/figma/*", "x/*"]).default_prefix(),
            "team/figma"
        );
        assert_eq!(policy(&["*"], &["*"]).default_prefix(), "");
        assert_eq!(policy(&["*"], &["fig*"]).default_prefix(), "");
    }

    #[test]
    fn bad_patterns_are_reported() {
        assert!(
            Policy::new(&["[".into()], &["*".into()], None)
                .unwrap_err()
                .to_string()
                .contains("buckets")
        );
        assert!(
            Policy::new(&["*".into()], &[], None)
                .unwrap_err()
                .to_string()
                .contains("prefixes is empty")
        );
    }
}
