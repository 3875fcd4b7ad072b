//! AuthService paths against mocked ports, with a fixed clock.

use super::*;
use crate::audit::Auditor;
use auth_ports::AuditWith;
use auth_ports::{
    LoginAccount, MockAuditRepository, MockClock, MockMailer, MockOneTimeTokenRepository,
    MockPasswordHasher, MockRateLimiter, MockSessionRepository, MockTokenGenerator,
    MockUserRepository, NewAuditEntry, OpenedSession, PasswordHash, SessionId, TokenHash, UserId,
};
use chrono::TimeZone;
use mockall::predicate::{always, eq};
use std::sync::Mutex;

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

/// Every audit entry the service produced: appended alone, or handed to a write (mocked
/// writes call the write's audit on the outcome they return, as the adapter does).
#[derive(Clone, Default)]
struct Trail(Arc<Mutex<Vec<NewAuditEntry>>>);

impl Trail {
    /// What a mocked write returns: `outcome`, after keeping the entries its audit makes.
    fn write<T>(&self, audit: AuditWith<T>, outcome: T) -> Result<T, StoreError> {
        self.0.lock().unwrap().extend(audit(&outcome));
        Ok(outcome)
    }
}

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
    mailer: MockMailer,
    trail: Trail,
    expected: Expected,
}

impl Mocks {
    /// Ada logs in with her right password, under `POLICY`.
    async fn ada_logs_in(self) -> Result<LoginSuccess, LoginError> {
        self.service(POLICY)
            .login("ada@example.com", &password("the right one!"), &client())
            .await
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
            Ok(stored_entry(entry))
        });
        self.expected = Expected {
            trail: self.trail.clone(),
            times,
            check: Some(Box::new(check)),
        };
        self
    }

    fn service(self, policy: AuthPolicy) -> AuthService {
        let mut clock = MockClock::new();
        let expected = self.expected;
        clock.expect_now().returning(move || {
            // Owned here so the expectation is checked when the service is dropped.
            let _ = &expected;
            t0()
        });
        let clock: Arc<dyn Clock> = Arc::new(clock);
        AuthService::new(
            AuthPorts {
                users: Arc::new(self.users),
                sessions: Arc::new(self.sessions),
                audit: Auditor::new(Arc::new(self.audit), clock.clone()),
                hasher: Arc::new(self.hasher),
                tokens: Arc::new(self.tokens),
                clock,
                limiter: Arc::new(self.limiter),
                one_time_tokens: Arc::new(self.one_time_tokens),
                mailer: Arc::new(self.mailer),
            },
            policy,
            Messages::new("https://auth.example.com"),
        )
    }
}

fn stored_entry(entry: NewAuditEntry) -> auth_ports::AuditEntry {
    auth_ports::AuditEntry {
        id: auth_ports::AuditEntryId(1),
        entry,
    }
}

fn client() -> ClientInfo {
    ClientInfo {
        ip: Some("192.0.2.9".parse().unwrap()),
        user_agent: Some("test".into()),
    }
}

/// `user` as a login from the test client finds it: no failures from that source.
fn found_by_login(user: User) -> LoginAccount {
    LoginAccount {
        user,
        source_failures: 0,
        source_locked_until: None,
    }
}

fn user() -> User {
    User {
        id: UserId::new(),
        email: Email::parse("ada@example.com").unwrap(),
        password_hash: Some(PasswordHash::new("stored-hash".into())),
        status: UserStatus::Active,
        email_verified: true,
        email_verified_at: Some(t0()),
        failed_login_attempts: 0,
        last_failed_login_at: None,
        locked_until: None,
        first_name: None,
        last_name: None,
        oauth_providers: vec![],
        last_login_at: None,
        created_at: t0(),
        updated_at: t0(),
    }
}

