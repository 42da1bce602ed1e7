//! Why a plan file is rejected. Plans are untrusted input: every field is checked.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("not a hetc plan (bad magic bytes)")]
    BadMagic,
    #[error("plan format version {found} is not supported (this runtime reads version {supported})")]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error("plan is truncated: {0}")]
    Truncated(String),
    #[error("plan is corrupted: {0} checksum mismatch")]
    Checksum(&'static str),
    #[error("plan metadata cannot be decoded: {0}")]
    Decode(String),
    #[error("invalid plan: {0}")]
    Invalid(String),
}

pub(crate) fn invalid(msg: impl Into<String>) -> PlanError {
    PlanError::Invalid(msg.into())
}
