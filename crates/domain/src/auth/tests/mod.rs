//! AuthService against mocked ports, with a fixed clock: the fixtures here, the tests
//! by use case in the children.

use super::*;
use crate::audit::{Auditor, ClientInfo};
use crate::error::Failure;
use crate::messages::Messages;
use crate::password_policy::PasswordPolicy;
use crate::rate_limits::ipv6_prefix;
use crate::test_support::{Trail, session_of, signed_in, stored, user_at};
use auth_ports::{
    ActiveSession, BearerToken, Clock, FailedLogin, LockScope, LockoutPolicy, Password,
    RateDecision, RateLimit, RevokeSessions, Session, StoreError, User, UserStatus, Verification,
};
use auth_ports::{
    LoginAccount, MfaFactors, MockAuditRepository, MockChallengeRepository, MockClock,
    MockMfaRepository, MockOneTimeTokenRepository, MockPasskeyAuthenticator, MockPasswordHasher,
    MockRateLimiter, MockSessionRepository, MockTokenGenerator, MockTotpAuthenticator,
    MockUserRepository, NewAuditEntry, OpenedSession, PasswordHash, SessionId, TokenHash, UserId,
};
use chrono::{DateTime, TimeZone, Utc};
use mockall::predicate::{always, eq};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
}

const POLICY: AuthPolicy = AuthPolicy {
    password: PasswordPolicy { min_chars: 12 },
    lockout: LockoutPolicy {
        threshold: 5,
        global_threshold: 50,
        duration: Duration::from_secs(900),
    },
    session_ttl: Duration::from_secs(43_200),
    idle_timeout: Duration::from_secs(1_800),
    require_verified_email: false,
    login_limit: RateLimit {
        max: 10,
        window: Duration::from_secs(60),
    },
    register_limit: RateLimit {
        max: 10,
        window: Duration::from_secs(60),
    },
    recovery_limit: RateLimit {
        max: 5,
        window: Duration::from_secs(3600),
    },
    verification_ttl: Duration::from_secs(86_400),
    reset_ttl: Duration::from_secs(1_800),
};

/// Checks one expected audit entry.
type EntryCheck = Box<dyn Fn(&NewAuditEntry) + Send>;

/// The entries a test expects, checked when the service (which owns it) is dropped.
#[derive(Default)]
struct Expected {
    trail: Trail,
    times: usize,
    check: Option<EntryCheck>,
}

impl Drop for Expected {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let entries = self.trail.0.lock().unwrap();
        assert_eq!(entries.len(), self.times, "audit entries: {entries:#?}");
        if let Some(check) = &self.check {
            entries.iter().for_each(check);
        }
    }
}

/// Every port as a mock; tests set the expectations they rely on. Unless `audit` says
/// otherwise, no audit entry is expected.
#[derive(Default)]
struct Mocks {
    users: MockUserRepository,
    sessions: MockSessionRepository,
    audit: MockAuditRepository,
    hasher: MockPasswordHasher,
    tokens: MockTokenGenerator,
    limiter: MockRateLimiter,
    one_time_tokens: MockOneTimeTokenRepository,
    mfa: MockMfaRepository,
    challenges: MockChallengeRepository,
    totp: MockTotpAuthenticator,
    passkeys: MockPasskeyAuthenticator,
    /// What `mfa.factors` answers for anyone (none unless a test says).
    factors: MfaFactors,
    trail: Trail,
    expected: Expected,
}

impl Mocks {
    /// Ada logs in with her right password, under `POLICY`.
    async fn ada_logs_in(self) -> Result<LoginSuccess, LoginError> {
        self.ada_tries("the right one!").await
    }

    /// Ada logs in with `pw`, under `POLICY`.
    async fn ada_tries(self, pw: &str) -> Result<LoginSuccess, LoginError> {
        self.logs_in(POLICY, "ada@example.com", pw).await
    }