fn session(user: &User) -> Session {
    Session {
        id: SessionId::new(),
        user_id: user.id,
        token_hash: TokenHash([7; 32]),
        expires_at: t0() + chrono::Duration::hours(12),
        ip_address: None,
        user_agent: None,
        is_active: true,
        last_accessed_at: t0(),
        created_at: t0(),
        revoked_at: None,
    }
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

// ---- register ----

#[tokio::test]
async fn register_creates_an_active_user_with_the_default_role() {
    let mut m = Mocks::default().allow_all().audit(1, |e| {
        assert_eq!(e.action, "user.register");
        assert!(e.success);
        assert_eq!(e.ip_address, Some("192.0.2.9".parse().unwrap()));
    });
    m.hasher
        .expect_hash()
        .times(1)
        .returning(|_| Ok(PasswordHash::new("h".into())));
    let trail = m.trail.clone();
    m.users
        .expect_create()
        .times(1)
        .withf(|new, _| {
            new.email.as_str() == "ada@example.com"
                && new.role.as_deref() == Some(DEFAULT_ROLE)
                && new.last_name.is_none()
                && !new.email_verified
                && new.verification
                    == Some((TokenHash([3; 32]), t0() + chrono::Duration::hours(24)))
        })
        .returning(move |_, audit| trail.write(audit, user()));
    m.tokens
        .expect_generate()
        .times(1)
        .returning(|| (BearerToken::new("verify-me".into()), TokenHash([3; 32])));
    m.mailer
        .expect_send()
        .times(1)
        .withf(|mail| {
            mail.subject == "Confirm your email address"
                && mail
                    .text
                    .contains("https://auth.example.com/verify-email?token=verify-me")
        })
        .return_const(());
    let created = m
        .service(POLICY)
        .register(registration("a fine long passphrase"), &client())
        .await;
    assert!(created.is_ok());
}

#[tokio::test]
async fn register_with_a_weak_password_writes_nothing() {
    let mut m = Mocks::default().allow_all();
    m.hasher.expect_hash().never();
    m.users.expect_create().never();
    m.audit.expect_append().never();
    let err = m
        .service(POLICY)
        .register(registration("password1234"), &client())
        .await
        .unwrap_err();
    let RegisterError::Invalid(fields) = err else {
        panic!("{err:?}")
    };
    assert!(fields.fields().contains_key("password"));
}

#[tokio::test]
async fn register_with_a_taken_email_is_email_taken() {
    let mut m = Mocks::default().allow_all();
    m.hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new("h".into())));
    m.users
        .expect_create()
        .returning(|_, _| Err(StoreError::Conflict(auth_ports::Constraint::UserEmail)));
    m.tokens
        .expect_generate()
        .returning(|| (BearerToken::new("t".into()), TokenHash([3; 32])));
    m.mailer.expect_send().never();
    m.audit.expect_append().never();
    let err = m
        .service(POLICY)
        .register(registration("a fine long passphrase"), &client())
        .await;
    assert!(matches!(err, Err(RegisterError::EmailTaken)));
}

#[tokio::test]
async fn register_is_rate_limited_before_any_work() {
    let mut m = Mocks::default();
    m.limiter
        .expect_check()
        .withf(|key, _| key == "register:ip:192.0.2.9")
        .returning(|_, _| RateDecision::Limited {
            retry_after: Duration::from_secs(42),
        });
    m.hasher.expect_hash().never();
    m.users.expect_create().never();
    let err = m
        .service(POLICY)
        .register(registration("a fine long passphrase"), &client())
        .await;
    assert!(
        matches!(err, Err(RegisterError::RateLimited { retry_after }) if retry_after.as_secs() == 42)
    );
}

// ---- login ----

#[tokio::test]
async fn login_with_unknown_email_returns_invalid_credentials_after_a_dummy_verify() {
    let mut m = Mocks::default().allow_all().audit(1, |e| {
        assert_eq!(e.action, "auth.login");
        assert!(!e.success);
        assert_eq!(e.user_id, None);
        assert_eq!(e.details["reason"], "unknown_email");
    });
    m.users.expect_find_for_login().returning(|_, _| Ok(None));
    m.hasher
        .expect_verify()
        .times(1)
        .withf(|_, hash| hash.is_none())
        .returning(|_, _| Ok(Verification::Mismatch));
    let err = m
        .service(POLICY)
        .login("nobody@example.com", &password("whatever12345"), &client())
        .await;
    assert!(matches!(err, Err(LoginError::InvalidCredentials)));
}

#[tokio::test]
async fn login_with_wrong_password_counts_the_failure() {
    let u = user();
    let id = u.id;
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, move |e| {
            assert_eq!(e.user_id, Some(id));
            assert_eq!(e.details["reason"], "invalid_credentials");
        })
        .finds(u)
        .verifies(Verification::Mismatch)
        .records_failure(id, COUNTED_ONCE);
    m.sessions.expect_open_at_login().never();
    let err = m
        .service(POLICY)
        .login("ada@example.com", &password("wrong password!"), &client())
        .await;
    assert!(matches!(err, Err(LoginError::InvalidCredentials)));
}

