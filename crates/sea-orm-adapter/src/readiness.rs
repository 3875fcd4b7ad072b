//! The store's answer to the readiness port: a ping of the pool.

use crate::store::Store;
use async_trait::async_trait;
use auth_ports::{Readiness, StoreError};

#[async_trait]
impl Readiness for Store {
    async fn check(&self) -> Result<(), StoreError> {
        self.ping().await
    }
}
