//! Facts with provenance: every number or list in a target file says where it comes from and
//! how much to trust it, so that a guess is never mistaken for a datasheet value.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// How a fact was obtained, most trustworthy first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quality {
    /// The vendor's own announcement, datasheet or product page (often as quoted by press).
    Vendor,
    /// A framework's documentation or source code (MACE, Paddle-Lite, Coral's Edge TPU docs).
    Documented,
    /// One of the papers this project follows (CoDL, the Potentials and Pitfalls study).
    Paper,
    /// A third-party reference (WikiChip, reviews, spec aggregators).
    ThirdParty,
    /// Computed from sourced facts; the formula is in `derivation`.
    Derived,
    /// An engineering estimate from an assumption that is stated but not sourced.
    Estimate,
    /// No source at all: a placeholder that must be replaced by a measurement.
    Guess,
    /// Detected on this machine when hetc runs.
    Detected,
}

impl Quality {
    pub fn name(self) -> &'static str {
        match self {
            Quality::Vendor => "vendor",
            Quality::Documented => "documented",
            Quality::Paper => "paper",
            Quality::ThirdParty => "third-party",
            Quality::Derived => "derived",
            Quality::Estimate => "estimate",
            Quality::Guess => "guess",
            Quality::Detected => "detected",
        }
    }

    /// Higher is less trustworthy; a value computed from several facts is as weak as the
    /// weakest of them.
    fn distrust(self) -> u8 {
        match self {
            Quality::Vendor | Quality::Documented | Quality::Detected => 0,
            Quality::Paper => 1,
            Quality::ThirdParty => 2,
            Quality::Derived => 3,
            Quality::Estimate => 4,
            Quality::Guess => 5,
        }
    }

    /// The less trustworthy of two qualities.
    pub fn weaker(self, other: Quality) -> Quality {
        if other.distrust() > self.distrust() { other } else { self }
    }

    /// Whether the fact rests on an unsourced assumption.
    pub fn is_unsourced(self) -> bool {
        matches!(self, Quality::Estimate | Quality::Guess)
    }
}

impl fmt::Display for Quality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A reference in `sources.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Who says it, and what exactly was read.
    pub cite: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// All sources, by id.
pub type Sources = BTreeMap<String, Source>;

/// A number with its unit, provenance and, when not read directly, how it was obtained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    pub value: f64,
    pub quality: Quality,
    /// Ids in `sources.toml`; empty only for guesses and detected values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derivation: Option<String>,
}

impl Figure {
    pub fn detected(value: f64, derivation: impl Into<String>) -> Self {
        Figure { value, quality: Quality::Detected, source: Vec::new(), derivation: Some(derivation.into()) }
    }

    pub fn guess(value: f64, derivation: impl Into<String>) -> Self {
        Figure { value, quality: Quality::Guess, source: Vec::new(), derivation: Some(derivation.into()) }
    }

    pub fn estimate(value: f64, derivation: impl Into<String>) -> Self {
        Figure { value, quality: Quality::Estimate, source: Vec::new(), derivation: Some(derivation.into()) }
    }
}

/// Provenance of a group of facts that share it (a CPU cluster, a GPU's description).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    pub quality: Quality,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Checks that every id names a source and that only guesses, estimates and detected values
/// go without one. `what` names the fact in the error.
pub(crate) fn check_sources(
    ids: &[String],
    quality: Quality,
    sources: &Sources,
    what: &dyn Fn() -> String,
) -> Result<(), String> {
    if let Some(id) = ids.iter().find(|id| !sources.contains_key(id.as_str())) {
        return Err(format!("{}: unknown source `{id}`", what()));
    }
    if ids.is_empty() && !matches!(quality, Quality::Guess | Quality::Estimate | Quality::Detected) {
        return Err(format!("{}: a {quality} fact needs a source", what()));
    }
    Ok(())
}