#[tokio::test]
async fn the_failure_that_locks_still_answers_invalid_credentials_and_audits_the_lockout() {
    let u = user();
    let id = u.id;
    let actions = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = actions.clone();
    let m = Mocks::default()
        .allow_all()
        .audit(2, move |e| {
            seen.lock().unwrap().push((e.action.clone(), e.success));
        })
        .finds(u)
        .verifies(Verification::Mismatch)
        .records_failure(id, locks_the_source(t0() + chrono::Duration::minutes(15)));
    let err = m
        .service(POLICY)
        .login("ada@example.com", &password("wrong password!"), &client())
        .await;
    assert!(matches!(err, Err(LoginError::InvalidCredentials)));
    assert_eq!(
        *actions.lock().unwrap(),
        [
            ("auth.login".to_owned(), false),
            ("auth.lockout".to_owned(), true)
        ]
    );
}

/// Ada's login answers locked until `until`, audited as such, without her password
/// checked or counted.
async fn ada_is_locked_out_before_her_password(mut m: Mocks, until: DateTime<Utc>) {
    m.hasher.expect_verify().never();
    m.users.expect_record_failed_login().never();
    let m = m.audit(1, |e| assert_eq!(e.details["reason"], "account_locked"));
    let err = m.ada_logs_in().await;
    assert!(matches!(err, Err(LoginError::AccountLocked { until: u }) if u == until));
}

#[tokio::test]
async fn login_while_locked_answers_locked_without_checking_the_password() {
    let mut u = user();
    let until = t0() + chrono::Duration::minutes(10);
    u.locked_until = Some(until);
    let m = Mocks::default().allow_all().finds(u);
    ada_is_locked_out_before_her_password(m, until).await;
}

#[tokio::test]
async fn a_disabled_account_is_reported_only_after_the_right_password() {
    for (verification, expected_disabled) in [(Verification::Mismatch, false), (MATCHES, true)] {
        let mut u = user();
        u.status = UserStatus::Suspended;
        let id = u.id;
        let mut m = Mocks::default()
            .allow_all()
            .audit(1, |_| {})
            .finds(u)
            .verifies(verification);
        if !expected_disabled {
            m = m.records_failure(id, COUNTED_ONCE);
        }
        m.sessions.expect_open_at_login().never();
        let err = m
            .service(POLICY)
            .login("ada@example.com", &password("some password"), &client())
            .await;
        if expected_disabled {
            assert!(matches!(err, Err(LoginError::AccountDisabled)), "{err:?}");
        } else {
            assert!(
                matches!(err, Err(LoginError::InvalidCredentials)),
                "{err:?}"
            );
        }
    }
}

#[tokio::test]
async fn login_requires_a_verified_email_when_configured() {
    let mut u = user();
    u.email_verified = false;
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, |e| assert_eq!(e.details["reason"], "email_not_verified"))
        .finds(u)
        .verifies(MATCHES);
    m.sessions.expect_open_at_login().never();
    let policy = AuthPolicy {
        require_verified_email: true,
        ..POLICY
    };
    let err = m
        .service(policy)
        .login("ada@example.com", &password("the right one!"), &client())
        .await;
    assert!(matches!(err, Err(LoginError::EmailNotVerified)));
}

#[tokio::test]
async fn login_success_opens_a_session_for_the_ttl() {
    let u = user();
    let id = u.id;
    let found = u.clone();
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, |e| assert!(e.success))
        .finds(found)
        .verifies(MATCHES)
        .issues_tok();
    m.users.expect_change_password().never();
    let mut recorded = u.clone();
    recorded.last_login_at = Some(t0());
    let opened_for = recorded.clone();
    let trail = m.trail.clone();
    m.sessions
        .expect_open_at_login()
        .times(1)
        .withf(move |new, verified, _, _| {
            new.user_id == id
                && new.created_at == t0()
                && new.expires_at == t0() + chrono::Duration::hours(12)
                && new.token_hash == TokenHash([1; 32])
                && verified.expose() == "stored-hash"
        })
        .returning(move |_, _, _, audit| {
            let session = trail.write(audit, session(&opened_for))?;
            let user = opened_for.clone();
            Ok(Some(OpenedSession { session, user }))
        });
    // The user as the login wrote it: no second read.
    m.users.expect_find_by_id().never();
    let ok = m
        .service(POLICY)
        .login("ADA@example.com", &password("the right one!"), &client())
        .await
        .unwrap();
    assert_eq!(ok.token.expose(), "tok");
    assert_eq!(ok.user, recorded);
}