    /// `email` logs in with `pw` from the test client, under `policy`, to an account
    /// without MFA.
    async fn logs_in(
        self,
        policy: AuthPolicy,
        email: &str,
        pw: &str,
    ) -> Result<LoginSuccess, LoginError> {
        let service = self.service(policy);
        match service.login(email, &password(pw), &client()).await? {
            LoginOutcome::SignedIn(success) => Ok(*success),
            LoginOutcome::MfaRequired(challenge) => panic!("MFA asked: {challenge:?}"),
        }
    }

    /// `found` is the account, the password does not match, and the failure is
    /// recorded as `outcome`.
    fn guesses_wrong(self, found: User, outcome: FailedLogin) -> Self {
        let id = found.id;
        self.finds(found)
            .verifies(Verification::Mismatch)
            .records_failure(id, outcome)
    }

    /// `found` is the account, its password matches a hash of outdated cost, and the
    /// new hash is computed once.
    fn finds_with_an_outdated_hash(self, found: User) -> Self {
        let mut m = self
            .finds(found)
            .verifies(Verification::Match { needs_rehash: true });
        m.hasher
            .expect_hash()
            .times(1)
            .returning(|_| Ok(PasswordHash::new("new".into())));
        m
    }

    /// The caller of a password change is found unlocked from the test client.
    fn finds_the_caller_unlocked(mut self) -> Self {
        self.users
            .expect_find_for_login()
            .times(1)
            .withf(|email, source| email.as_str() == "ada@example.com" && source == "192.0.2.9")
            .returning(|_, _| Ok(Some(found_by_login(user()))));
        self
    }

    /// Ada's login finds `found`, with no failures from the test client.
    fn finds(mut self, found: User) -> Self {
        self.users
            .expect_find_for_login()
            .returning(move |_, _| Ok(Some(found_by_login(found.clone()))));
        self
    }

    /// The password, checked against the stored hash, is `verification`.
    fn verifies(mut self, verification: Verification) -> Self {
        self.hasher
            .expect_verify()
            .returning(move |_, _| Ok(verification));
        self
    }

    /// One wrong password of the user `of` is recorded, from the test client under
    /// `POLICY`, and comes out as `outcome`.
    fn records_failure(mut self, of: UserId, outcome: FailedLogin) -> Self {
        let trail = self.trail.clone();
        self.users
            .expect_record_failed_login()
            .times(1)
            .withf(move |user, source, policy, at, _| {
                *user == of && source == "192.0.2.9" && *policy == POLICY.lockout && *at == t0()
            })
            .returning(move |_, _, _, _, audit| trail.write(audit, outcome));
        self
    }

    /// Every session token generated is "tok".
    fn issues_tok(mut self) -> Self {
        self.tokens
            .expect_generate()
            .returning(|| (BearerToken::new("tok".into()), TokenHash([1; 32])));
        self
    }

    /// `p` changes its password from `current` to `new`, under `POLICY`.
    async fn change_password(
        self,
        p: &Principal,
        current: &str,
        new: &str,
    ) -> Result<(), ChangePasswordError> {
        self.service(POLICY)
            .change_password(p, &password(current), &password(new), &client())
            .await
    }

    /// The limit under `key` is over for `secs` more seconds.
    fn limits(mut self, key: &'static str, secs: u64) -> Self {
        self.limiter
            .expect_check()
            .withf(move |k, _| k == key)
            .returning(move |_, _| RateDecision::Limited {
                retry_after: Duration::from_secs(secs),
            });
        self
    }

    /// Every password hashes to `hash`.
    fn hashes_to(mut self, hash: &'static str) -> Self {
        self.hasher
            .expect_hash()
            .returning(move |_| Ok(PasswordHash::new(hash.into())));
        self
    }

    fn allow_all(mut self) -> Self {
        self.limiter
            .expect_check()
            .returning(|_, _| RateDecision::Allowed);
        self
    }

