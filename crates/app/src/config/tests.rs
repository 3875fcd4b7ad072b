use super::database::DEFAULT_DATABASE_URL;
use super::secret::BASE64_STANDARD;
use super::*;
use base64::Engine as _;
use ipnet::IpNet;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

pub(super) fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_vars(|name| vars.get(name).cloned())
}

pub(super) fn problem_vars(err: &ConfigError) -> Vec<&str> {
    err.problems().iter().map(|p| p.variable.as_str()).collect()
}

fn pg_parts() -> Vec<(&'static str, &'static str)> {
    vec![
        ("DB_HOST", "db.internal"),
        ("DB_PORT", "6543"),
        ("DB_NAME", "authd"),
        ("DB_USER", "auth user"),
        ("DB_PASSWORD", "p@ss:w/rd%"),
        ("DB_SSLMODE", "verify-full"),
    ]
}

#[test]
fn nothing_set_gives_every_default() {
    let config = load(&[]).unwrap();

    assert_eq!(
        config.database,
        DatabaseConfig {
            url: CredentialUrl("sqlite://authd.db?mode=rwc".to_owned()),
            max_connections: 20,
            min_connections: 1,
            idle_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            auto_migrate: true,
        }
    );
    assert_eq!(
        config.http,
        HttpConfig {
            bind: "127.0.0.1:8080".parse().unwrap(),
            public_url: "http://127.0.0.1:8080".to_owned(),
            trusted_proxies: vec![],
            cors_allowed_origins: vec![],
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
        }
    );
    assert_eq!(
        config.session,
        SessionConfig {
            ttl: Duration::from_secs(43_200),
            idle_timeout: Duration::from_secs(1_800),
        }
    );
    assert_eq!(
        config.tokens,
        OneTimeTokenConfig {
            email_verification_ttl: Duration::from_secs(86_400),
            password_reset_ttl: Duration::from_secs(1_800),
        }
    );
    assert_eq!(
        config.accounts,
        AccountPolicyConfig {
            require_verified_email: false,
            password_min_length: 12,
        }
    );
    assert_eq!(
        config.lockout,
        LockoutConfig {
            threshold: 5,
            global_threshold: 50,
            duration: Duration::from_secs(900),
        }
    );
    assert_eq!(
        config.argon2,
        Argon2Config {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            max_queue: None,
        }
    );
    assert_eq!(
        config.rate_limit,
        RateLimitConfig {
            redis_url: None,
            login_per_min: 10,
            register_per_min: 10,
            reset_per_hour: 5,
        }
    );
    assert_eq!(config.mail, MailTransport::Log);
    assert_eq!(config.mail_from.to_string(), "authd <no-reply@127.0.0.1>");
    assert_eq!(config.mail_link_base, "http://127.0.0.1:8080");
    assert_eq!(config.audit.retention, Duration::from_secs(90 * 86_400));
    assert!(config.jwt.key.is_none());
    assert_eq!(config.jwt.ttl, Duration::from_secs(300));
    assert!(config.oauth.providers.is_empty());
    assert!(config.oauth.token_key.is_none());
    assert!(config.mfa.secret_key.is_none());
    assert_eq!(config.mfa.rp_name, "authd");
    // The default public URL's host is an IP address, which cannot be an RP ID.
    assert_eq!(config.mfa.webauthn, None);
}

#[test]
fn env_example_gives_the_defaults() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.env.example");
    let vars: HashMap<String, String> = dotenvy::from_path_iter(path)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let config = Config::from_vars(|name| vars.get(name).cloned()).unwrap();

    assert_eq!(format!("{config:?}"), format!("{:?}", load(&[]).unwrap()));
    assert!(vars.contains_key("OAUTH_TOKEN_KEY"));
}

#[test]
fn blank_values_count_as_unset() {
    let config = load(&[
        ("DATABASE_URL", ""),
        ("JWT_SECRET", ""),
        ("SESSION_TTL_SECS", "  "),
        ("OAUTH_PROVIDERS", ""),
    ])
    .unwrap();

    assert_eq!(config.database.url.expose(), DEFAULT_DATABASE_URL);
    assert!(config.jwt.key.is_none());
    assert_eq!(config.session.ttl, Duration::from_secs(43_200));
}