#[tokio::test]
async fn login_rehashes_an_outdated_hash() {
    let u = user();
    let found = u.clone();
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, |_| {})
        .finds_with_an_outdated_hash(found)
        .issues_tok();
    m.users
        .expect_rehash_password()
        .times(1)
        .withf(|_, expected, new| expected.expose() == "stored-hash" && new.expose() == "new")
        .returning(|_, _, _| Ok(true));
    m.users.expect_change_password().never();
    let trail = m.trail.clone();
    // Opened against the new hash: the one stored now.
    m.sessions
        .expect_open_at_login()
        .times(1)
        .withf(|_, verified, _, _| verified.expose() == "new")
        .returning(move |_, _, _, audit| {
            let session = trail.write(audit, session(&u))?;
            let user = u.clone();
            Ok(Some(OpenedSession { session, user }))
        });
    assert!(m.ada_logs_in().await.is_ok());
}

#[tokio::test]
async fn login_is_rate_limited_per_account_before_the_password() {
    let mut m = Mocks::default();
    m.limiter
        .expect_check()
        .withf(|key, _| key.starts_with("login:ip:"))
        .returning(|_, _| RateDecision::Allowed);
    m.limiter
        .expect_check()
        .withf(|key, _| key == "login:account:ada@example.com")
        .returning(|_, _| RateDecision::Limited {
            retry_after: Duration::from_secs(30),
        });
    m.users.expect_find_for_login().never();
    m.hasher.expect_verify().never();
    let err = m.ada_logs_in().await;
    assert!(matches!(err, Err(LoginError::RateLimited { .. })));
}

#[tokio::test]
async fn an_unavailable_store_is_a_failure_not_a_wrong_password() {
    let mut m = Mocks::default().allow_all();
    m.users
        .expect_find_for_login()
        .returning(|_, _| Err(unavailable()));
    let err = m.ada_logs_in().await;
    assert!(matches!(
        err,
        Err(LoginError::Failure(Failure::Unavailable(_)))
    ));
}

#[tokio::test]
async fn a_saturated_hasher_is_unavailable() {
    let mut m = Mocks::default().allow_all().finds(user());
    m.hasher
        .expect_verify()
        .returning(|_, _| Err(auth_ports::HashError::Busy));
    m.users.expect_record_failed_login().never();
    let err = m.ada_logs_in().await;
    assert!(matches!(
        err,
        Err(LoginError::Failure(Failure::Unavailable(_)))
    ));
}

// ---- authenticate ----

/// Expects exactly one lookup of the presented token, which finds `found`.
fn authenticating(m: &mut Mocks, found: Option<ActiveSession>) {
    m.tokens.expect_hash().returning(|_| TokenHash([7; 32]));
    m.sessions
        .expect_find_active_by_token_hash()
        .times(1)
        .returning(move |_, _| Ok(found.clone()));
}

async fn authenticate(m: Mocks) -> Result<Principal, AuthenticateError> {
    m.service(POLICY)
        .authenticate(&BearerToken::new("x".into()))
        .await
}

/// What the store returns for a live session of `user`.
fn active(session: Session, user: User) -> ActiveSession {
    ActiveSession {
        session,
        user,
        roles: vec!["moderator".into(), "user".into()],
        permissions: vec!["audit:read".into(), "users:read".into()],
    }
}

#[tokio::test]
async fn an_unknown_token_is_unauthorized() {
    let mut m = Mocks::default();
    authenticating(&mut m, None);
    let err = authenticate(m).await;
    assert!(matches!(err, Err(AuthenticateError::Unauthorized)));
}

#[tokio::test]
async fn an_idle_session_is_unauthorized() {
    let u = user();
    let mut s = session(&u);
    s.last_accessed_at = t0() - chrono::Duration::seconds(1_801);
    let mut m = Mocks::default();
    authenticating(&mut m, Some(active(s, u)));
    m.sessions.expect_touch().never();
    let err = authenticate(m).await;
    assert!(matches!(err, Err(AuthenticateError::Unauthorized)));
}

#[tokio::test]
async fn a_session_of_an_inactive_user_is_unauthorized() {
    let mut u = user();
    u.status = UserStatus::Deleted;
    let s = session(&u);
    let mut m = Mocks::default();
    authenticating(&mut m, Some(active(s, u)));
    m.sessions.expect_touch().never();
    let err = authenticate(m).await;
    assert!(matches!(err, Err(AuthenticateError::Unauthorized)));
}

