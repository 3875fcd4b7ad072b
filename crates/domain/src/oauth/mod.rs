//! OAuthService: signing in with an external (OAuth/OIDC) provider and linking providers
//! to accounts (SPEC.md section 4.3). It owns the linking rules — who an external
//! identity signs in as — and leaves the protocol to the `OAuthClient` port.

mod accounts;
mod errors;
mod flow;
mod linking;
mod service;
#[cfg(test)]
mod tests;

pub use errors::{OAuthError, UnlinkError};
pub use flow::{BegunFlow, Callback, Finished};
pub use service::{FLOW_LIFETIME, OAuthPolicy, OAuthPorts, OAuthService};
