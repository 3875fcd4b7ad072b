//! NIST SP 800-63B password rules: a length window, no composition rules, no password
//! from a list of common ones, and none containing the account's email local part.

use auth_ports::{Email, Password};
use std::collections::HashSet;
use std::sync::LazyLock;

/// Most characters a password may have (SPEC.md section 4).
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Local parts shorter than this are not searched for (a one-letter local part would
/// forbid every password containing that letter).
const MIN_LOCAL_PART_CHECKED: usize = 3;

/// Common passwords of eight or more characters, lower-cased: Django's list of 20,000
/// (BSD licence), from the breach corpora it was built on.
static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("common_passwords.txt").lines().collect());

/// Why a password is not acceptable. The message is safe to show the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejection {
    /// Shorter than the configured minimum.
    #[error("must be at least {0} characters")]
    TooShort(usize),
    /// Longer than [`MAX_PASSWORD_CHARS`].
    #[error("must be at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    /// Found in the common-password list.
    #[error("is too common; choose a less predictable password")]
    Common,
    /// Contains the email's local part.
    #[error("must not contain your email address")]
    ContainsEmail,
}

/// The configured password rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Fewest characters (`PASSWORD_MIN_LENGTH`).
    pub min_chars: usize,
}

impl PasswordPolicy {
    /// Checks a new password for the account with `email`.
    ///
    /// # Errors
    /// The first rule it breaks.
    pub fn check(&self, password: &Password, email: &Email) -> Result<(), PasswordRejection> {
        let plain = password.expose();
        let chars = plain.chars().count();
        if chars < self.min_chars {
            return Err(PasswordRejection::TooShort(self.min_chars));
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(PasswordRejection::TooLong);
        }
        let lowered = plain.to_lowercase();
        if COMMON.contains(lowered.as_str()) {
            return Err(PasswordRejection::Common);
        }
        let local = email.local_part();
        if local.chars().count() >= MIN_LOCAL_PART_CHECKED && lowered.contains(local) {
            return Err(PasswordRejection::ContainsEmail);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: PasswordPolicy = PasswordPolicy { min_chars: 12 };

    fn check(password: &str, email: &str) -> Result<(), PasswordRejection> {
        POLICY.check(
            &Password::new(password.into()),
            &Email::parse(email).unwrap(),
        )
    }

    #[test]
    fn accepts_a_long_uncommon_password_without_composition_rules() {
        assert_eq!(
            check("correct horse battery staple", "ada@example.com"),
            Ok(())
        );
        assert_eq!(check("alllowercaseletters", "ada@example.com"), Ok(()));
    }

    #[test]
    fn enforces_the_length_window_in_characters() {
        assert_eq!(
            check("short", "ada@example.com"),
            Err(PasswordRejection::TooShort(12))
        );
        // Twelve characters, more bytes: counts as twelve.
        assert_eq!(check("ééééééééééé1", "ada@example.com"), Ok(()));
        assert_eq!(
            check(&"x".repeat(129), "ada@example.com"),
            Err(PasswordRejection::TooLong)
        );
        assert_eq!(check(&"xy".repeat(64), "ada@example.com"), Ok(()));
    }

    #[test]
    fn rejects_common_passwords_case_insensitively() {
        assert_eq!(
            check("password1234", "ada@example.com"),
            Err(PasswordRejection::Common)
        );
        assert_eq!(
            check("QWERTYUIOP123", "ada@example.com"),
            Err(PasswordRejection::Common)
        );
    }

    #[test]
    fn rejects_passwords_containing_the_local_part() {
        assert_eq!(
            check("my-ada.lovelace-pass", "Ada.Lovelace@example.com"),
            Err(PasswordRejection::ContainsEmail)
        );
        // Too short a local part to search for.
        assert_eq!(check("a perfectly fine phrase", "a@example.com"), Ok(()));
    }
}