#[tokio::test]
async fn a_live_session_yields_the_principal_from_one_read() {
    let u = user();
    let s = session(&u);
    let mut m = Mocks::default();
    authenticating(&mut m, Some(active(s, u)));
    // Accessed just now: no write.
    m.sessions.expect_touch().never();
    m.users.expect_find_by_id().never();
    let principal = authenticate(m).await.unwrap();
    assert_eq!(principal.roles, ["moderator", "user"]);
    assert_eq!(principal.permissions, ["audit:read", "users:read"]);
}

#[tokio::test]
async fn a_session_last_seen_a_touch_interval_ago_counts_as_activity() {
    let u = user();
    let mut s = session(&u);
    s.last_accessed_at = t0() - chrono::Duration::seconds(60);
    let sid = s.id;
    let mut m = Mocks::default();
    authenticating(&mut m, Some(active(s, u)));
    m.sessions
        .expect_touch()
        .times(1)
        .with(eq(sid), eq(t0()), eq(Duration::from_secs(60)))
        .returning(|_, _, _| Ok(true));
    authenticate(m).await.unwrap();
}

#[test]
fn touch_interval_is_at_most_a_quarter_of_the_idle_timeout() {
    assert_eq!(POLICY.touch_interval(), Duration::from_secs(60));
    let short = AuthPolicy {
        idle_timeout: Duration::from_secs(120),
        ..POLICY
    };
    assert_eq!(short.touch_interval(), Duration::from_secs(30));
}

// ---- sessions and passwords ----

fn principal() -> Principal {
    let u = user();
    let s = session(&u);
    Principal {
        user: u,
        session: s,
        roles: vec![],
        permissions: vec![],
    }
}

#[tokio::test]
async fn revoking_a_session_that_is_not_the_callers_is_not_found() {
    let mut m = Mocks::default();
    m.sessions
        .expect_revoke()
        .returning(|_, _, _, _| Err(StoreError::NotFound));
    m.audit.expect_append().never();
    let err = m
        .service(POLICY)
        .revoke_session(&principal(), SessionId::new(), &client())
        .await;
    assert!(matches!(err, Err(RevokeError::NotFound)));
}

#[tokio::test]
async fn logout_all_revokes_every_session_and_says_so() {
    let p = principal();
    let mut m = Mocks::default().audit(1, |e| {
        assert_eq!(e.action, "auth.logout");
        assert_eq!(e.details["all"], true);
    });
    let id = p.user.id;
    let trail = m.trail.clone();
    m.sessions
        .expect_revoke_all_for_user()
        .times(1)
        .with(eq(id), eq(t0()), always())
        .returning(move |_, _, audit| trail.write(audit, 3));
    m.service(POLICY).logout_all(&p, &client()).await.unwrap();
}

#[tokio::test]
async fn change_password_with_a_wrong_current_password_counts_the_failure_and_changes_nothing() {
    let p = principal();
    let mut m = Mocks::default()
        .allow_all()
        .finds_the_caller_unlocked()
        .audit(1, |e| {
            assert_eq!(e.action, "password.change");
            assert!(!e.success);
        })
        .verifies(Verification::Mismatch)
        .records_failure(p.user.id, COUNTED_ONCE);
    m.hasher.expect_hash().never();
    m.users.expect_change_password().never();
    let err = m
        .change_password(&p, "wrong", "a new long passphrase")
        .await;
    assert!(matches!(err, Err(ChangePasswordError::InvalidCredentials)));
}

/// The failure that locks audits the lockout; one that finds a lock answers locked.
#[tokio::test]
async fn a_wrong_current_password_can_lock_and_then_answers_locked() {
    let until = t0() + chrono::Duration::minutes(15);
    for (outcome, events) in [
        (locks_the_source(until), 2),
        (FailedLogin::AlreadyLocked { until }, 1),
    ] {
        let p = principal();
        let m = Mocks::default()
            .allow_all()
            .finds_the_caller_unlocked()
            .audit(events, |_| {})
            .verifies(Verification::Mismatch)
            .records_failure(p.user.id, outcome);
        let trail = m.trail.clone();
        let err = m
            .change_password(&p, "wrong", "a new long passphrase")
            .await;
        let actions: Vec<_> = trail
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.action.clone())
            .collect();
        match outcome {
            FailedLogin::Counted { .. } => {
                assert!(matches!(err, Err(ChangePasswordError::InvalidCredentials)));
                assert_eq!(actions, ["password.change", "auth.lockout"]);
            }
            FailedLogin::AlreadyLocked { .. } => {
                assert!(
                    matches!(err, Err(ChangePasswordError::AccountLocked { until: u }) if u == until)
                );
                assert_eq!(actions, ["password.change"]);
            }
        }
    }
}

