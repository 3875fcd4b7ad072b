//! Fixtures shared by the domain's unit tests: users, sessions, callers and roles, the
//! audit entries a write makes, and the operator services over mocked ports.

use crate::admin::{AdminPorts, AdminService};
use crate::audit::Auditor;
use crate::password_policy::PasswordPolicy;
use crate::principal::Principal;
use crate::rbac::RbacService;
use auth_ports::StoreError;
use auth_ports::{
    AuditEntry, AuditEntryId, AuditRepository, AuditWith, Clock, Email, MockAuditRepository,
    MockClock, MockMfaRepository, MockPasswordHasher, MockRoleRepository, MockUserRepository,
    NewAuditEntry, PasswordHash, Role, RoleId, Session, SessionId, TokenHash, User, UserId,
    UserStatus,
};
use chrono::{DateTime, TimeZone, Utc};
use std::sync::{Arc, Mutex};

/// New Year 2026, when the operator fixtures are created.
pub(crate) fn new_year() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// An active user of `email` created at `at`: unverified, no password, no names.
pub(crate) fn user_at(email: &str, at: DateTime<Utc>) -> User {
    User {
        id: UserId::new(),
        email: Email::parse(email).unwrap(),
        password_hash: None,
        status: UserStatus::Active,
        email_verified: false,
        email_verified_at: None,
        failed_login_attempts: 0,
        last_failed_login_at: None,
        locked_until: None,
        first_name: None,
        last_name: None,
        oauth_providers: vec![],
        last_login_at: None,
        created_at: at,
        updated_at: at,
    }
}

/// The `n`th user, `u{n}@example.com`, created `n` seconds after [`new_year`].
pub(crate) fn user(n: u32) -> User {
    let at = new_year() + chrono::Duration::seconds(i64::from(n));
    user_at(&format!("u{n}@example.com"), at)
}

/// A live session of `user` opened at `at`, for 12 hours, with token hash `[7; 32]`.
pub(crate) fn session_of(user: &User, at: DateTime<Utc>) -> Session {
    Session {
        id: SessionId::new(),
        user_id: user.id,
        token_hash: TokenHash([7; 32]),
        expires_at: at + chrono::Duration::hours(12),
        ip_address: None,
        user_agent: None,
        is_active: true,
        last_accessed_at: at,
        created_at: at,
        revoked_at: None,
        authenticated_at: at,
        auth_methods: vec![auth_ports::AuthMethod::Password],
    }
}

/// `user` signed in, holding `permissions` (and no named role).
pub(crate) fn signed_in(user: User, permissions: &[&str]) -> Principal {
    Principal {
        session: session_of(&user, user.created_at),
        user,
        roles: vec![],
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
    }
}

/// A caller, user 0, holding `permissions`.
pub(crate) fn principal(permissions: &[&str]) -> Principal {
    signed_in(user(0), permissions)
}

/// A role `name` holding `permissions`, created at [`new_year`].
pub(crate) fn role(name: &str, permissions: &[&str]) -> Role {
    Role {
        id: RoleId::new(),
        name: name.into(),
        description: None,
        permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        created_at: new_year(),
        updated_at: new_year(),
    }
}

/// Roles that find `found` by any id.
pub(crate) fn roles_finding(found: &Role) -> MockRoleRepository {
    let mut roles = MockRoleRepository::new();
    let found = found.clone();
    roles
        .expect_find_by_id()
        .returning(move |_| Ok(Some(found.clone())));
    roles
}

/// `entry` as the audit log stores it, under `id`.
pub(crate) fn stored(id: i64, entry: NewAuditEntry) -> AuditEntry {
    AuditEntry {
        id: AuditEntryId(id),
        entry,
    }
}

/// The actions of the entries a write's `audit` makes of `outcome`.
pub(crate) fn actions<T>(audit: AuditWith<T>, outcome: &T) -> Vec<String> {
    audit(outcome).into_iter().map(|e| e.action).collect()
}

/// Every audit entry a service produced: appended alone, or handed to a write (mocked
/// writes call the write's audit on the outcome they return, as the adapter does).
#[derive(Clone, Default)]
pub(crate) struct Trail(pub(crate) Arc<Mutex<Vec<NewAuditEntry>>>);

impl Trail {
    /// What a mocked write returns: `outcome`, after keeping the entries its audit makes.
    pub(crate) fn write<T>(&self, audit: AuditWith<T>, outcome: T) -> Result<T, StoreError> {
        self.0.lock().unwrap().extend(audit(&outcome));
        Ok(outcome)
    }

    /// The entries kept so far.
    pub(crate) fn entries(&self) -> Vec<NewAuditEntry> {
        self.0.lock().unwrap().clone()
    }
}

/// A clock standing at `at`.
pub(crate) fn clock_at(at: DateTime<Utc>) -> Arc<dyn Clock> {
    let mut clock = MockClock::new();
    clock.expect_now().returning(move || at);
    Arc::new(clock)
}

/// An AdminService over these mocks and a clock standing at the epoch.
pub(crate) fn admin_service(
    users: MockUserRepository,
    roles: MockRoleRepository,
    audit: MockAuditRepository,
) -> AdminService {
    admin_service_with_mfa(users, roles, audit, MockMfaRepository::new())
}

/// [`admin_service`] with second factors in `mfa`.
pub(crate) fn admin_service_with_mfa(
    users: MockUserRepository,
    roles: MockRoleRepository,
    audit: MockAuditRepository,
    mfa: MockMfaRepository,
) -> AdminService {
    let clock = clock_at(DateTime::default());
    let audit: Arc<dyn AuditRepository> = Arc::new(audit);
    AdminService::new(AdminPorts {
        users: Arc::new(users),
        roles: Arc::new(roles),
        audit_log: audit.clone(),
        audit: Auditor::new(audit, clock.clone()),
        clock,
        mfa: Arc::new(mfa),
        hasher: Arc::new(hasher_of("$argon2id$made-by-the-mock")),
        password: PasswordPolicy { min_chars: 12 },
    })
}

/// A hasher whose every hash is `hash`.
pub(crate) fn hasher_of(hash: &'static str) -> MockPasswordHasher {
    let mut hasher = MockPasswordHasher::new();
    hasher
        .expect_hash()
        .returning(move |_| Ok(PasswordHash::new(hash.to_owned())));
    hasher
}

/// An RbacService over `roles` at [`new_year`]. Every role event is written by the role
/// write itself, never appended alone.
pub(crate) fn rbac_service(roles: MockRoleRepository) -> RbacService {
    let clock = clock_at(new_year());
    let mut audit = MockAuditRepository::new();
    audit.expect_append().never();
    RbacService::new(
        Arc::new(roles),
        Auditor::new(Arc::new(audit), clock.clone()),
        clock,
    )
}
