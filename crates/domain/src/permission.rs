//! Permission strings (`resource:action`, `resource:*`, `*`) and how a granted
//! permission covers a required one.

/// Longest accepted permission string.
pub const MAX_PERMISSION_LEN: usize = 128;

/// List and read accounts.
pub const USERS_READ: &str = "users:read";
/// Change names and lift lockouts.
pub const USERS_WRITE: &str = "users:write";
/// Change an account's status.
pub const USERS_SUSPEND: &str = "users:suspend";
/// Soft-delete accounts.
pub const USERS_DELETE: &str = "users:delete";
/// Query the audit trail.
pub const AUDIT_READ: &str = "audit:read";
/// List and read roles.
pub const ROLES_READ: &str = "roles:read";
/// Create, change and delete roles.
pub const ROLES_WRITE: &str = "roles:write";
/// Give roles to users and take them away.
pub const ROLES_ASSIGN: &str = "roles:assign";

/// The caller lacks the permission an operation needs, named here (a 403 `forbidden`
/// for an API client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the caller lacks {0}")]
pub struct MissingPermission(pub &'static str);

/// Why a string is not a permission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid permission {0:?}: expected `resource:action`, `resource:*` or `*`, using [a-z0-9_-]"
)]
pub struct InvalidPermission(pub String);

/// Checks that `permission` is `*`, `resource:*` or `resource:action`, where each part
/// is non-empty `[a-z0-9_-]`.
///
/// # Errors
/// [`InvalidPermission`] naming the string.
pub fn validate(permission: &str) -> Result<(), InvalidPermission> {
    let part_ok = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    let valid = permission.len() <= MAX_PERMISSION_LEN
        && (permission == "*"
            || permission
                .split_once(':')
                .is_some_and(|(resource, action)| {
                    part_ok(resource) && (action == "*" || part_ok(action))
                }));
    if valid {
        Ok(())
    } else {
        Err(InvalidPermission(permission.to_owned()))
    }
}

/// Whether the single `granted` permission covers `required`: `*` covers everything,
/// `resource:*` every action on that resource, anything else only itself.
#[must_use]
pub fn covers(granted: &str, required: &str) -> bool {
    match granted.strip_suffix(":*") {
        _ if granted == "*" || granted == required => true,
        Some(resource) => required
            .split_once(':')
            .is_some_and(|(required_resource, _)| required_resource == resource),
        None => false,
    }
}

/// Whether any of `granted` covers `required`. A wildcard `required` counts as all it
/// stands for: `users:*` is covered only by `users:*` or `*`, never by a list of actions.
#[must_use]
pub fn is_granted<S: AsRef<str>>(granted: &[S], required: &str) -> bool {
    granted.iter().any(|g| covers(g.as_ref(), required))
}

/// Whether `granted` covers each of `requested`: what a caller must hold to grant,
/// revoke or assign those permissions, so no one hands out more than they have.
#[must_use]
pub fn holds_all<S: AsRef<str>, R: AsRef<str>>(granted: &[S], requested: &[R]) -> bool {
    requested.iter().all(|r| is_granted(granted, r.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_covers_everything() {
        assert!(covers("*", "users:read"));
        assert!(covers("*", "audit:read"));
    }

    #[test]
    fn resource_wildcard_covers_only_that_resource() {
        assert!(covers("users:*", "users:read"));
        assert!(covers("users:*", "users:suspend"));
        assert!(!covers("users:*", "roles:read"));
        assert!(
            !covers("users:*", "usersx:read"),
            "the resource must match whole"
        );
        assert!(!covers("user:*", "users:read"));
    }

    #[test]
    fn exact_permission_covers_only_itself() {
        assert!(covers("users:read", "users:read"));
        assert!(!covers("users:read", "users:write"));
        assert!(
            !covers("users:read", "users:*"),
            "a narrow grant does not cover a wildcard"
        );
    }

    #[test]
    fn is_granted_checks_every_grant() {
        let granted = ["profile:read", "sessions:*"];
        assert!(is_granted(&granted, "sessions:write"));
        assert!(!is_granted(&granted, "profile:write"));
        assert!(!is_granted::<&str>(&[], "profile:read"));
    }

    #[test]
    fn only_a_grant_as_wide_as_a_wildcard_holds_it() {
        let actions = ["users:read", "users:write", "users:suspend", "users:delete"];
        assert!(!holds_all(&actions, &["users:*"]), "actions are open-ended");
        assert!(!holds_all(&["users:*"], &["*"]));
        assert!(holds_all(&["users:*"], &["users:*", "users:read"]));
        assert!(holds_all(&["*"], &["*", "audit:read"]));
        assert!(!holds_all(&["users:*"], &["users:read", "audit:read"]));
        assert!(
            holds_all::<&str, &str>(&[], &[]),
            "nothing asked, nothing needed"
        );
    }

    #[test]
    fn validate_accepts_the_three_forms() {
        for ok in ["*", "users:*", "users:read", "audit-log:read_all", "v2:x"] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn validate_rejects_everything_else() {
        for bad in [
            "",
            "users",
            "users:",
            ":read",
            "Users:read",
            "users:read:all",
            "*:read",
            "users:re ad",
            "users:**",
            "us*rs:read",
        ] {
            assert!(validate(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(validate(&format!("a:{}", "b".repeat(MAX_PERMISSION_LEN))).is_err());
    }
}