/// While the caller's source is locked out, no password is checked, right or wrong.
#[tokio::test]
async fn change_password_from_a_locked_source_answers_locked_without_checking() {
    let until = t0() + chrono::Duration::minutes(10);
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, |e| assert_eq!(e.details["reason"], "account_locked"));
    m.users.expect_find_for_login().returning(move |_, _| {
        let mut found = found_by_login(user());
        found.source_locked_until = Some(until);
        Ok(Some(found))
    });
    m.hasher.expect_verify().never();
    m.users.expect_record_failed_login().never();
    m.users.expect_change_password().never();
    let err = m
        .change_password(&principal(), "current one!", "a new long passphrase")
        .await;
    assert!(matches!(err, Err(ChangePasswordError::AccountLocked { until: u }) if u == until));
}

/// A source locked out of the account is refused before the password, though the
/// account itself is not locked.
#[tokio::test]
async fn login_from_a_locked_source_answers_locked_without_checking_the_password() {
    let until = t0() + chrono::Duration::minutes(10);
    let mut m = Mocks::default().allow_all();
    m.users
        .expect_find_for_login()
        .withf(|_, source| source == "192.0.2.9")
        .returning(move |_, _| {
            let mut found = found_by_login(user());
            found.source_failures = 5;
            found.source_locked_until = Some(until);
            Ok(Some(found))
        });
    ada_is_locked_out_before_her_password(m, until).await;
}

/// The login hands its source and the failures seen from it to `open_at_login`, which
/// refuses while the source is locked and clears those failures.
#[tokio::test]
async fn a_login_opens_its_session_for_its_source() {
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, |e| assert!(e.success))
        .verifies(MATCHES)
        .issues_tok();
    m.users.expect_find_for_login().returning(|_, _| {
        let mut found = found_by_login(user());
        found.source_failures = 3;
        Ok(Some(found))
    });
    let trail = m.trail.clone();
    m.sessions
        .expect_open_at_login()
        .times(1)
        .withf(|_, _, source, _| source.key == "192.0.2.9" && source.failures == 3)
        .returning(move |_, _, _, audit| {
            let user = user();
            let session = trail.write(audit, session(&user))?;
            Ok(Some(OpenedSession { session, user }))
        });
    assert!(m.ada_logs_in().await.is_ok());
}

#[tokio::test]
async fn change_password_revokes_every_other_session_and_mails_a_notice() {
    let p = principal();
    let keep = p.session.id;
    let mut m = Mocks::default()
        .allow_all()
        .finds_the_caller_unlocked()
        .audit(1, |e| assert_eq!(e.action, "password.change"))
        .verifies(MATCHES);
    m.hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new("new".into())));
    let trail = m.trail.clone();
    m.users
        .expect_change_password()
        .times(1)
        .withf(move |_, change, _, _| change.revoke == RevokeSessions::AllExcept(keep))
        .returning(move |_, _, _, audit| trail.write(audit, 2));
    m.mailer
        .expect_send()
        .times(1)
        .withf(|mail| {
            mail.to.as_str() == "ada@example.com"
                && mail.subject == "Your password was changed"
                && mail.text.contains("from 192.0.2.9")
        })
        .return_const(());
    m.change_password(&p, "current one!", "a new long passphrase")
        .await
        .unwrap();
}

#[tokio::test]
async fn change_password_enforces_the_policy_on_the_new_one() {
    let mut m = Mocks::default()
        .allow_all()
        .finds_the_caller_unlocked()
        .verifies(MATCHES);
    m.users.expect_change_password().never();
    let err = m
        .change_password(&principal(), "current one!", "short")
        .await;
    assert!(matches!(err, Err(ChangePasswordError::Invalid(_))));
}

#[tokio::test]
async fn logout_revokes_the_current_session_and_is_audited() {
    let p = principal();
    let (user, session) = (p.user.id, p.session.id);
    let mut m = Mocks::default().audit(1, |e| {
        assert_eq!(e.action, "auth.logout");
        assert!(e.details.get("all").is_none());
    });
    let trail = m.trail.clone();
    m.sessions
        .expect_revoke()
        .times(1)
        .with(eq(user), eq(session), eq(t0()), always())
        .returning(move |_, _, _, audit| trail.write(audit, ()));
    m.service(POLICY).logout(&p, &client()).await.unwrap();
}

