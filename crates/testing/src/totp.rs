//! TOTP codes as an authenticator app makes them, for tests of the TOTP factor.

use totp_rs::{Algorithm, Builder, Secret};

/// The 6-digit RFC 6238 code (SHA-1, 30 s steps) of `secret_base32` at unix time `at`.
///
/// # Panics
/// When the secret is not base32 of at least 128 bits.
#[must_use]
pub fn totp_code(secret_base32: &str, at: u64) -> String {
    #[expect(
        clippy::expect_used,
        reason = "test support: a bad secret is a broken test"
    )]
    let secret = Secret::try_from_base32(secret_base32).expect("a base32 TOTP secret");
    #[expect(
        clippy::expect_used,
        reason = "test support: a bad secret is a broken test"
    )]
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(secret)
        .build()
        .expect("a TOTP secret of at least 128 bits");
    totp.generate(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_last_six_digits_of_the_rfc_6238_sha1_vectors() {
        // base32 of "12345678901234567890", the RFC's SHA-1 secret.
        let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

        assert_eq!(totp_code(secret, 59), "287082");
        assert_eq!(totp_code(secret, 1_111_111_109), "081804");
        assert_eq!(totp_code(secret, 2_000_000_000), "279037");
    }
}
