//! AdminService: the operator's side of accounts (SPEC.md section 4.2). Reading and
//! searching users and the audit trail (in [`queries`]); making accounts (in [`create`])
//! and changing them (in [`changes`]); second factors (in [`mfa`]).

mod changes;
mod create;
mod mfa;
mod queries;
mod service;
#[cfg(test)]
mod tests;

pub use changes::{AccountChanges, AccountError};
pub use queries::{AuditPage, DEFAULT_PAGE_LIMIT, GetUserError, PAGE_LIMITS, UserFilter, UserPage};
pub use service::{AdminPorts, AdminService};