#[test]
fn every_variable_is_read() {
    let config = load(&[
        ("DB_MAX_CONNECTIONS", "5"),
        ("DB_MIN_CONNECTIONS", "0"),
        ("DB_IDLE_TIMEOUT_SECS", "60"),
        ("DB_CONNECT_TIMEOUT_SECS", "3"),
        ("AUTHD_BIND", "[::]:0"),
        ("AUTHD_AUTO_MIGRATE", "No"),
        ("SESSION_TTL_SECS", "3600"),
        ("SESSION_IDLE_TIMEOUT_SECS", "600"),
        ("AUTHD_PUBLIC_URL", "https://auth.example.com/base/"),
        ("VERIFY_TOKEN_TTL_SECS", "7200"),
        ("RESET_TOKEN_TTL_SECS", "900"),
        ("REQUIRE_VERIFIED_EMAIL", "YES"),
        ("LOCKOUT_THRESHOLD", "3"),
        ("LOCKOUT_GLOBAL_THRESHOLD", "7"),
        ("LOCKOUT_DURATION_SECS", "60"),
        ("PASSWORD_MIN_LENGTH", "8"),
        ("ARGON2_MEMORY_KIB", "65536"),
        ("ARGON2_ITERATIONS", "3"),
        ("ARGON2_PARALLELISM", "4"),
        ("ARGON2_MAX_QUEUE", "8"),
        ("REDIS_URL", "redis://cache:6379/0"),
        ("RATE_LIMIT_LOGIN_PER_MIN", "20"),
        ("RATE_LIMIT_REGISTER_PER_MIN", "2"),
        ("RATE_LIMIT_RESET_PER_HOUR", "1"),
        ("MAIL_TRANSPORT", "file:/var/spool/authd"),
        ("MAIL_FROM", "Example Sign-in <accounts@example.com>"),
        ("MAIL_LINK_BASE", "https://app.example.com/account/"),
        ("TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16,::1,fd00::/8"),
        ("HTTP_HEADER_READ_TIMEOUT_SECS", "5"),
        ("HTTP_MAX_CONNECTIONS", "100"),
        ("AUDIT_RETENTION_DAYS", "1"),
        ("JWT_PRIVATE_KEY_FILE", "/etc/authd/jwt.pem"),
        (
            "JWT_PREVIOUS_KEY_FILES",
            "/etc/authd/old.pem, ,/etc/authd/older.pub.pem",
        ),
        ("JWT_TTL_SECS", "60"),
    ])
    .unwrap();

    assert_eq!(config.database.max_connections, 5);
    assert_eq!(config.database.min_connections, 0);
    assert_eq!(config.database.idle_timeout, Duration::from_secs(60));
    assert_eq!(config.database.connect_timeout, Duration::from_secs(3));
    assert!(!config.database.auto_migrate);
    assert_eq!(config.http.bind, "[::]:0".parse().unwrap());
    assert_eq!(config.http.public_url, "https://auth.example.com/base");
    assert_eq!(config.http.header_read_timeout, Duration::from_secs(5));
    assert_eq!(config.http.max_connections, 100);
    assert_eq!(
        config.http.trusted_proxies,
        vec![
            "10.0.0.1/32".parse::<IpNet>().unwrap(),
            "192.168.0.0/16".parse().unwrap(),
            "::1/128".parse().unwrap(),
            "fd00::/8".parse().unwrap(),
        ]
    );
    assert_eq!(config.session.ttl, Duration::from_secs(3600));
    assert_eq!(config.session.idle_timeout, Duration::from_secs(600));
    assert_eq!(
        config.tokens.email_verification_ttl,
        Duration::from_secs(7200)
    );
    assert_eq!(config.tokens.password_reset_ttl, Duration::from_secs(900));
    assert!(config.accounts.require_verified_email);
    assert_eq!(config.accounts.password_min_length, 8);
    assert_eq!(config.lockout.threshold, 3);
    assert_eq!(config.lockout.global_threshold, 7);
    assert_eq!(config.lockout.duration, Duration::from_secs(60));
    assert_eq!(
        config.argon2,
        Argon2Config {
            memory_kib: 65_536,
            iterations: 3,
            parallelism: 4,
            max_queue: Some(8),
        }
    );
    assert_eq!(
        config
            .rate_limit
            .redis_url
            .as_ref()
            .map(CredentialUrl::expose),
        Some("redis://cache:6379/0")
    );
    assert_eq!(config.rate_limit.login_per_min, 20);
    assert_eq!(config.rate_limit.register_per_min, 2);
    assert_eq!(config.rate_limit.reset_per_hour, 1);
    assert_eq!(
        config.mail,
        MailTransport::File(PathBuf::from("/var/spool/authd"))
    );
    assert_eq!(
        config.mail_from.to_string(),
        "Example Sign-in <accounts@example.com>"
    );
    assert_eq!(config.mail_link_base, "https://app.example.com/account");
    assert_eq!(config.audit.retention, Duration::from_secs(86_400));
    assert!(matches!(
        config.jwt.key,
        Some(JwtKey::Ed25519 { ref key_file, ref previous_key_files })
            if key_file == &PathBuf::from("/etc/authd/jwt.pem")
                && previous_key_files == &[
                    PathBuf::from("/etc/authd/old.pem"),
                    PathBuf::from("/etc/authd/older.pub.pem"),
                ]
    ));
    assert_eq!(config.jwt.ttl, Duration::from_secs(60));
}

#[test]
fn db_parts_build_a_postgres_url_with_encoded_credentials() {
    let config = load(&pg_parts()).unwrap();

    assert_eq!(
        config.database.url.expose(),
        "postgres://auth%20user:p%40ss%3Aw%2Frd%25@db.internal:6543/authd?sslmode=verify-full"
    );
    let parsed = Url::parse(config.database.url.expose()).unwrap();
    assert_eq!(parsed.host_str(), Some("db.internal"));
    assert_eq!(parsed.port(), Some(6543));
}

#[test]
fn db_parts_default_the_port_and_leave_out_password_and_sslmode() {
    let config = load(&[
        ("DB_HOST", "::1"),
        ("DB_NAME", "authd"),
        ("DB_USER", "authd"),
    ])
    .unwrap();

    assert_eq!(
        config.database.url.expose(),
        "postgres://authd@[::1]:5432/authd"
    );
}

#[test]
fn database_url_wins_over_db_parts() {
    let mut vars = pg_parts();
    vars.push(("DATABASE_URL", "postgres://app:secret@primary/authd"));
    let config = load(&vars).unwrap();

    assert_eq!(
        config.database.url.expose(),
        "postgres://app:secret@primary/authd"
    );
}

#[test]
fn db_host_without_name_and_user_reports_both() {
    let err = load(&[("DB_HOST", "db")]).unwrap_err();

    assert_eq!(problem_vars(&err), ["DB_NAME", "DB_USER"]);
}

