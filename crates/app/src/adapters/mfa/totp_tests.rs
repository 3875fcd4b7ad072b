use super::*;
use auth_testing::totp_code;

/// The RFC 6238 appendix B secret for SHA-1.
const RFC_SECRET: &[u8] = b"12345678901234567890";

fn adapter() -> SealedTotpAuthenticator {
    SealedTotpAuthenticator::new(&[3; 32], "authd")
}

fn at(unix: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix, 0).unwrap()
}

fn email() -> Email {
    Email::parse("ada@example.com").unwrap()
}

#[test]
fn codes_of_the_rfc_6238_vectors_are_accepted_at_their_step() {
    let totp = adapter();
    let user = UserId::new();
    let sealed = totp.sealer.seal(RFC_SECRET, &secret_context(user));

    // Appendix B's 8-digit SHA-1 codes, of which a 6-digit code is the last six digits.
    for (time, code, step) in [
        (59, "287082", 1),
        (1_111_111_109, "081804", 37_037_036),
        (1_111_111_111, "050471", 37_037_037),
        (1_234_567_890, "005924", 41_152_263),
        (2_000_000_000, "279037", 66_666_666),
    ] {
        assert_eq!(
            totp.check(user, &sealed, code, at(time)).unwrap(),
            Some(step),
            "{time}"
        );
    }
    assert_eq!(totp.check(user, &sealed, "287083", at(59)).unwrap(), None);
}

#[test]
fn one_step_of_skew_is_accepted_and_two_are_not() {
    let totp = adapter();
    let user = UserId::new();
    let fresh = totp.generate(user, &email());
    let step: i64 = 57_000_000;
    let code = totp_code(fresh.secret.expose(), 30 * 57_000_000 + 7);

    for (offset, expected) in [
        (-2, None),
        (-1, Some(step)),
        (0, Some(step)),
        (1, Some(step)),
        (2, None),
    ] {
        let now = at(30 * (step + offset) + 29);
        assert_eq!(
            totp.check(user, &fresh.sealed, &code, now).unwrap(),
            expected,
            "offset {offset}"
        );
    }
}

#[test]
fn a_code_that_is_not_six_ascii_digits_is_wrong() {
    let totp = adapter();
    let user = UserId::new();
    let sealed = totp.sealer.seal(RFC_SECRET, &secret_context(user));

    for code in [
        "",
        "28708",
        "2870820",
        " 287082",
        "287082 ",
        "+87082",
        "28708a",
        "２８７０８２",
        "28 082",
    ] {
        assert_eq!(
            totp.check(user, &sealed, code, at(59)).unwrap(),
            None,
            "{code:?}"
        );
    }
}

#[test]
fn a_sealed_secret_opens_only_for_its_user_under_its_key() {
    let totp = adapter();
    let user = UserId::new();
    let fresh = totp.generate(user, &email());
    let code = totp_code(fresh.secret.expose(), 1_000_000);

    assert!(
        totp.check(user, &fresh.sealed, &code, at(1_000_000))
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        totp.check(UserId::new(), &fresh.sealed, &code, at(1_000_000)),
        Err(SecondFactorError::Failed(_))
    ));
    let other_key = SealedTotpAuthenticator::new(&[4; 32], "authd");
    assert!(matches!(
        other_key.check(user, &fresh.sealed, &code, at(1_000_000)),
        Err(SecondFactorError::Failed(_))
    ));
}

#[test]
fn a_fresh_secret_is_160_random_bits_shown_in_base32_and_an_otpauth_uri() {
    let totp = SealedTotpAuthenticator::new(&[3; 32], "Example: Sign-in");
    let user = UserId::new();
    let fresh = totp.generate(user, &email());
    let secret = fresh.secret.expose();

    assert_eq!(secret.len(), 32, "20 bytes are 32 base32 digits");
    assert!(
        secret
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    );
    assert_eq!(
        fresh.otpauth_uri.expose(),
        format!(
            "otpauth://totp/Example_%20Sign-in:ada%40example.com?secret={secret}&issuer=Example_%20Sign-in"
        )
    );
    assert_ne!(totp.generate(user, &email()).secret, fresh.secret);
    let parsed = totp_rs::Totp::from_url(fresh.otpauth_uri.expose()).unwrap();
    assert_eq!(parsed.digits(), 6);
    assert_eq!(parsed.step(), 30);
    assert_eq!(parsed.algorithm(), Algorithm::SHA1);
}
