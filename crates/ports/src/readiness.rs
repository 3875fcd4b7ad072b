//! The readiness port: whether what requests depend on (the database) answers now, for
//! `GET /health/ready`, without the HTTP layer knowing which store it is.

use crate::error::StoreError;
use async_trait::async_trait;

/// A dependency that can be asked whether it answers.
#[async_trait]
pub trait Readiness: Send + Sync {
    /// `Ok` when it answers now.
    ///
    /// # Errors
    /// `Unavailable` (or `Other`) when it does not.
    async fn check(&self) -> Result<(), StoreError>;
}
