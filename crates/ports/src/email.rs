//! The email address value object: parsed once, stored normalised (trimmed, lower-cased),
//! so uniqueness is case-insensitive everywhere.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest address SMTP can carry (RFC 5321 path limit less the brackets).
pub const MAX_EMAIL_LEN: usize = 254;

/// A syntactically valid, normalised email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// Why a string is not an acceptable email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but whitespace.
    #[error("email is empty")]
    Empty,
    /// Longer than [`MAX_EMAIL_LEN`] characters.
    #[error("email is longer than {MAX_EMAIL_LEN} characters")]
    TooLong,
    /// Not of the form `local@domain`, or contains whitespace or control characters.
    #[error("email is not a valid address")]
    Invalid,
}

impl Email {
    /// Trims and lower-cases `raw`, then checks its shape: one `@` between a non-empty
    /// local part and a dotted domain, no whitespace or control characters.
    ///
    /// # Errors
    /// The [`EmailError`] naming what is wrong.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(EmailError::Empty);
        }
        if email.chars().count() > MAX_EMAIL_LEN {
            return Err(EmailError::TooLong);
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(EmailError::Invalid);
        };
        let well_formed = !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !email.chars().any(|c| c.is_whitespace() || is_invisible(c));
        if well_formed {
            Ok(Self(email))
        } else {
            Err(EmailError::Invalid)
        }
    }

    /// The normalised address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`, which a password must not contain.
    #[must_use]
    pub fn local_part(&self) -> &str {
        self.0
            .split_once('@')
            .map_or(self.0.as_str(), |(local, _)| local)
    }
}

/// Control characters and the invisible format characters (zero-width spaces and
/// joiners, bidirectional overrides, word joiners, the BOM) that make two strings look
/// alike: never acceptable in an address or a name.
#[must_use]
pub fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}')
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_trims_and_lowercases() {
        let email = Email::parse("  Alice.Smith@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "alice.smith@example.com");
        assert_eq!(email.local_part(), "alice.smith");
    }

    #[test]
    fn parse_rejects_malformed_addresses() {
        for raw in [
            "",
            "   ",
            "alice",
            "@example.com",
            "alice@",
            "alice@example",
            "a@b@c.com",
            "alice smith@example.com",
            "alice@.example.com",
            "alice@example..com",
            "alice@example.com.",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?} should be rejected");
        }
    }

    #[test]
    fn parse_enforces_the_length_limit() {
        let at_limit = format!("{}@example.com", "a".repeat(MAX_EMAIL_LEN - 12));
        assert!(Email::parse(&at_limit).is_ok());
        let over = format!("a{at_limit}");
        assert_eq!(Email::parse(&over), Err(EmailError::TooLong));
    }

    #[test]
    fn deserialising_normalises_too() {
        let email: Email = serde_json::from_str("\"Bob@Example.org\"").unwrap();
        assert_eq!(email.as_str(), "bob@example.org");
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Well-formed ASCII addresses in mixed case with blanks around them, some of
        /// them past the length limit.
        fn address() -> impl Strategy<Value = String> {
            "[ \t]{0,2}[a-zA-Z0-9._%+-]{1,240}@[a-zA-Z0-9-]{1,12}(\\.[a-zA-Z0-9-]{1,12}){1,3}[ \t]{0,2}"
        }

        /// Strings shaped almost like addresses, from a small alphabet: parts may be
        /// empty, `@` and `.` may repeat.
        fn near_address() -> impl Strategy<Value = String> {
            "[ \t]?[a.@]{0,2}@[b.@]{1,4}[ \t]?"
        }

        /// A character to put into an address: any, or one its shape depends on.
        fn edit() -> impl Strategy<Value = char> {
            prop_oneof![
                any::<char>(),
                prop::sample::select(vec!['.', '@', ' ', '\u{200B}', '\u{202E}', 'K']),
            ]
        }

        /// Anything: arbitrary characters (controls, invisible and non-ASCII ones
        /// included), addresses and near misses, and addresses with one character
        /// replaced or inserted.
        fn raw() -> impl Strategy<Value = String> {
            prop_oneof![
                proptest::collection::vec(any::<char>(), 0..300).prop_map(String::from_iter),
                address(),
                near_address(),
                (
                    address(),
                    any::<prop::sample::Index>(),
                    edit(),
                    any::<bool>()
                )
                    .prop_map(|(address, at, c, replace)| {
                        let mut chars: Vec<char> = address.chars().collect();
                        let i = at.index(chars.len());
                        if replace {
                            chars[i] = c;
                        } else {
                            chars.insert(i, c);
                        }
                        String::from_iter(chars)
                    }),
            ]
        }

        proptest! {
            // Parsing takes microseconds: enough cases to hit the rare shapes.
            #![proptest_config(ProptestConfig::with_cases(1024))]

            #[test]
            fn an_accepted_address_has_the_documented_shape(raw in raw()) {
                let Ok(email) = Email::parse(&raw) else { return Ok(()) };
                let text = email.as_str();
                prop_assert_eq!(text, raw.trim().to_lowercase());
                prop_assert!(text.chars().count() <= MAX_EMAIL_LEN);
                prop_assert_eq!(text.matches('@').count(), 1);
                let (local, domain) = text.split_once('@').unwrap();
                prop_assert!(!local.is_empty());
                prop_assert_eq!(email.local_part(), local);
                prop_assert!(domain.split('.').count() >= 2);
                prop_assert!(domain.split('.').all(|label| !label.is_empty()));
                prop_assert!(!text.chars().any(|c| c.is_whitespace() || is_invisible(c)));
            }

            #[test]
            fn parsing_is_idempotent_and_serde_agrees_with_it(raw in raw()) {
                let parsed = Email::parse(&raw);
                let deserialised = serde_json::from_value::<Email>(raw.clone().into());
                prop_assert_eq!(deserialised.ok(), parsed.clone().ok());
                if let Ok(email) = parsed {
                    prop_assert_eq!(Email::parse(email.as_str()), Ok(email.clone()));
                    let json = serde_json::to_string(&email).unwrap();
                    prop_assert_eq!(serde_json::from_str::<Email>(&json).unwrap(), email);
                }
            }

            #[test]
            fn a_rejection_names_the_right_reason(raw in raw()) {
                let trimmed = raw.trim();
                match Email::parse(&raw) {
                    Err(EmailError::Empty) => prop_assert!(trimmed.is_empty()),
                    Err(EmailError::TooLong) => {
                        prop_assert!(trimmed.to_lowercase().chars().count() > MAX_EMAIL_LEN);
                    }
                    Err(EmailError::Invalid) | Ok(_) => prop_assert!(!trimmed.is_empty()),
                }
            }

            #[test]
            fn well_formed_addresses_within_the_limit_are_accepted(raw in address()) {
                let parsed = Email::parse(&raw);
                if raw.trim().len() <= MAX_EMAIL_LEN {
                    prop_assert_eq!(parsed.clone().map(String::from), Ok(raw.trim().to_lowercase()));
                } else {
                    prop_assert_eq!(parsed.clone(), Err(EmailError::TooLong));
                }
                prop_assert_eq!(Email::parse(&raw.to_uppercase()), parsed, "case does not matter");
            }
        }
    }
}
