//! Secrets that cross the boundary: a plaintext password on its way to the hasher, a
//! bearer token, an access token, a TOTP secret and recovery codes on their way to the
//! client. None can be printed by
//! accident.

use std::fmt;

/// A string secret: `new` wraps it, `expose` hands it to the one place it must go, and
/// `Debug` prints only the type's name; there is no `Display`.
macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident { new: $new_doc:literal, expose: $expose_doc:literal }) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            #[doc = $new_doc]
            #[must_use]
            pub fn new(secret: String) -> Self {
                Self(secret)
            }

            #[doc = $expose_doc]
            #[must_use]
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret_string! {
    /// A plaintext password as the user typed it.
    Password {
        new: "Wraps what the user sent.",
        expose: "The plaintext, for the hasher and the password policy only."
    }
}

secret_string! {
    /// A bearer token (256 random bits, base64url) handed to the client once. Only its
    /// hash is stored.
    BearerToken {
        new: "Wraps a token string (freshly generated, or as presented by a client).",
        expose: "The token, for the response body and the hash function only."
    }
}

secret_string! {
    /// A TOTP secret (base32, or inside an `otpauth://` URI) on its way to the user, once.
    TotpSecret {
        new: "Wraps a freshly made secret.",
        expose: "The secret, for the enrolment answer only."
    }
}

secret_string! {
    /// A recovery code: made for the user once, or typed by them; only its hash is
    /// stored.
    RecoveryCode {
        new: "Wraps a code (freshly generated, or as the user typed it).",
        expose: "The code, for the enrolment answer and the hash function only."
    }
}

secret_string! {
    /// A signed access token (a JWT) in compact form.
    AccessToken {
        new: "Wraps a compact token.",
        expose: "The token, for the response body only."
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        assert!(!format!("{:?}", Password::new("hunter2hunter2".into())).contains("hunter2"));
        assert!(!format!("{:?}", BearerToken::new("abcdef".into())).contains("abcdef"));
    }

    #[test]
    fn debug_names_only_the_type_of_an_access_token() {
        let token = format!("{:?}", AccessToken::new("eyJhbGciOi.x.y".into()));
        assert_eq!(token, "AccessToken(<redacted>)");
    }
}