    /// Expects `times` audit entries in all, appended alone or by writes, each passing
    /// `check`.
    fn audit(mut self, times: usize, check: impl Fn(&NewAuditEntry) + Send + 'static) -> Self {
        let trail = self.trail.clone();
        self.audit.expect_append().returning(move |entry| {
            trail.0.lock().unwrap().push(entry.clone());
            Ok(stored(1, entry))
        });
        self.expected = Expected {
            trail: self.trail.clone(),
            times,
            check: Some(Box::new(check)),
        };
        self
    }

    fn service(mut self, policy: AuthPolicy) -> AuthService {
        let factors = self.factors.clone();
        self.mfa
            .expect_factors()
            .returning(move |_| Ok(factors.clone()));
        let mut clock = MockClock::new();
        let expected = self.expected;
        clock.expect_now().returning(move || {
            // Owned here so the expectation is checked when the service is dropped.
            let _ = &expected;
            t0()
        });
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let audit: Arc<dyn auth_ports::AuditRepository> = Arc::new(self.audit);
        AuthService::new(
            AuthPorts {
                users: Arc::new(self.users),
                sessions: Arc::new(self.sessions),
                audit: Auditor::new(audit.clone(), clock.clone()),
                audit_log: audit,
                hasher: Arc::new(self.hasher),
                tokens: Arc::new(self.tokens),
                clock,
                limiter: Arc::new(self.limiter),
                one_time_tokens: Arc::new(self.one_time_tokens),
                second_factors: SecondFactorPorts {
                    mfa: Arc::new(self.mfa),
                    challenges: Arc::new(self.challenges),
                    totp: Some(Arc::new(self.totp)),
                    passkeys: Some(Arc::new(self.passkeys)),
                },
            },
            policy,
            Messages::new("https://auth.example.com"),
        )
    }
}

fn client() -> ClientInfo {
    ClientInfo {
        ip: Some("192.0.2.9".parse().unwrap()),
        user_agent: Some("test".into()),
    }
}

/// `user` as a login from the test client finds it: no failures from that source, and
/// flagged as having a second factor, so a login reads the factors (which the mocks'
/// `factors` give, none by default).
fn found_by_login(user: User) -> LoginAccount {
    LoginAccount {
        user,
        source_failures: 0,
        source_locked_until: None,
        has_second_factor: true,
    }
}

/// Ada, active and verified, with a stored password hash.
fn user() -> User {
    User {
        password_hash: Some(PasswordHash::new("stored-hash".into())),
        email_verified: true,
        email_verified_at: Some(t0()),
        ..user_at("ada@example.com", t0())
    }
}

fn session(user: &User) -> Session {
    session_of(user, t0())
}

/// A password that checks out, with a hash of current cost.
const MATCHES: Verification = Verification::Match {
    needs_rehash: false,
};

/// A first wrong password: counted, nothing locked.
const COUNTED_ONCE: FailedLogin = FailedLogin::Counted {
    attempts: 1,
    account_attempts: 1,
    locked: None,
};

/// The fifth wrong password from the source, which locks it until `until`.
fn locks_the_source(until: DateTime<Utc>) -> FailedLogin {
    FailedLogin::Counted {
        attempts: 5,
        account_attempts: 5,
        locked: Some((LockScope::Source, until)),
    }
}

fn password(p: &str) -> Password {
    Password::new(p.into())
}

fn registration(pw: &str) -> Registration {
    Registration {
        email: " Ada@Example.com ".into(),
        password: password(pw),
        first_name: Some("Ada".into()),
        last_name: Some("  ".into()),
    }
}

fn unavailable() -> StoreError {
    StoreError::Unavailable("connection refused".into())
}

/// Ada, signed in.
fn principal() -> Principal {
    signed_in(user(), &[])
}

mod account;
mod login;
mod mfa_factors;
mod mfa_login;
mod mfa_support;
mod passkey_login;
mod password;
mod recovery;
mod register;
mod session;
mod step_up;
