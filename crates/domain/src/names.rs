//! First and last names: what a stored name may hold.

use crate::error::FieldErrors;

/// Longest first or last name (SPEC.md section 4).
pub const MAX_NAME_CHARS: usize = 100;

/// Adds to `errors` what is wrong with `name` as the `field`, if anything.
pub(crate) fn check_name(errors: &mut FieldErrors, field: &'static str, name: Option<&String>) {
    let Some(name) = name else { return };
    if name.chars().count() > MAX_NAME_CHARS {
        errors.add(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        );
    } else if name.chars().any(auth_ports::email::is_invisible) {
        // NUL would fail on PostgreSQL; bidi overrides and zero-widths deceive readers.
        errors.add(field, "must not contain control or invisible characters");
    }
}

/// Blank names are no names.
pub(crate) fn non_blank(name: Option<String>) -> Option<String> {
    name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty())
}

/// A name someone else vouched for (an OAuth provider), kept only when it is one authd
/// would accept: a provider's odd name must not stop a login.
pub(crate) fn acceptable_name(name: Option<String>) -> Option<String> {
    let name = non_blank(name)?;
    let mut errors = FieldErrors::default();
    check_name(&mut errors, "name", Some(&name));
    errors.into_result().ok().map(|()| name)
}
