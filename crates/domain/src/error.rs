//! What every use case can fail with besides its own rules: the outside world being down
//! or broken, and input that does not fit.

use crate::permission::MissingPermission;
use auth_ports::{HashError, StoreError};
use std::collections::BTreeMap;

/// A failure that is not the caller's fault.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The database or the hashing pool is overloaded or down: retry later (503).
    #[error("temporarily unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A bug or corrupt data: logged with its cause, answered as an opaque 500.
    #[error("unexpected failure")]
    Unexpected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => Self::Unavailable(Box::new(err)),
            StoreError::NotFound | StoreError::Conflict(_) | StoreError::Other(_) => {
                Self::Unexpected(Box::new(err))
            }
        }
    }
}

impl From<HashError> for Failure {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy => Self::Unavailable(Box::new(err)),
            HashError::Failed(_) => Self::Unexpected(Box::new(err)),
        }
    }
}

/// Why a read guarded by a permission (a listing) failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The caller lacks the permission to read this.
    #[error(transparent)]
    MissingPermission(#[from] MissingPermission),
    /// Not the caller's fault.
    #[error(transparent)]
    Failure(#[from] Failure),
}

impl From<StoreError> for ReadError {
    fn from(err: StoreError) -> Self {
        Self::Failure(err.into())
    }
}

/// Per-field messages for input that is well-formed but not acceptable (422).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<&'static str, String>);

impl FieldErrors {
    /// Records a problem with `field` (the first one per field is kept).
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| message.into());
    }

    /// `Ok(())` when nothing was recorded.
    ///
    /// # Errors
    /// `self` when any field has a problem.
    pub fn into_result(self) -> Result<(), Self> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    /// The problems, by field name.
    #[must_use]
    pub fn fields(&self) -> &BTreeMap<&'static str, String> {
        &self.0
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fields: Vec<_> = self.0.iter().map(|(k, v)| format!("{k} {v}")).collect();
        f.write_str(&fields.join("; "))
    }
}