#[tokio::test]
async fn the_session_list_marks_the_current_one_and_leaves_out_idle_ones() {
    let p = principal();
    let current = p.session.clone();
    let mut idle = session(&p.user);
    idle.last_accessed_at = t0() - chrono::Duration::hours(1);
    let other = session(&p.user);
    let (current_id, other_id) = (current.id, other.id);
    let mut m = Mocks::default();
    m.sessions
        .expect_list_active_for_user()
        .returning(move |_, _| Ok(vec![current.clone(), idle.clone(), other.clone()]));
    let views = m.service(POLICY).sessions(&p).await.unwrap();
    let seen: Vec<_> = views.iter().map(|v| (v.session.id, v.current)).collect();
    assert_eq!(seen, [(current_id, true), (other_id, false)]);
}

#[tokio::test]
async fn provision_creates_a_verified_user_with_the_given_role_without_rate_limits() {
    let mut m = Mocks::default().audit(1, |e| {
        assert_eq!(e.action, "user.register");
        assert_eq!(e.details["via"], "cli");
        assert_eq!(e.ip_address, None);
    });
    m.limiter.expect_check().never();
    m.hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new("h".into())));
    let trail = m.trail.clone();
    m.users
        .expect_create()
        .times(1)
        .withf(|new, _| {
            new.email_verified && new.role.as_deref() == Some("admin") && new.verification.is_none()
        })
        .returning(move |_, audit| trail.write(audit, user()));
    m.service(POLICY)
        .provision(registration("a fine long passphrase"), "admin")
        .await
        .unwrap();
}

#[tokio::test]
async fn provision_with_an_unknown_role_says_so() {
    let mut m = Mocks::default();
    m.hasher
        .expect_hash()
        .returning(|_| Ok(PasswordHash::new("h".into())));
    m.users
        .expect_create()
        .returning(|_, _| Err(StoreError::NotFound));
    m.audit.expect_append().never();
    let err = m
        .service(POLICY)
        .provision(registration("a fine long passphrase"), "emperor")
        .await;
    assert!(matches!(err, Err(RegisterError::UnknownRole(role)) if role == "emperor"));
}

#[tokio::test]
async fn change_password_is_rate_limited_per_account() {
    let mut m = Mocks::default();
    m.limiter
        .expect_check()
        .withf(|key, _| key == "login:account:ada@example.com")
        .returning(|_, _| RateDecision::Limited {
            retry_after: Duration::from_secs(9),
        });
    m.hasher.expect_verify().never();
    let err = m
        .change_password(&principal(), "guess", "a new long passphrase")
        .await;
    assert!(matches!(err, Err(ChangePasswordError::RateLimited { .. })));
}

#[tokio::test]
async fn a_failure_racing_a_lock_answers_locked() {
    let u = user();
    let id = u.id;
    let until = t0() + chrono::Duration::minutes(15);
    let m = Mocks::default()
        .allow_all()
        .audit(1, |e| assert_eq!(e.details["reason"], "account_locked"))
        .finds(u)
        .verifies(Verification::Mismatch)
        .records_failure(id, FailedLogin::AlreadyLocked { until });
    let err = m
        .service(POLICY)
        .login("ada@example.com", &password("wrong one!"), &client())
        .await;
    assert!(matches!(err, Err(LoginError::AccountLocked { until: u }) if u == until));
}

/// Mocks for a login whose password matches but whose `open_at_login` is refused
/// (something changed since the check), after which the user reads as `current`; the
/// one audit entry has `reason`.
fn refused_when_opening(reason: &'static str, current: User) -> Mocks {
    let found = user();
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, move |e| assert_eq!(e.details["reason"], reason))
        .verifies(MATCHES)
        .issues_tok();
    // Found as it was at the first read, as it is now at the second.
    let reads = std::sync::atomic::AtomicUsize::new(0);
    m.users
        .expect_find_for_login()
        .times(2)
        .returning(move |_, _| {
            let read = reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let user = if read == 0 { &found } else { &current };
            Ok(Some(found_by_login(user.clone())))
        });
    m.sessions
        .expect_open_at_login()
        .times(1)
        .returning(|_, _, _, _| Ok(None));
    m
}

/// A login whose password was verified just before a password change: matched, then
/// refused by `open_at_login` (the stored hash is no longer the one verified).
#[tokio::test]
async fn a_success_racing_a_password_change_answers_invalid_credentials() {
    let mut changed = user();
    changed.password_hash = Some(PasswordHash::new("someone else's".into()));
    let err = refused_when_opening("invalid_credentials", changed)
        .ada_logs_in()
        .await;
    assert!(
        matches!(err, Err(LoginError::InvalidCredentials)),
        "{err:?}"
    );
}

