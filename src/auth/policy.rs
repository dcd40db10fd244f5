//! What a principal may write: bucket and key-prefix glob patterns, and a size limit.

use glob::{MatchOptions, Pattern};

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

#[cfg(test)]
mod tests {
    use super::*;

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
