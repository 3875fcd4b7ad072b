//! Multi-factor authentication over HTTP: the second step of a login and passwordless
//! passkey logins (in [`sign_in`]), step-up re-authentication (in [`step_up`]), and the
//! caller's own factors (in [`factors`]); the bodies they share in [`bodies`].

mod bodies;
pub(super) mod factors;
pub(super) mod sign_in;
pub(super) mod step_up;

use super::state::AppState;
use axum::Router;

pub(super) use bodies::{MfaRequiredResponse, method_names};
pub(super) use factors::FactorsResponse;

pub(super) fn routes() -> Router<AppState> {
    sign_in::routes()
        .merge(step_up::routes())
        .merge(factors::routes())
}
