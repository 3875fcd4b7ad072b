//! What kind of route an operation is, and so which shared error answers it documents.
//! A handler names its kinds first in `#[utoipa::path(responses(...))]`, then lists only
//! its own answers (success, 404, 409 …), e.g.
//! `responses(kind::Session, kind::JsonBody, (status = 200, …))`; an answer it lists
//! replaces the kind's one of the same status (a 403 naming the permission, say). Which
//! statuses each kind brings is [`SHARED`], the one table.

use super::error::doc::{
    BadRequest, Forbidden, Internal, PayloadTooLarge, RateLimited, ReauthenticationRequired,
    Unauthorized, Unavailable, UnsupportedMediaType, ValidationFailed,
};
use std::collections::BTreeMap;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, ToResponse};

/// What a route does that lets it fail in a way many routes share.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trait {
    /// Reaches the database or the hashing pool.
    Serves,
    /// Needs a session.
    Session,
    /// Needs a permission.
    Permission,
    /// Takes a JSON body.
    JsonBody,
    /// Takes query parameters.
    Query,
    /// Counts against a rate limit.
    Limited,
    /// Needs a session authenticated within the last 5 minutes.
    StepUp,
}

/// The component (registered in `openapi.rs`) that describes an answer.
type Component = fn() -> (&'static str, RefOr<Response>);

/// Every shared error answer: its status, its description, and the trait of a route
/// that makes the route give it.
const SHARED: [(&str, Component, Trait); 11] = [
    ("400", BadRequest::response, Trait::JsonBody),
    ("401", Unauthorized::response, Trait::Session),
    ("403", Forbidden::response, Trait::Permission),
    ("403", ReauthenticationRequired::response, Trait::StepUp),
    ("413", PayloadTooLarge::response, Trait::JsonBody),
    ("415", UnsupportedMediaType::response, Trait::JsonBody),
    ("422", ValidationFailed::response, Trait::JsonBody),
    ("422", ValidationFailed::response, Trait::Query),
    ("429", RateLimited::response, Trait::Limited),
    ("500", Internal::response, Trait::Serves),
    ("503", Unavailable::response, Trait::Serves),
];

/// The answers of [`SHARED`] that routes with any of `traits` give, as references to
/// their components.
fn answers(traits: &[Trait]) -> BTreeMap<String, RefOr<Response>> {
    SHARED
        .iter()
        .filter(|(_, _, t)| traits.contains(t))
        .map(|(status, component, _)| {
            let reference = Ref::from_response_name(component().0);
            ((*status).to_owned(), RefOr::Ref(reference))
        })
        .collect()
}

macro_rules! kinds {
    ($($(#[$doc:meta])* $name:ident = [$($trait:ident),*];)*) => {
        $(
            $(#[$doc])*
            pub(super) struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    answers(&[$(Trait::$trait),*])
                }
            }
        )*
    };
}

kinds! {
    /// Anyone may call it: 500, 503.
    Public = [Serves];
    /// Needs a session: 401, 500, 503.
    Session = [Serves, Session];
    /// Needs a session and a permission: 401, 403, 500, 503.
    Guarded = [Serves, Session, Permission];
    /// Needs a session authenticated within the last 5 minutes: 401, 403
    /// `reauthentication_required`, 500, 503.
    Sensitive = [Serves, Session, StepUp];
    /// Takes a JSON body: 400, 413, 415, 422.
    JsonBody = [JsonBody];
    /// Takes query parameters: 422.
    Query = [Query];
    /// Rate-limited: 429.
    Limited = [Limited];
}

/// Error answers a few routes share beyond their kinds: (status, description), each with
/// an `ErrorBody`, as `(status = …, description = …, body = ErrorBody)` would give.
pub(super) fn error_answers(answers: &[(&str, &str)]) -> BTreeMap<String, RefOr<Response>> {
    answers
        .iter()
        .map(|(status, description)| {
            let body = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build();
            let answer = ResponseBuilder::new()
                .description(*description)
                .content("application/json", body)
                .build();
            ((*status).to_owned(), RefOr::T(answer))
        })
        .collect()
}