/// The rehash finds another hash than the one verified: a password change landed in
/// between, and this login opens nothing.
#[tokio::test]
async fn a_rehash_that_finds_a_new_password_opens_no_session() {
    let found = user();
    let mut m = Mocks::default()
        .allow_all()
        .audit(1, |e| {
            assert_eq!(e.details["reason"], "invalid_credentials")
        })
        .finds_with_an_outdated_hash(found);
    m.users
        .expect_rehash_password()
        .times(1)
        .returning(|_, _, _| Ok(false));
    m.sessions.expect_open_at_login().never();
    let err = m.ada_logs_in().await;
    assert!(
        matches!(err, Err(LoginError::InvalidCredentials)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_success_racing_a_lock_answers_locked_and_opens_no_session() {
    let until = t0() + chrono::Duration::minutes(15);
    let mut locked = user();
    locked.locked_until = Some(until);
    let err = refused_when_opening("account_locked", locked)
        .ada_logs_in()
        .await;
    assert!(matches!(err, Err(LoginError::AccountLocked { until: u }) if u == until));
}

/// A login whose password was verified just before an admin suspended the account:
/// refused by `open_at_login` (the account is no longer active).
#[tokio::test]
async fn a_success_racing_a_suspension_answers_account_disabled() {
    let mut suspended = user();
    suspended.status = UserStatus::Suspended;
    let err = refused_when_opening("account_disabled", suspended)
        .ada_logs_in()
        .await;
    assert!(matches!(err, Err(LoginError::AccountDisabled)), "{err:?}");
}

#[tokio::test]
async fn names_with_invisible_characters_are_rejected_before_hashing() {
    let mut m = Mocks::default().allow_all();
    m.hasher.expect_hash().never();
    m.users.expect_create().never();
    let mut reg = registration("a fine long passphrase");
    reg.first_name = Some("a\u{0}b".into());
    let err = m
        .service(POLICY)
        .register(reg, &client())
        .await
        .unwrap_err();
    let RegisterError::Invalid(fields) = err else {
        panic!("{err:?}")
    };
    assert!(fields.fields().contains_key("first_name"));
}

#[test]
fn ipv6_clients_are_one_source_per_64() {
    let client = |ip: &str| ClientInfo {
        ip: Some(ip.parse().unwrap()),
        user_agent: None,
    };
    assert_eq!(
        AuthService::ip_key(&client("2001:db8:1:2:aaaa::1")),
        "2001:db8:1:2::/64"
    );
    assert_eq!(
        AuthService::ip_key(&client("2001:db8:1:2:bbbb::9")),
        "2001:db8:1:2::/64"
    );
    assert_eq!(AuthService::ip_key(&client("192.0.2.1")), "192.0.2.1");
    let ip = "2001:db8:1:2ab::1".parse().unwrap();
    assert_eq!(ipv6_prefix(ip, 56), "2001:db8:1:200::/56");
    assert_eq!(ipv6_prefix(ip, 48), "2001:db8:1::/48");
}

/// An IPv6 login is counted against its /64, /56 and /48, the wider ones with a larger
/// budget, and refused when the /48 is over even though its /64 is not.
#[tokio::test]
async fn ipv6_logins_are_limited_per_64_56_and_48() {
    let mut m = Mocks::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keys = seen.clone();
    m.limiter.expect_check().returning(move |key, limit| {
        keys.lock().unwrap().push((key.to_owned(), limit.max));
        if key.ends_with("/48") {
            RateDecision::Limited {
                retry_after: Duration::from_secs(7),
            }
        } else {
            RateDecision::Allowed
        }
    });
    m.users.expect_find_for_login().never();
    m.hasher.expect_verify().never();
    let client = ClientInfo {
        ip: Some("2001:db8:1:2ab::1".parse().unwrap()),
        user_agent: None,
    };
    let err = m
        .service(POLICY)
        .login("ada@example.com", &password("the right one!"), &client)
        .await;
    assert!(
        matches!(err, Err(LoginError::RateLimited { retry_after }) if retry_after.as_secs() == 7),
        "{err:?}"
    );
    let (f56, f48) = WIDE_PREFIX_FACTORS;
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("login:ip:2001:db8:1:2ab::/64".to_owned(), 10),
            ("login:ip:2001:db8:1:200::/56".to_owned(), 10 * f56),
            ("login:ip:2001:db8:1::/48".to_owned(), 10 * f48),
        ]
    );
}

mod recovery;