#[test]
fn each_bad_value_is_reported_by_name() {
    // One row per case: (variable, value, expected part of the message).
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str)] = &[
        ("SESSION_TTL_SECS", "abc", r#"expected a positive integer, got "abc""#),
        ("SESSION_IDLE_TIMEOUT_SECS", "-5", "expected a positive integer"),
        ("DB_IDLE_TIMEOUT_SECS", "0", r#"expected a positive integer, got "0""#),
        ("DB_CONNECT_TIMEOUT_SECS", "1.5", "expected a positive integer"),
        ("VERIFY_TOKEN_TTL_SECS", "99999999999", "must be between 1 and 315360000, got 99999999999"),
        ("RESET_TOKEN_TTL_SECS", "0", "expected a positive integer"),
        ("DB_MAX_CONNECTIONS", "0", "expected a positive integer"),
        ("DB_MIN_CONNECTIONS", "21", "must not exceed DB_MAX_CONNECTIONS (20)"),
        ("DB_MIN_CONNECTIONS", "x", "expected a non-negative integer"),
        ("DATABASE_URL", "mysql://db/authd", "expected a sqlite: or postgres:// URL"),
        ("DATABASE_URL", "not a url", "not a valid URL"),
        ("AUTHD_BIND", "localhost", "expected an address and port"),
        ("HTTP_HEADER_READ_TIMEOUT_SECS", "601", "must be between 1 and 600, got 601"),
        ("HTTP_MAX_CONNECTIONS", "0", "expected a positive integer"),
        ("AUTHD_AUTO_MIGRATE", "maybe", r#"expected true/false/1/0/yes/no, got "maybe""#),
        ("REQUIRE_VERIFIED_EMAIL", "2", "expected true/false/1/0/yes/no"),
        ("AUTHD_PUBLIC_URL", "ftp://example.com", "expected an http(s) URL"),
        ("AUTHD_PUBLIC_URL", "example.com", "expected an http(s) URL"),
        ("AUTHD_PUBLIC_URL", "https://example.com/?a=b", "must not have a query"),
        ("LOCKOUT_THRESHOLD", "0", "expected a positive integer"),
        ("LOCKOUT_GLOBAL_THRESHOLD", "4", "must be at least LOCKOUT_THRESHOLD (5), got 4"),
        ("LOCKOUT_DURATION_SECS", "soon", "expected a positive integer"),
        ("PASSWORD_MIN_LENGTH", "7", "must be between 8 and 128, got 7"),
        ("PASSWORD_MIN_LENGTH", "129", "must be between 8 and 128, got 129"),
        ("ARGON2_MEMORY_KIB", "4", "must be between 8 and 4194304, got 4"),
        ("ARGON2_ITERATIONS", "0", "expected a positive integer"),
        ("ARGON2_PARALLELISM", "65", "must be between 1 and 64, got 65"),
        ("ARGON2_MAX_QUEUE", "0", "expected a positive integer"),
        ("REDIS_URL", "http://cache:6379", "expected a redis:// or rediss:// URL"),
        ("RATE_LIMIT_LOGIN_PER_MIN", "0", "expected a positive integer"),
        ("RATE_LIMIT_REGISTER_PER_MIN", "ten", "expected a positive integer"),
        ("RATE_LIMIT_RESET_PER_HOUR", "0", "expected a positive integer"),
        ("MAIL_TRANSPORT", "file:", "expected a directory after file:"),
        ("MAIL_TRANSPORT", "sendmail", "expected log, file:<dir>, smtp://"),
        ("MAIL_TRANSPORT", "smtp://", "expected a host"),
        ("MAIL_TRANSPORT", "smtp://u:p@mail.example.com", "need an encrypted connection"),
        ("MAIL_FROM", "no-reply", r#"expected an address such as `authd <no-reply@example.com>`, got "no-reply""#),
        ("MAIL_FROM", "authd <no-reply@>", "got \"authd <no-reply@>\""),
        ("MAIL_LINK_BASE", "app.example.com", r#"expected an http(s) URL"#),
        ("MAIL_LINK_BASE", "javascript:alert(1)", "expected an http(s) URL"),
        ("MAIL_LINK_BASE", "https://app.example.com/#/account", "must not have a query or fragment"),
        ("MAIL_LINK_BASE", "https://user:pw@app.example.com", "must not contain credentials"),
        ("TRUSTED_PROXIES", "10.0.0.1,proxy.local", r#"got "proxy.local""#),
        ("TRUSTED_PROXIES", "10.0.0.0/33", r#"got "10.0.0.0/33""#),
        ("AUDIT_RETENTION_DAYS", "0", "expected a positive integer"),
        ("JWT_SECRET", "too-short", "must be at least 32 bytes, got 9"),
        ("JWT_TTL_SECS", "0", "expected a positive integer"),
        ("OAUTH_PROVIDERS", "Google", r#"got "Google""#),
        ("OAUTH_TOKEN_KEY", "not base64!", "invalid base64"),
        ("OAUTH_TOKEN_KEY", "AAAAAAAAAAAAAAAAAAAAAA==", "got 16 bytes"),
        ("MFA_SECRET_KEY", "not base64!", "invalid base64"),
        ("MFA_SECRET_KEY", "AAAAAAAAAAAAAAAAAAAAAA==", "got 16 bytes"),
        ("WEBAUTHN_RP_ID", "127.0.0.1", r#"expected a domain name such as example.com, got "127.0.0.1""#),
        ("WEBAUTHN_RP_ID", "example.com:8443", "expected a domain name"),
        ("WEBAUTHN_RP_ID", "https://example.com", "expected a domain name"),
        ("WEBAUTHN_RP_ID", "localhost", "origin http://127.0.0.1:8080 is not on localhost"),
    ];
    for &(variable, value, expected) in cases {
        let err = load(&[(variable, value)]).unwrap_err();

        assert_eq!(
            problem_vars(&err),
            [variable],
            "{variable}={value:?} gave {err}"
        );
        assert!(
            err.problems()[0].message.contains(expected),
            "{variable}={value:?}: {:?} does not contain {expected:?}",
            err.problems()[0].message
        );
    }
}

#[test]
fn bad_sslmode_is_reported() {
    let mut vars = pg_parts();
    vars.retain(|(k, _)| *k != "DB_SSLMODE");
    vars.push(("DB_SSLMODE", "always"));
    let err = load(&vars).unwrap_err();

    assert_eq!(problem_vars(&err), ["DB_SSLMODE"]);
    assert!(err.to_string().contains("verify-full"));
}

#[test]
fn argon2_below_owasp_minimum_is_refused_unless_allowed() {
    let weak = [("ARGON2_MEMORY_KIB", "19455"), ("ARGON2_ITERATIONS", "1")];
    let err = load(&weak).unwrap_err();
    assert_eq!(
        problem_vars(&err),
        ["ARGON2_MEMORY_KIB", "ARGON2_ITERATIONS"]
    );
    assert!(
        err.problems()[0].message.contains("at least 19456"),
        "{err}"
    );
    assert!(
        err.problems()[1].message.contains("ARGON2_ALLOW_WEAK=true"),
        "{err}"
    );

    let allowed = load(&[weak[0], weak[1], ("ARGON2_ALLOW_WEAK", "true")]).unwrap();
    assert_eq!(allowed.argon2.memory_kib, 19_455);
    assert_eq!(allowed.argon2.iterations, 1);
    let refused = load(&[weak[1], ("ARGON2_ALLOW_WEAK", "false")]).unwrap_err();
    assert_eq!(problem_vars(&refused), ["ARGON2_ITERATIONS"]);
}

#[test]
fn argon2_memory_below_eight_kib_per_lane_is_reported() {
    let err = load(&[("ARGON2_MEMORY_KIB", "64"), ("ARGON2_PARALLELISM", "16")]).unwrap_err();

    assert_eq!(problem_vars(&err), ["ARGON2_MEMORY_KIB"]);
    assert!(err.to_string().contains("(128), got 64"));
}

#[test]
fn several_bad_values_are_reported_together() {
    let err = load(&[
        ("SESSION_TTL_SECS", "abc"),
        ("AUTHD_BIND", "nowhere"),
        ("PASSWORD_MIN_LENGTH", "4"),
        ("MAIL_TRANSPORT", "pigeon"),
        ("OAUTH_TOKEN_KEY", "short"),
    ])
    .unwrap_err();

    assert_eq!(
        problem_vars(&err),
        [
            "AUTHD_BIND",
            "SESSION_TTL_SECS",
            "PASSWORD_MIN_LENGTH",
            "MAIL_TRANSPORT",
            "OAUTH_TOKEN_KEY",
        ]
    );
    let text = err.to_string();
    assert_eq!(text.lines().count(), 5);
    assert!(text.contains(r#"SESSION_TTL_SECS: expected a positive integer, got "abc""#));
}

#[test]
fn both_jwt_keys_set_is_an_error() {
    let err = load(&[
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ("JWT_PRIVATE_KEY_FILE", "/etc/authd/jwt.pem"),
    ])
    .unwrap_err();

    assert_eq!(problem_vars(&err), ["JWT_SECRET"]);
    assert!(err.to_string().contains("JWT_PRIVATE_KEY_FILE"));
}

#[test]
fn previous_jwt_keys_need_an_ed25519_key() {
    for key in [
        Some(("JWT_SECRET", "0123456789abcdef0123456789abcdef")),
        None,
    ] {
        let mut vars = vec![("JWT_PREVIOUS_KEY_FILES", "/etc/authd/old.pem")];
        vars.extend(key);
        let err = load(&vars).unwrap_err();

        assert_eq!(problem_vars(&err), ["JWT_PREVIOUS_KEY_FILES"], "{key:?}");
        assert!(err.to_string().contains("JWT_PRIVATE_KEY_FILE"));
    }
}

#[test]
fn jwt_secret_of_32_bytes_selects_hs256() {
    let config = load(&[("JWT_SECRET", "0123456789abcdef0123456789abcdef")]).unwrap();

    assert!(matches!(
        config.jwt.key,
        Some(JwtKey::Hs256(ref secret)) if secret.expose() == b"0123456789abcdef0123456789abcdef"
    ));
}

#[test]
fn oauth_providers_are_read_with_default_scopes_and_mapped_names() {
    let config = load(&[
        ("OAUTH_PROVIDERS", "google, my-idp"),
        ("OAUTH_GOOGLE_ISSUER", "https://accounts.google.com"),
        ("OAUTH_GOOGLE_CLIENT_ID", "gid"),
        ("OAUTH_GOOGLE_CLIENT_SECRET", "gsecret"),
        ("OAUTH_MY_IDP_ISSUER", "http://localhost:8081/realms/dev/"),
        ("OAUTH_MY_IDP_CLIENT_ID", "mid"),
        ("OAUTH_MY_IDP_CLIENT_SECRET", "msecret"),
        ("OAUTH_MY_IDP_SCOPES", "openid,email"),
    ])
    .unwrap();

    let google = config.oauth.provider("google").unwrap();
    assert_eq!(google.issuer, "https://accounts.google.com");
    assert_eq!(google.client_id, "gid");
    assert_eq!(google.client_secret.expose(), "gsecret");
    assert_eq!(google.scopes, ["openid", "email", "profile"]);
    let idp = config.oauth.provider("my-idp").unwrap();
    assert_eq!(idp.issuer, "http://localhost:8081/realms/dev/");
    assert_eq!(idp.scopes, ["openid", "email"]);
    assert!(config.oauth.provider("github").is_none());
}

#[test]
fn oauth_provider_with_missing_issuer_is_reported() {
    let err = load(&[
        ("OAUTH_PROVIDERS", "github"),
        ("OAUTH_GITHUB_CLIENT_ID", "id"),
        ("OAUTH_GITHUB_CLIENT_SECRET", "secret"),
    ])
    .unwrap_err();

    assert_eq!(problem_vars(&err), ["OAUTH_GITHUB_ISSUER"]);
    assert_eq!(
        err.to_string(),
        r#"OAUTH_GITHUB_ISSUER: required for OAuth provider "github""#
    );
}

#[test]
fn a_github_provider_needs_no_issuer_and_asks_for_emails() {
    let config = load(&[
        ("OAUTH_PROVIDERS", "github,ghe"),
        ("OAUTH_GITHUB_KIND", "github"),
        ("OAUTH_GITHUB_CLIENT_ID", "id"),
        ("OAUTH_GITHUB_CLIENT_SECRET", "secret"),
        ("OAUTH_GHE_KIND", "github"),
        ("OAUTH_GHE_ISSUER", "https://github.example.com"),
        ("OAUTH_GHE_CLIENT_ID", "id"),
        ("OAUTH_GHE_CLIENT_SECRET", "secret"),
        ("OAUTH_GHE_SCOPES", "user:email"),
    ])
    .unwrap();

    let github = config.oauth.provider("github").unwrap();
    assert_eq!(github.kind, ProviderKind::GitHub);
    assert_eq!(github.issuer, "https://github.com");
    assert_eq!(github.scopes, ["read:user", "user:email"]);
    let ghe = config.oauth.provider("ghe").unwrap();
    assert_eq!(ghe.issuer, "https://github.example.com");
    assert_eq!(
        ghe.scopes,
        ["user:email"],
        "openid is not required of GitHub"
    );
}

#[test]
fn an_unknown_provider_kind_is_reported() {
    let err = load(&[
        ("OAUTH_PROVIDERS", "x"),
        ("OAUTH_X_KIND", "saml"),
        ("OAUTH_X_ISSUER", "https://idp.example.com"),
        ("OAUTH_X_CLIENT_ID", "id"),
        ("OAUTH_X_CLIENT_SECRET", "secret"),
    ])
    .unwrap_err();

    assert_eq!(problem_vars(&err), ["OAUTH_X_KIND"]);
    assert!(
        err.to_string()
            .contains(r#"expected oidc or github, got "saml""#)
    );
}

#[test]
fn oauth_provider_problems_are_all_reported() {
    let err = load(&[
        ("OAUTH_PROVIDERS", "a,b-c,b_c"),
        ("OAUTH_A_ISSUER", "not a url"),
        ("OAUTH_A_SCOPES", "email"),
    ])
    .unwrap_err();

    assert_eq!(
        problem_vars(&err),
        [
            "OAUTH_A_ISSUER",
            "OAUTH_A_CLIENT_ID",
            "OAUTH_A_CLIENT_SECRET",
            "OAUTH_A_SCOPES",
            "OAUTH_B_C_ISSUER",
            "OAUTH_B_C_CLIENT_ID",
            "OAUTH_B_C_CLIENT_SECRET",
            "OAUTH_PROVIDERS",
        ]
    );
}

#[test]
fn oauth_token_key_accepts_base64_of_32_bytes() {
    let key = BASE64_STANDARD.encode([7u8; 32]);
    let config = load(&[("OAUTH_TOKEN_KEY", key.as_str())]).unwrap();

    assert_eq!(config.oauth.token_key.unwrap().expose(), &[7u8; 32]);
}

#[test]
fn mail_transport_keeps_smtp_urls() {
    let config = load(&[("MAIL_TRANSPORT", "smtps://mailer:pw@smtp.example.com:465")]).unwrap();

    assert!(matches!(
        config.mail,
        MailTransport::Smtp(ref url) if url.expose() == "smtps://mailer:pw@smtp.example.com:465"
    ));
}

#[test]
fn mail_from_defaults_to_no_reply_at_the_public_host() {
    for (public_url, expected) in [
        (
            "https://Auth.Example.com:8443/base",
            "authd <no-reply@auth.example.com>",
        ),
        ("http://[::1]:8080", "authd <no-reply@[::1]>"),
    ] {
        let config = load(&[("AUTHD_PUBLIC_URL", public_url)]).unwrap();

        assert_eq!(config.mail_from.to_string(), expected, "{public_url}");
    }
}

#[test]
fn a_public_host_that_makes_no_address_needs_mail_from() {
    let err = load(&[("AUTHD_PUBLIC_URL", "http://auth(host):8080")]).unwrap_err();

    assert_eq!(problem_vars(&err), ["MAIL_FROM"]);
    assert!(err.to_string().contains("no-reply@auth(host)"), "{err}");
    assert!(
        load(&[
            ("AUTHD_PUBLIC_URL", "http://auth(host):8080"),
            ("MAIL_FROM", "no-reply@example.com"),
        ])
        .is_ok()
    );
}

#[test]
fn mail_links_default_to_the_public_url() {
    let config = load(&[("AUTHD_PUBLIC_URL", "https://auth.example.com/")]).unwrap();

    assert_eq!(config.mail_link_base, "https://auth.example.com");
}

#[test]
fn a_bad_public_url_is_not_reported_again_as_mail_from_or_link_base() {
    let err = load(&[("AUTHD_PUBLIC_URL", "not a url")]).unwrap_err();

    assert_eq!(problem_vars(&err), ["AUTHD_PUBLIC_URL"]);
}

#[test]
fn debug_output_never_contains_a_secret() {
    let token_key = BASE64_STANDARD.encode([0xAB; 32]);
    let mfa_key = BASE64_STANDARD.encode([0xCD; 32]);
    let mut vars: Vec<(&str, &str)> = pg_parts();
    vars.extend([
        ("REDIS_URL", "redis://:redis-pass-1@cache:6379"),
        (
            "MAIL_TRANSPORT",
            "smtp://mailer:smtp-pass-2@smtp.example.com?tls=required",
        ),
        ("JWT_SECRET", "jwt-secret-3-0123456789abcdef0123456789"),
        ("OAUTH_PROVIDERS", "google"),
        ("OAUTH_GOOGLE_ISSUER", "https://accounts.google.com"),
        ("OAUTH_GOOGLE_CLIENT_ID", "client-id"),
        ("OAUTH_GOOGLE_CLIENT_SECRET", "oauth-secret-4"),
        ("OAUTH_TOKEN_KEY", token_key.as_str()),
        ("MFA_SECRET_KEY", mfa_key.as_str()),
    ]);
    let from_parts = format!("{:?}", load(&vars).unwrap());
    let from_url = format!(
        "{:?}",
        load(&[(
            "DATABASE_URL",
            "postgres://app:db-pass-5@db/authd?sslmode=require&password=db-pass-6"
        )])
        .unwrap()
    );

    for secret in [
        "p@ss",
        "p%40ss",
        "redis-pass-1",
        "smtp-pass-2",
        "jwt-secret-3",
        "oauth-secret-4",
        token_key.as_str(),
        "171, 171",
        mfa_key.as_str(),
        "205, 205",
    ] {
        assert!(
            !from_parts.contains(secret),
            "{secret} leaked: {from_parts}"
        );
    }
    for secret in ["db-pass-5", "db-pass-6"] {
        assert!(!from_url.contains(secret), "{secret} leaked: {from_url}");
    }
    assert!(from_parts.contains("postgres://auth%20user:***@db.internal:6543/authd"));
    assert!(from_parts.contains("redis://:***@cache:6379"));
    assert!(from_url.contains("sslmode=require"));
}

#[test]
fn error_messages_never_quote_a_secret() {
    let err = load(&[
        ("JWT_SECRET", "short-secret"),
        ("DATABASE_URL", "mysql://u:db-pass@db/x"),
        ("REDIS_URL", "http://:redis-pass@cache"),
        ("MAIL_TRANSPORT", "smpt://u:smtp-pass@mail"),
        ("OAUTH_TOKEN_KEY", "key-material"),
        ("MFA_SECRET_KEY", "mfa-key-material"),
    ])
    .unwrap_err();
    let text = err.to_string();

    assert_eq!(text.lines().count(), 6);
    for secret in [
        "short-secret",
        "db-pass",
        "redis-pass",
        "smtp-pass",
        "key-material",
        "mfa-key-material",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

#[test]
fn cors_origins_are_kept_as_browsers_send_them() {
    let config = load(&[(
        "CORS_ALLOWED_ORIGINS",
        " https://App.Example.com/ , http://localhost:3000,https://app.example.com:443,",
    )])
    .unwrap();
    assert_eq!(
        config.http.cors_allowed_origins,
        ["https://app.example.com", "http://localhost:3000"]
    );
}

#[test]
fn cors_origins_must_be_origins() {
    for bad in [
        "*",
        "https://*.example.com",
        "app.example.com",
        "ftp://app.example.com",
        "https://app.example.com/app",
        "https://app.example.com?x=1",
        "https://user:pw@app.example.com",
    ] {
        let err = load(&[("CORS_ALLOWED_ORIGINS", bad)]).unwrap_err();
        assert_eq!(problem_vars(&err), ["CORS_ALLOWED_ORIGINS"], "{bad}");
        assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
    }
}

#[test]
fn base_urls_are_kept_as_the_url_crate_spells_them() {
    let config = load(&[
        ("AUTHD_PUBLIC_URL", "HTTPS://Auth.Example.COM/Base/"),
        ("MAIL_LINK_BASE", "https://app.example.com/a\"b"),
    ])
    .unwrap();
    assert_eq!(config.http.public_url, "https://auth.example.com/Base");
    assert_eq!(config.mail_link_base, "https://app.example.com/a%22b");
}

mod properties {
    use super::{load, problem_vars};
    use crate::config::Config;
    use crate::config::database::URL_COMPONENT;
    use proptest::prelude::*;
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    /// What makes the PostgreSQL parts `DB_*` read: a valid set of them.
    const DB_PARTS: [(&str, &str); 3] = [
        ("DB_HOST", "db.internal"),
        ("DB_NAME", "authd"),
        ("DB_USER", "authd"),
    ];

    /// What makes a provider's `OAUTH_GOOGLE_*` read: a valid provider.
    const PROVIDER: [(&str, &str); 4] = [
        ("OAUTH_PROVIDERS", "google"),
        ("OAUTH_GOOGLE_ISSUER", "https://accounts.google.com"),
        ("OAUTH_GOOGLE_CLIENT_ID", "client-id"),
        ("OAUTH_GOOGLE_CLIENT_SECRET", "client-secret"),
    ];

    /// Variables whose values are secrets, never to be quoted in an error.
    const SECRETS: [&str; 8] = [
        "DATABASE_URL",
        "DB_PASSWORD",
        "REDIS_URL",
        "MAIL_TRANSPORT",
        "JWT_SECRET",
        "OAUTH_TOKEN_KEY",
        "MFA_SECRET_KEY",
        "OAUTH_GOOGLE_CLIENT_SECRET",
    ];

    /// The names `from_vars` asks for with `set` set: every variable it reads then.
    fn read_with(set: &[(&str, &str)]) -> BTreeSet<String> {
        let asked = RefCell::new(BTreeSet::new());
        let _ = Config::from_vars(|name| {
            asked.borrow_mut().insert(name.to_owned());
            set.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        });
        asked.into_inner()
    }

    /// Every variable the configuration reads, each with the others it needs set to
    /// be read at all (the `DB_*` parts need `DB_HOST`, a provider's variables need
    /// the provider listed), taken from `from_vars` itself so a new one is never missed.
    fn variables() -> Vec<(String, Vec<(&'static str, &'static str)>)> {
        let always = read_with(&[]);
        let mut variables: Vec<_> = always.iter().map(|v| (v.clone(), Vec::new())).collect();
        for context in [&DB_PARTS[..], &PROVIDER[..]] {
            for name in read_with(context).difference(&always) {
                let others = context
                    .iter()
                    .filter(|(k, _)| *k != name.as_str())
                    .copied()
                    .collect();
                variables.push((name.clone(), others));
            }
        }
        variables
    }

    /// Values of every kind a variable might be given: arbitrary text, numbers in and
    /// out of every range, flags, URLs, addresses, lists.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::collection::vec(any::<char>(), 0..40).prop_map(String::from_iter),
            "[ \t]{0,2}[+-]?[0-9]{0,25}[ \t]{0,2}",
            "(?i)(true|false|yes|no|1|0|on|off|y)",
            "(?i)(https?|redis|rediss|smtp|smtps|postgres|sqlite|file|ftp):(//)?[a-zA-Z0-9@:/.?#=%&\\[\\]* -]{0,30}",
            "[0-9a-f.:/\\[\\], ]{0,30}",
            "[a-zA-Z0-9+/=_-]{0,60}",
            "[a-z0-9_, -]{0,20}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn any_value_of_any_variable_is_taken_or_refused_by_name(value in value()) {
            for (name, mut vars) in variables() {
                vars.push((name.as_str(), value.as_str()));
                let Err(err) = load(&vars) else { continue };
                for problem in err.problems() {
                    let named = problem.variable == name
                        || problem.message.contains(name.as_str())
                        // A listed provider's variables are what it lacks.
                        || (name == "OAUTH_PROVIDERS" && problem.variable.starts_with("OAUTH_"));
                    prop_assert!(named, "{}={:?} gave {}", name, value, problem);
                }
                // Shorter values may be words of a fixed message (`smtp://`).
                if SECRETS.contains(&name.as_str()) && value.trim().len() >= 10 {
                    prop_assert!(!err.to_string().contains(value.trim()), "{}={:?} gave {}", name, value, err);
                }
            }
        }

        #[test]
        fn secrets_never_reach_debug_output(secret in "[!-~]{32,48}") {
            let mut vars = DB_PARTS.to_vec();
            vars.extend([("DB_PASSWORD", secret.as_str()), ("JWT_SECRET", secret.as_str())]);
            let text = format!("{:?}", load(&vars).unwrap());
            let encoded = percent_encoding::utf8_percent_encode(&secret, URL_COMPONENT).to_string();
            prop_assert!(!text.contains(&secret) && !text.contains(&encoded), "{}", text);
        }

        #[test]
        fn flags_take_every_documented_spelling(
            name in prop::sample::select(vec!["AUTHD_AUTO_MIGRATE", "REQUIRE_VERIFIED_EMAIL", "ARGON2_ALLOW_WEAK"]),
            spelling in (
                prop::sample::select(vec!["true", "yes", "1", "false", "no", "0"]),
                any::<u8>(),
            )
                .prop_map(|(word, upper)| {
                    let case = |(i, c): (usize, char)| {
                        if (upper >> i) & 1 == 1 { c.to_ascii_uppercase() } else { c }
                    };
                    word.chars().enumerate().map(case).collect::<String>()
                }),
            blanks in "[ \t]{0,2}",
        ) {
            let value = format!("{blanks}{spelling}{blanks}");
            let on = ["true", "yes", "1"].contains(&spelling.to_ascii_lowercase().as_str());
            let read = match name {
                "AUTHD_AUTO_MIGRATE" => load(&[(name, value.as_str())]).unwrap().database.auto_migrate,
                "REQUIRE_VERIFIED_EMAIL" => {
                    load(&[(name, value.as_str())]).unwrap().accounts.require_verified_email
                }
                // Seen only in what it allows: a cost below OWASP's minimum.
                _ => load(&[("ARGON2_ITERATIONS", "1"), (name, value.as_str())]).is_ok(),
            };
            prop_assert_eq!(read, on);
        }

        #[test]
        fn numbers_within_range_are_taken_and_others_refused(
            (range, n) in prop::sample::select(RANGES.to_vec()).prop_flat_map(|r| (Just(r), r.min..=r.max)),
            outside in any::<u64>(),
            blanks in "[ \t]{0,2}",
        ) {
            let with = |value: &str| {
                let mut vars = range.context.to_vec();
                vars.push((range.name, value));
                load(&vars)
            };
            let config = with(&format!("{blanks}{n}{blanks}"))
                .map_err(|err| TestCaseError::fail(err.to_string()))?;
            prop_assert_eq!((range.read)(&config), n);

            let edges = [range.min.checked_sub(1), range.max.checked_add(1), Some(outside)];
            for bad in edges.into_iter().flatten().filter(|v| !(range.min..=range.max).contains(v)) {
                let err = with(&bad.to_string()).unwrap_err();
                prop_assert_eq!(problem_vars(&err), [range.name], "{}", bad);
            }
        }
    }

    /// A numeric variable, its documented range, what makes all of that range valid, and
    /// where its value ends up.
    #[derive(Debug, Clone, Copy)]
    struct Range {
        name: &'static str,
        min: u64,
        max: u64,
        context: &'static [(&'static str, &'static str)],
        read: fn(&Config) -> u64,
    }

    const U32: u64 = u32::MAX as u64;
    /// The bound of every `*_SECS`: ten years.
    const TEN_YEARS: u64 = 10 * 365 * 24 * 60 * 60;
    /// Lets the argon2 cost go below OWASP's minimum.
    const WEAK: &[(&str, &str)] = &[("ARGON2_ALLOW_WEAK", "true")];

    /// The numeric variables and their ranges (SPEC section 3 and `.env.example`).
    const RANGES: [Range; 24] = [
        Range {
            name: "DB_PORT",
            min: 1,
            max: 65_535,
            context: &DB_PARTS,
            read: |c| {
                let url = c.database.url.expose();
                url.rsplit_once(':')
                    .and_then(|(_, rest)| rest.split('/').next()?.parse().ok())
                    .unwrap_or(0)
            },
        },
        Range {
            name: "DB_MAX_CONNECTIONS",
            min: 1,
            max: U32,
            context: &[("DB_MIN_CONNECTIONS", "0")],
            read: |c| c.database.max_connections.into(),
        },
        Range {
            name: "DB_MIN_CONNECTIONS",
            min: 0,
            max: U32,
            context: &[("DB_MAX_CONNECTIONS", "4294967295")],
            read: |c| c.database.min_connections.into(),
        },
        Range {
            name: "DB_IDLE_TIMEOUT_SECS",
            min: 1,
            max: TEN_YEARS,
            context: &[],
            read: |c| c.database.idle_timeout.as_secs(),
        },
        Range {
            name: "DB_CONNECT_TIMEOUT_SECS",
            min: 1,
            max: TEN_YEARS,
            context: &[],
            read: |c| c.database.connect_timeout.as_secs(),
        },
        Range {
            name: "HTTP_HEADER_READ_TIMEOUT_SECS",
            min: 1,
            max: 600,
            context: &[],
            read: |c| c.http.header_read_timeout.as_secs(),
        },
        Range {
            name: "HTTP_MAX_CONNECTIONS",
            min: 1,
            max: 1_000_000,
            context: &[],
            read: |c| c.http.max_connections as u64,
        },
        Range {
            name: "SESSION_TTL_SECS",
            min: 1,
            max: TEN_YEARS,
            context: &[],
            read: |c| c.session.ttl.as_secs(),
        },
        Range {
            name: "SESSION_IDLE_TIMEOUT_SECS",
            min: 1,
            max: TEN_YEARS,
            context: &[],
            read: |c| c.session.idle_timeout.as_secs(),
        },
        Range {
            name: "VERIFY_TOKEN_TTL_SECS",
            min: 1,
            max: TEN_YEARS,
            context: &[],
            read: |c| c.tokens.email_verification_ttl.as_secs(),
        },
        Range {
            name: "RESET_TOKEN_TTL_SECS",
            min: 1,
            max: TEN_YEARS,
            context: &[],
            read: |c| c.tokens.password_reset_ttl.as_secs(),
        },
        Range {
            name: "PASSWORD_MIN_LENGTH",
            min: 8,
            max: 128,
            context: &[],
            read: |c| c.accounts.password_min_length as u64,
        },
        Range {
            name: "LOCKOUT_THRESHOLD",
            min: 1,
            max: U32,
            context: &[("LOCKOUT_GLOBAL_THRESHOLD", "4294967295")],
            read: |c| c.lockout.threshold.into(),
        },
        Range {
            name: "LOCKOUT_GLOBAL_THRESHOLD",
            min: 1,
            max: U32,
            context: &[("LOCKOUT_THRESHOLD", "1")],
            read: |c| c.lockout.global_threshold.into(),
        },
        Range {
            name: "LOCKOUT_DURATION_SECS",
            min: 1,
            max: TEN_YEARS,
            context: &[],
            read: |c| c.lockout.duration.as_secs(),
        },
        Range {
            name: "ARGON2_MEMORY_KIB",
            min: 8,
            max: 4 * 1024 * 1024,
            context: WEAK,
            read: |c| c.argon2.memory_kib.into(),
        },
        Range {
            name: "ARGON2_ITERATIONS",
            min: 1,
            max: 100,
            context: WEAK,
            read: |c| c.argon2.iterations.into(),
        },
        Range {
            name: "ARGON2_PARALLELISM",
            min: 1,
            max: 64,
            context: WEAK,
            read: |c| c.argon2.parallelism.into(),
        },
        Range {
            name: "ARGON2_MAX_QUEUE",
            min: 1,
            max: 1_000_000,
            context: &[],
            read: |c| c.argon2.max_queue.map_or(0, |n| n as u64),
        },
        Range {
            name: "RATE_LIMIT_LOGIN_PER_MIN",
            min: 1,
            max: U32,
            context: &[],
            read: |c| c.rate_limit.login_per_min.into(),
        },
        Range {
            name: "RATE_LIMIT_REGISTER_PER_MIN",
            min: 1,
            max: U32,
            context: &[],
            read: |c| c.rate_limit.register_per_min.into(),
        },
        Range {
            name: "RATE_LIMIT_RESET_PER_HOUR",
            min: 1,
            max: U32,
            context: &[],
            read: |c| c.rate_limit.reset_per_hour.into(),
        },
        Range {
            name: "AUDIT_RETENTION_DAYS",
            min: 1,
            max: 36_500,
            context: &[],
            read: |c| c.audit.retention.as_secs() / 86_400,
        },
        Range {
            name: "JWT_TTL_SECS",
            min: 1,
            max: TEN_YEARS,
            context: &[],
            read: |c| c.jwt.ttl.as_secs(),
        },
    ];
}
