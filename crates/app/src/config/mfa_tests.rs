use super::super::secret::BASE64_STANDARD;
use super::super::tests::{load, problem_vars};
use super::*;
use base64::Engine as _;

#[test]
fn the_secret_key_is_32_bytes_of_base64() {
    let key = BASE64_STANDARD.encode([9u8; 32]);
    let config = load(&[("MFA_SECRET_KEY", key.as_str())]).unwrap();

    assert_eq!(config.mfa.secret_key.unwrap().expose(), &[9u8; 32]);
}

#[test]
fn the_rp_id_defaults_to_the_public_host_and_the_origins_to_authd_and_the_apps() {
    let config = load(&[
        ("AUTHD_PUBLIC_URL", "http://localhost:41234"),
        ("CORS_ALLOWED_ORIGINS", "http://localhost:3000"),
    ])
    .unwrap();

    assert_eq!(config.mfa.rp_name, "authd");
    assert_eq!(
        config.mfa.webauthn,
        Some(WebauthnConfig {
            rp_id: "localhost".to_owned(),
            origins: vec![
                "http://localhost:41234".to_owned(),
                "http://localhost:3000".to_owned()
            ],
            left_out: vec![],
        })
    );
}

#[test]
fn an_rp_id_may_cover_authd_and_apps_on_sibling_subdomains() {
    let config = load(&[
        ("AUTHD_PUBLIC_URL", "https://auth.example.com/base"),
        (
            "CORS_ALLOWED_ORIGINS",
            "https://app.example.com,https://example.com",
        ),
        ("WEBAUTHN_RP_ID", "Example.COM"),
        ("WEBAUTHN_RP_NAME", "Example: Sign-in"),
    ])
    .unwrap();

    assert_eq!(config.mfa.rp_name, "Example: Sign-in");
    let webauthn = config.mfa.webauthn.unwrap();
    assert_eq!(webauthn.rp_id, "example.com");
    assert_eq!(
        webauthn.origins,
        [
            "https://auth.example.com",
            "https://app.example.com",
            "https://example.com"
        ]
    );
}

#[test]
fn apps_off_the_rp_id_are_left_out_of_passkeys() {
    // The default RP ID is authd's own host, which an app's origin is not under.
    let config = load(&[
        ("AUTHD_PUBLIC_URL", "https://auth.example.com"),
        (
            "CORS_ALLOWED_ORIGINS",
            "https://app.example.com,https://sub.auth.example.com",
        ),
    ])
    .unwrap();

    let webauthn = config.mfa.webauthn.unwrap();
    assert_eq!(
        webauthn.origins,
        ["https://auth.example.com", "https://sub.auth.example.com"]
    );
    assert_eq!(webauthn.left_out, ["https://app.example.com"]);
}

#[test]
fn an_rp_id_authd_itself_is_not_on_is_a_config_error() {
    let err = load(&[
        ("AUTHD_PUBLIC_URL", "https://auth.example.com"),
        ("WEBAUTHN_RP_ID", "example.org"),
    ])
    .unwrap_err();

    assert_eq!(problem_vars(&err), ["WEBAUTHN_RP_ID"]);
    assert!(
        err.problems()[0]
            .message
            .contains("https://auth.example.com is not on example.org"),
        "{err}"
    );
}

#[test]
fn an_ip_address_public_url_turns_passkeys_off_unless_an_rp_id_is_asked_for() {
    let config = load(&[("AUTHD_PUBLIC_URL", "http://[::1]:8080")]).unwrap();
    assert_eq!(config.mfa.webauthn, None);

    let err = load(&[
        ("AUTHD_PUBLIC_URL", "http://[::1]:8080"),
        ("WEBAUTHN_RP_ID", "localhost"),
    ])
    .unwrap_err();
    assert_eq!(problem_vars(&err), ["WEBAUTHN_RP_ID"]);
}

#[test]
fn a_bad_public_url_is_not_reported_again_for_webauthn() {
    let err = load(&[("AUTHD_PUBLIC_URL", "ftp://example.com")]).unwrap_err();

    assert_eq!(problem_vars(&err), ["AUTHD_PUBLIC_URL"]);
}
