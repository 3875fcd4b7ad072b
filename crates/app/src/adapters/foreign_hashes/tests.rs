//! Each format against hashes its own system made: Python's bcrypt 4 (`gensalt(5,
//! prefix=…)`), Django 5.2's `PBKDF2PasswordHasher().encode`, Python's
//! `hashlib.pbkdf2_hmac` in Keycloak's layout (64-byte keys), Better-Auth 1.7.29's
//! `hashPassword` (npm), and the sample of Firebase's own scrypt README.

use super::*;

const PASSWORD: &str = "correct horse battery staple";

const BCRYPT_2B: &str = "$2b$05$E9ywxHKl126SadNo8V3PpehLhNuGCINyFFSJUFPN2etYc9EUg.bS6";
const BCRYPT_2A: &str = "$2a$05$xcKC292FHgjdAb9YTK9Q3.XEw4s/XEIcTapuIh6rEILkAtf6dvPF2";
const DJANGO: &str =
    "pbkdf2_sha256$1200$q1w2e3r4t5y6u7i8$6O5tbobOQNn0IzaYMuIKNfNnXu/3E/r5RYH7r8QQonM=";
const KEYCLOAK_SHA256: &str = "$pbkdf2-sha256$i=1500$MDEyMzQ1Njc4OWFiY2RlZg==$fc4JdGSjv5kWnd/ppxXpvvEXNUc7XkzdjhlZ19RbMhyeZYcqpmZ2jYXc1n+Y4dRuR14lWwoOopSczAZBiq7vEQ==";
const KEYCLOAK_SHA512: &str = "$pbkdf2-sha512$i=1500$MDEyMzQ1Njc4OWFiY2RlZg$XDpZprJeKygfSGjM+TxNky1Y8Z+qs8/vhDRWupdOj1kKd3Oe622piwaQpRhzIex4/hTUMsxtoEUC+2pBuAV9zg";
const BETTER_AUTH: &str = "93f9cfd87ce16be78bc12abcefa5caab:62bf1beffc735dabe2b0f207933dae408e2f24c3a65b786d774518c8de7a535e62b5ecd76feab3fc805ed0fc5836d63e3a6c5572e43d14c5957d231e8f690bd5";
/// Better-Auth's hash of "Ｃafé ﬁne password", which NFKC turns into "Café fine password".
const BETTER_AUTH_NFKC: &str = "21e03368cce15642c06b7c22f906bde2:112735fecac60e93778596b56004174f1343698d3d84e97fdf788461303a4db724c7d46e37ef8a266949608c28ecdc405402418847952ff11c308e2f5668f700";
/// github.com/firebase/scrypt's README: "user1password" under its sample project key.
const FIREBASE: &str = "$firebase-scrypt$m=14,r=8$jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==$Bw==$42xEC+ixf3L2lw==$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==";

fn parsed(stored: &str) -> ForeignHash {
    match ForeignHash::parse(stored) {
        Some(Ok(hash)) => hash,
        Some(Err(e)) => unreachable!("{stored} is malformed: {e}"),
        None => unreachable!("{stored} is not recognised"),
    }
}

fn matches(stored: &str, password: &str) -> bool {
    parsed(stored)
        .matches(password)
        .unwrap_or_else(|e| unreachable!("{stored}: {e}"))
}

#[test]
fn each_format_matches_its_password_and_nothing_else() {
    for stored in [
        BCRYPT_2B,
        BCRYPT_2A,
        DJANGO,
        KEYCLOAK_SHA256,
        KEYCLOAK_SHA512,
        BETTER_AUTH,
    ] {
        assert!(matches(stored, PASSWORD), "{stored}");
        assert!(
            !matches(stored, "correct horse battery stapler"),
            "{stored}"
        );
        assert!(!matches(stored, ""), "{stored}");
    }
    assert!(matches(FIREBASE, "user1password"));
    assert!(!matches(FIREBASE, "user2password"));
}

#[test]
fn php_style_2y_bcrypt_is_2b_under_another_name() {
    let php = BCRYPT_2B.replacen("$2b$", "$2y$", 1);
    assert!(matches(&php, PASSWORD));
}

#[test]
fn better_auth_passwords_are_compared_after_nfkc_as_better_auth_does() {
    assert!(matches(BETTER_AUTH_NFKC, "Ｃafé ﬁne password"));
    assert!(matches(BETTER_AUTH_NFKC, "Café fine password"));
    assert!(!matches(BETTER_AUTH_NFKC, "Cafe fine password"));
}

#[test]
fn argon2_phc_and_other_strings_are_not_foreign() {
    for stored in [
        "$argon2id$v=19$m=2048,t=1,p=2$Affm0CND/YfisC/VkwaFBA$DUdoetuhUxfjLC8oNfWdpz8bWBvvwQ0szK7Lu9mrWbA",
        "plain text password",
        "",
        "abc:def",
        "$1$md5crypt$hash",
    ] {
        assert!(ForeignHash::parse(stored).is_none(), "{stored}");
    }
}

#[test]
fn malformed_or_too_costly_hashes_are_refused_without_echoing_them() {
    for stored in [
        "$2b$31$E9ywxHKl126SadNo8V3PpehLhNuGCINyFFSJUFPN2etYc9EUg.bS6",
        "$2b$05$short",
        "pbkdf2_sha256$99999999$salt$6O5tbobOQNn0IzaYMuIKNfNnXu/3E/r5RYH7r8QQonM=",
        "pbkdf2_sha256$1200$salt$not base64!",
        "pbkdf2_sha256$0$salt$6O5tbobOQNn0IzaYMuIKNfNnXu/3E/r5RYH7r8QQonM=",
        "$pbkdf2-sha256$i=1500,l=32$MDEyMzQ1Njc4OWFiY2RlZg$fc4JdGSjv5kWnd/ppxXpvvEXNUc7XkzdjhlZ19RbMhyeZYcqpmZ2jYXc1n+Y4dRuR14lWwoOopSczAZBiq7vEQ",
        "$pbkdf2-sha256$x=1$MDEy$fc4JdGSjv5kWnd/ppxXpvvEXNUc7XkzdjhlZ19RbMhw",
        "$firebase-scrypt$m=20,r=8$a2V5$Bw==$c2FsdA==$aGFzaA==",
        "$firebase-scrypt$m=14$a2V5$Bw==$c2FsdA==$aGFzaA==",
        "$firebase-scrypt$m=14,r=8$a2V5$Bw==$c2FsdA==",
        "93f9cfd87ce16be78bc12abcefa5caab:62b",
    ] {
        let Some(Err(error)) = ForeignHash::parse(stored) else {
            unreachable!("{stored} was accepted");
        };
        let message = error.to_string();
        assert!(!message.contains(stored), "{message}");
    }
}
