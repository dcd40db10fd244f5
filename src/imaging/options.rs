//! What a caller may ask of the pipeline: the checked values (`Quality`), the server's defaults
//! (`ImageDefaults`, the one place 80 / 1920 / 1080 live), and per-call `Overrides` that merge
//! over a batch's and then over the defaults into the `ProcessOptions` the pipeline runs with.

use std::fmt;
use std::str::FromStr;

use super::{ImagingError, Limits, OutputFormat, ProcessOptions};

/// Lossy encoder quality, 1–100. Checked once where it enters (argument, variable, flag).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(into = "u32")]
pub struct Quality(u8);

impl Quality {
    pub const DEFAULT: Quality = Quality(80);

    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for Quality {
    fn default() -> Self {
        Quality::DEFAULT
    }
}

/// Why a quality was refused; the message names the range and the usual value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("quality is {0}; use a value from 1 to 100 (80 is a good default)")]
pub struct QualityOutOfRange(pub String);

impl TryFrom<u32> for Quality {
    type Error = QualityOutOfRange;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        u8::try_from(value)
            .ok()
            .filter(|q| (1..=100).contains(q))
            .map(Quality)
            .ok_or_else(|| QualityOutOfRange(value.to_string()))
    }
}

impl From<Quality> for u32 {
    fn from(q: Quality) -> u32 {
        u32::from(q.0)
    }
}

impl FromStr for Quality {
    type Err = QualityOutOfRange;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        s.parse::<u32>()
            .map_err(|_| QualityOutOfRange(format!("{s:?}")))
            .and_then(Quality::try_from)
    }
}

impl fmt::Display for Quality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> serde::Deserialize<'de> for Quality {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u32::deserialize(d)?;
        Quality::try_from(n).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Quality {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quality".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "integer", "minimum": 1, "maximum": 100 })
    }

    fn inline_schema() -> bool {
        true
    }
}

/// The server's defaults for what a call leaves out (`DEFAULT_*` variables).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageDefaults {
    pub format: OutputFormat,
    pub quality: Quality,
    /// Fit box; 0 = no limit on that axis.
    pub max_width: u32,
    pub max_height: u32,
}

impl ImageDefaults {
    pub const MAX_WIDTH: u32 = 1920;
    pub const MAX_HEIGHT: u32 = 1080;
}

impl Default for ImageDefaults {
    fn default() -> Self {
        ImageDefaults {
            format: OutputFormat::Auto,
            quality: Quality::DEFAULT,
            max_width: Self::MAX_WIDTH,
            max_height: Self::MAX_HEIGHT,
        }
    }
}

/// Image options a call may set; `None` falls back to the batch's value, then to the defaults.
/// Tool arguments flatten this type, so its field docs are the schema the agent reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
pub struct Overrides {
    /// Output format: "auto" (default: WebP unless the original is smaller), "webp", "original",
    /// "png" or "jpeg".
    pub format: Option<OutputFormat>,
    /// Encoder quality 1-100 (default 80).
    pub quality: Option<Quality>,
    /// Scale down to fit this width in pixels (default 1920; 0 = no limit). Never enlarges.
    pub max_width: Option<u32>,
    /// Scale down to fit this height in pixels (default 1080; 0 = no limit). Never enlarges.
    pub max_height: Option<u32>,
    /// Extra widths to render for responsive images, e.g. [640, 1280] (at most 8, never wider
    /// than the image). The result then has `variants`, a `srcset` and an `html` <img> tag.
    pub widths: Option<Vec<u32>>,
}

impl Overrides {
    /// These overrides, with unset fields taken from `fallback` (an item over its batch).
    pub fn or(self, fallback: &Overrides) -> Overrides {
        Overrides {
            format: self.format.or(fallback.format),
            quality: self.quality.or(fallback.quality),
            max_width: self.max_width.or(fallback.max_width),
            max_height: self.max_height.or(fallback.max_height),
            widths: self.widths.or_else(|| fallback.widths.clone()),
        }
    }

    /// The options the pipeline runs with.
    pub fn resolve(
        &self,
        defaults: &ImageDefaults,
        rasterize: bool,
        limits: Limits,
    ) -> ProcessOptions {
        ProcessOptions {
            format: self.format.unwrap_or(defaults.format),
            quality: self.quality.unwrap_or(defaults.quality),
            max_width: self.max_width.unwrap_or(defaults.max_width),
            max_height: self.max_height.unwrap_or(defaults.max_height),
            widths: self.widths.clone().unwrap_or_default(),
            rasterize,
            limits,
        }
    }
}

impl From<QualityOutOfRange> for ImagingError {
    fn from(e: QualityOutOfRange) -> Self {
        ImagingError::InvalidParameter {
            name: "quality",
            reason: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_accepts_one_to_one_hundred_only() {
        assert_eq!(Quality::try_from(1).unwrap().get(), 1);
        assert_eq!("100".parse::<Quality>().unwrap().get(), 100);
        for bad in [0u32, 101, 1 << 20] {
            let err = Quality::try_from(bad).unwrap_err().to_string();
            assert!(err.contains("1 to 100"), "{err}");
        }
        assert!(
            "high"
                .parse::<Quality>()
                .unwrap_err()
                .to_string()
                .contains("\"high\"")
        );
        assert!(serde_json::from_str::<Quality>("0").is_err());
        assert_eq!(serde_json::from_str::<Quality>("75").unwrap().get(), 75);
    }

    #[test]
    fn item_overrides_win_over_batch_overrides_and_defaults_fill_the_rest() {
        let batch = Overrides {
            format: Some(OutputFormat::Png),
            quality: Some(Quality::try_from(60).unwrap()),
            widths: Some(vec![320]),
            ..Overrides::default()
        };
        let item = Overrides {
            quality: Some(Quality::try_from(90).unwrap()),
            max_width: Some(640),
            ..Overrides::default()
        };
        let options = item
            .or(&batch)
            .resolve(&ImageDefaults::default(), false, Limits::default());
        assert_eq!(options.format, OutputFormat::Png);
        assert_eq!(options.quality.get(), 90);
        assert_eq!((options.max_width, options.max_height), (640, 1080));
        assert_eq!(options.widths, vec![320]);
    }
}
