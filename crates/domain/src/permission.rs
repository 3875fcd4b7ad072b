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

    mod properties {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        /// A resource or action name; the small alphabet makes equal resources common.
        fn part() -> impl Strategy<Value = String> {
            prop_oneof!["[ab]{1,2}", "[a-z0-9_-]{1,20}"]
        }

        /// A permission `validate` must accept: `*`, `resource:*` or `resource:action`.
        fn valid() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("*".to_owned()),
                part().prop_map(|resource| format!("{resource}:*")),
                (part(), part()).prop_map(|(resource, action)| format!("{resource}:{action}")),
            ]
        }

        /// Anything a role could hold or a route ask for: valid permissions, strings of
        /// the grammar's characters in the wrong order, arbitrary text, and strings
        /// around the length limit.
        fn any_permission() -> impl Strategy<Value = String> {
            prop_oneof![
                valid(),
                "[ab:*]{0,6}",
                "[a-zA-Z0-9_:* .-]{0,12}",
                any::<String>(),
                "[a-z]{1,70}:[a-z]{60,70}",
            ]
        }

        proptest! {
            #[test]
            fn validate_accepts_exactly_the_grammar(p in any_permission()) {
                match validate(&p) {
                    Ok(()) => {
                        prop_assert!(p.len() <= MAX_PERMISSION_LEN);
                        let grammar = |part: &str| {
                            !part.is_empty()
                                && part.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
                        };
                        let well_formed = p == "*"
                            || p.split_once(':').is_some_and(|(resource, action)| {
                                grammar(resource) && (action == "*" || grammar(action))
                            });
                        prop_assert!(well_formed, "{:?} accepted", p);
                    }
                    Err(InvalidPermission(named)) => {
                        prop_assert_eq!(named, p);
                    }
                }
            }

            #[test]
            fn generated_valid_permissions_are_accepted(p in valid()) {
                prop_assert_eq!(validate(&p), Ok(()));
            }

            #[test]
            fn everything_covers_itself_and_star_covers_everything(p in any_permission()) {
                prop_assert!(covers(&p, &p));
                prop_assert!(covers("*", &p));
                prop_assert!(is_granted(&[&p], &p));
            }

            #[test]
            fn covers_is_the_documented_rule_on_valid_permissions(g in valid(), r in valid()) {
                let resource = |p: &str| p.split_once(':').map(|(resource, _)| resource.to_owned());
                let expected = g == "*"
                    || g == r
                    || (g.ends_with(":*") && resource(&g).is_some() && resource(&g) == resource(&r));
                prop_assert_eq!(covers(&g, &r), expected);
                if r == "*" || r.ends_with(":*") {
                    prop_assert_eq!(covers(&g, &r), g == "*" || g == r, "only as wide a grant covers a wildcard");
                }
            }

            #[test]
            fn only_a_valid_grant_covers_a_valid_permission(g in any_permission(), r in valid()) {
                if covers(&g, &r) {
                    prop_assert_eq!(validate(&g), Ok(()), "{:?} covers {:?}", g, r);
                }
            }

            #[test]
            fn covering_is_transitive(a in valid(), b in valid(), c in valid()) {
                if covers(&a, &b) && covers(&b, &c) {
                    prop_assert!(covers(&a, &c));
                }
            }

            #[test]
            fn is_granted_is_any_grant_covering_and_grows_with_grants(
                granted in vec(any_permission(), 0..5),
                more in vec(any_permission(), 0..3),
                required in any_permission(),
            ) {
                let held = is_granted(&granted, &required);
                prop_assert_eq!(held, granted.iter().any(|g| covers(g, &required)));
                let all: Vec<&String> = granted.iter().chain(&more).collect();
                prop_assert!(!held || is_granted(&all, &required));
            }

            #[test]
            fn no_one_hands_out_more_than_they_hold(
                a in vec(valid(), 0..4),
                b in vec(valid(), 0..4),
                c in vec(valid(), 0..4),
            ) {
                prop_assert!(holds_all(&a, &a));
                prop_assert_eq!(holds_all(&a, &b), b.iter().all(|r| is_granted(&a, r)));
                if holds_all(&a, &b) && holds_all(&b, &c) {
                    prop_assert!(holds_all(&a, &c));
                }
            }
        }
    }
}
