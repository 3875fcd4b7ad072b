//! OAuthService against mocked ports, with a fixed clock: the fixtures here, the tests
//! by use case in the children. Mocked writes hand their audit closure the outcome they
//! return, as the adapter does, so every entry a call makes lands in one trail.

use super::*;
use crate::audit::{Auditor, ClientInfo};
use crate::principal::Principal;
use crate::test_support::{Trail, clock_at, session_of, signed_in, stored, user_at};
use auth_ports::{
    BearerToken, Constraint, ExternalIdentity, FlowSecret, MfaFactors, MockAuditRepository,
    MockMfaRepository, MockOAuthAccountRepository, MockOAuthClient, MockOAuthFlowRepository,
    MockRateLimiter, MockSessionRepository, MockTokenGenerator, MockUserRepository, NewAuditEntry,
    OAuthAccount, OAuthAccountId, OAuthClientError, OAuthLink, OpenedSession, PendingOAuthFlow,
    RateDecision, RateLimit, SealedTokens, Session, StoreError, TokenHash, User, UserStatus,
};
use chrono::{DateTime, TimeZone, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod begin;
mod link;
mod login;
mod races;

const PROVIDER: &str = "idp";
const STATE: &str = "the-state";
const CODE: &str = "the-code";
const SUBJECT: &str = "sub-42";
/// What must never reach an audit entry or an error: the flow's secrets, the code and
/// the generated tokens (all named `tok-…`).
const SECRETS: [&str; 5] = [STATE, CODE, "the-nonce", "the-verifier", "tok-"];

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap()
}

const POLICY: OAuthPolicy = OAuthPolicy {
    session_ttl: Duration::from_secs(43_200),
    require_verified_email: false,
    login_limit: RateLimit {
        max: 10,
        window: Duration::from_secs(60),
    },
};

/// A stand-in for SHA-256: different strings, different hashes.
fn hash_of(s: &str) -> TokenHash {
    let mut hash = [0_u8; 32];
    for (i, b) in s.bytes().enumerate() {
        hash[i % 32] = hash[i % 32].wrapping_mul(31).wrapping_add(b);
    }
    hash[31] ^= u8::try_from(s.len()).unwrap();
    TokenHash(hash)
}

fn client() -> ClientInfo {
    ClientInfo {
        ip: Some("192.0.2.9".parse().unwrap()),
        user_agent: Some("test".into()),
    }
}

/// Ada: active, unverified, no password, signed up a month ago.
fn ada() -> User {
    user_at("ada@example.com", t0() - chrono::Duration::days(30))
}

/// Ada, who proved her mailbox a week ago.
fn verified_ada() -> User {
    let mut ada = ada();
    ada.email_verified = true;
    ada.email_verified_at = Some(t0() - chrono::Duration::days(7));
    ada
}

/// Ada, signed in.
fn ada_signed_in(ada: &User) -> Principal {
    let mut principal = signed_in(ada.clone(), &[]);
    principal.session.authenticated_at = t0();
    principal
}

/// Ada, signed in with a session authenticated just over the step-up window ago.
fn ada_signed_in_long_ago(ada: &User) -> Principal {
    let mut principal = ada_signed_in(ada);
    principal.session.authenticated_at = t0()
        - chrono::Duration::from_std(crate::auth::STEP_UP_WINDOW).unwrap()
        - chrono::Duration::seconds(1);
    principal
}

/// What the provider vouches for: subject [`SUBJECT`], `email`, tokens sealed.
fn identity(email: Option<&str>, email_verified: bool) -> ExternalIdentity {
    ExternalIdentity {
        subject: SUBJECT.into(),
        email: email.map(str::to_owned),
        email_verified,
        first_name: Some("Ada".into()),
        last_name: Some(" Lovelace ".into()),
        tokens: SealedTokens {
            access_token: Some(vec![1, 2, 3]),
            refresh_token: None,
            expires_at: Some(t0() + chrono::Duration::hours(1)),
            scopes: Some("openid email".into()),
        },
    }
}

/// Ada's address, which the provider says it verified (in its own spelling).
fn vouched() -> ExternalIdentity {
    identity(Some(" Ada@Example.com"), true)
}

/// A login flow of [`PROVIDER`] begun a minute ago under [`STATE`].
fn login_flow() -> PendingOAuthFlow {
    PendingOAuthFlow {
        state_hash: hash_of(STATE),
        provider: PROVIDER.into(),
        nonce: FlowSecret::new("the-nonce".into()),
        pkce_verifier: FlowSecret::new("the-verifier".into()),
        link_user_id: None,
        link_session_id: None,
        created_at: t0() - chrono::Duration::minutes(1),
        expires_at: t0() + chrono::Duration::minutes(9),
    }
}

/// A flow linking [`PROVIDER`] to the user of `principal`, begun in their session.
fn link_flow(principal: &Principal) -> PendingOAuthFlow {
    PendingOAuthFlow {
        link_user_id: Some(principal.user.id),
        link_session_id: Some(principal.session.id),
        ..login_flow()
    }
}

/// The callback of a flow that went well at the provider.
fn callback() -> Callback {
    Callback {
        code: Some(CODE.into()),
        state: Some(STATE.into()),
        error: None,
    }
}

/// `user`'s account [`SUBJECT`] at [`PROVIDER`].
fn account_of(user: &User) -> OAuthAccount {
    OAuthAccount {
        id: OAuthAccountId::new(),
        user_id: user.id,
        provider: PROVIDER.into(),
        provider_user_id: SUBJECT.into(),
        provider_email: Some("ada@example.com".into()),
        token_expires_at: None,
        scopes: None,
        created_at: t0(),
        updated_at: t0(),
    }
}

/// The account `link` stores for `user`.
fn stored_link(user: &User, link: &OAuthLink) -> OAuthAccount {
    OAuthAccount {
        provider: link.provider.clone(),
        provider_user_id: link.provider_user_id.clone(),
        provider_email: link.provider_email.clone(),
        ..account_of(user)
    }
}

/// Whether `link` is `identity`'s at [`PROVIDER`], made now.
fn is_link_of(link: &OAuthLink, identity: &ExternalIdentity) -> bool {
    link.provider == PROVIDER
        && link.provider_user_id == identity.subject
        && link.provider_email == normalised_email(identity)
        && link.access_token_sealed == identity.tokens.access_token
        && link.refresh_token_sealed.is_none()
        && link.token_expires_at == identity.tokens.expires_at
        && link.scopes == identity.tokens.scopes
        && link.created_at == t0()
}

/// The provider's email as stored: normalised, or nothing when authd would not accept it.
fn normalised_email(identity: &ExternalIdentity) -> Option<String> {
    let email = identity.email.as_deref()?;
    auth_ports::Email::parse(email).ok().map(String::from)
}

/// `(action, success, reason)` of each entry.
fn summary(entries: &[NewAuditEntry]) -> Vec<(String, bool, Option<String>)> {
    entries
        .iter()
        .map(|e| (e.action.clone(), e.success, e.error_message.clone()))
        .collect()
}

fn entry(action: &str, success: bool, reason: Option<&str>) -> (String, bool, Option<String>) {
    (action.to_owned(), success, reason.map(str::to_owned))
}

/// A refused `auth.login` for `reason`.
fn refused_login(reason: &str) -> Vec<(String, bool, Option<String>)> {
    vec![entry("auth.login", false, Some(reason))]
}

/// What a call left behind: its answer and the audit entries it made.
struct Outcome<T, E> {
    result: Result<T, E>,
    entries: Vec<NewAuditEntry>,
}

impl<T, E: std::fmt::Debug> Outcome<T, E> {
    /// The entries, after checking that neither they nor the error hold a secret.
    fn entries(&self) -> &[NewAuditEntry] {
        let shown = format!("{:?} {:?}", self.entries, self.result.as_ref().err());
        for secret in SECRETS {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        &self.entries
    }

    fn error(&self) -> &E {
        match &self.result {
            Ok(_) => panic!("expected an error"),
            Err(err) => err,
        }
    }
}

impl Outcome<Finished, OAuthError> {
    fn signed_in(&self) -> &crate::auth::LoginSuccess {
        match &self.result {
            Ok(Finished::SignedIn(success)) => success,
            other => panic!("expected a login, got {other:?}"),
        }
    }

    fn linked(&self) -> &[OAuthAccount] {
        match &self.result {
            Ok(Finished::Linked(accounts)) => accounts,
            other => panic!("expected a link, got {other:?}"),
        }
    }
}

/// Every port as a mock; tests set the expectations they rely on.
#[derive(Default)]
struct Mocks {
    users: MockUserRepository,
    sessions: MockSessionRepository,
    accounts: MockOAuthAccountRepository,
    flows: MockOAuthFlowRepository,
    client: MockOAuthClient,
    tokens: MockTokenGenerator,
    limiter: MockRateLimiter,
    audit: MockAuditRepository,
    /// What `mfa.factors` answers for anyone: none unless a test says.
    factors: MfaFactors,
    trail: Trail,
    policy: Option<OAuthPolicy>,
}

impl Mocks {
    /// Only [`PROVIDER`] is configured, nothing is rate limited, tokens are `tok-1`,
    /// `tok-2` … and entries appended alone go to the trail.
    fn new() -> Self {
        let mut m = Self::default();
        m.client
            .expect_has_provider()
            .returning(|provider| provider == PROVIDER);
        m.limiter
            .expect_check()
            .returning(|_, _| RateDecision::Allowed);
        let issued = AtomicUsize::new(0);
        m.tokens.expect_generate().returning(move || {
            let token = format!("tok-{}", issued.fetch_add(1, Ordering::SeqCst) + 1);
            (BearerToken::new(token.clone()), hash_of(&token))
        });
        m.tokens
            .expect_hash()
            .returning(|token| hash_of(token.expose()));
        let trail = m.trail.clone();
        m.audit.expect_append().returning(move |entry| {
            trail.0.lock().unwrap().push(entry.clone());
            Ok(stored(1, entry))
        });
        m
    }

    fn service(self) -> OAuthService {
        let clock = clock_at(t0());
        let mut mfa = MockMfaRepository::new();
        let factors = self.factors;
        mfa.expect_factors().returning(move |_| Ok(factors.clone()));
        OAuthService::new(
            OAuthPorts {
                users: Arc::new(self.users),
                sessions: Arc::new(self.sessions),
                accounts: Arc::new(self.accounts),
                flows: Arc::new(self.flows),
                client: Arc::new(self.client),
                tokens: Arc::new(self.tokens),
                audit: Auditor::new(Arc::new(self.audit), clock.clone()),
                clock,
                limiter: Arc::new(self.limiter),
                mfa: Arc::new(mfa),
            },
            self.policy.unwrap_or(POLICY),
        )
    }

    /// Finishes `callback` at [`PROVIDER`] in a browser holding `cookie`.
    async fn finish(
        self,
        callback: Callback,
        cookie: Option<&str>,
    ) -> Outcome<Finished, OAuthError> {
        let trail = self.trail.clone();
        let service = self.service();
        let result = service.finish(PROVIDER, callback, cookie, &client()).await;
        drop(service); // checks the mocks' expectations before the outcome is read
        Outcome {
            result,
            entries: trail.entries(),
        }
    }

    /// The browser that began the flow comes back from the provider with a code.
    async fn comes_back(self) -> Outcome<Finished, OAuthError> {
        self.finish(callback(), Some(STATE)).await
    }

    /// The state is taken once, at `t0`, and is `flow`.
    fn takes(mut self, flow: PendingOAuthFlow) -> Self {
        self.flows
            .expect_take()
            .times(1)
            .withf(|hash, now| *hash == hash_of(STATE) && *now == t0())
            .returning(move |_, _| Ok(Some(flow.clone())));
        self
    }

    /// The provider vouches for `identity` when the code is exchanged with the flow.
    fn vouches(mut self, identity: ExternalIdentity) -> Self {
        self.client
            .expect_finish()
            .times(1)
            .withf(|provider, code, flow| {
                provider == PROVIDER && code == CODE && flow.nonce.expose() == "the-nonce"
            })
            .returning(move |_, _, _| Ok(identity.clone()));
        self
    }

    /// A login flow comes back with `identity`.
    fn login_with(self, identity: ExternalIdentity) -> Self {
        self.takes(login_flow()).vouches(identity)
    }

    /// [`SUBJECT`] is linked to nobody.
    fn unlinked(mut self) -> Self {
        self.accounts
            .expect_find_by_subject()
            .withf(|provider, subject| provider == PROVIDER && subject == SUBJECT)
            .returning(|_, _| Ok(None));
        self
    }

    /// [`SUBJECT`] is linked to `user`.
    fn linked_to(mut self, user: &User) -> Self {
        let account = account_of(user);
        self.accounts
            .expect_find_by_subject()
            .withf(|provider, subject| provider == PROVIDER && subject == SUBJECT)
            .returning(move |_, _| Ok(Some(account.clone())));
        self.finds(user)
    }

    /// `user` is found by id.
    fn finds(mut self, user: &User) -> Self {
        let (id, found) = (user.id, user.clone());
        self.users
            .expect_find_by_id()
            .withf(move |wanted| *wanted == id)
            .returning(move |_| Ok(Some(found.clone())));
        self
    }

    /// The active sessions of `user` at `t0` are `active`.
    fn active_sessions(mut self, user: &User, active: Vec<Session>) -> Self {
        let id = user.id;
        self.sessions
            .expect_list_active_for_user()
            .withf(move |wanted, now| *wanted == id && *now == t0())
            .returning(move |_, _| Ok(active.clone()));
        self
    }

    /// Ada's address belongs to `owner`.
    fn email_owner(mut self, owner: Option<User>) -> Self {
        self.users
            .expect_find_by_email()
            .withf(|email| email.as_str() == "ada@example.com")
            .returning(move |_| Ok(owner.clone()));
        self
    }

    /// The email of `user` is marked verified at `t0`, once, with its audit.
    fn marks_verified(mut self, user: &User) -> Self {
        let (id, trail) = (user.id, self.trail.clone());
        self.users
            .expect_mark_email_verified()
            .times(1)
            .withf(move |wanted, at, _| *wanted == id && *at == t0())
            .returning(move |_, _, audit| trail.write(audit, ()));
        self
    }

    /// `identity` is linked to `user` once.
    fn links(mut self, user: &User, identity: ExternalIdentity) -> Self {
        let (id, owner, trail) = (user.id, user.clone(), self.trail.clone());
        self.accounts
            .expect_link()
            .times(1)
            .withf(move |wanted, link, _| *wanted == id && is_link_of(link, &identity))
            .returning(move |_, link, audit| trail.write(audit, stored_link(&owner, &link)));
        self
    }

    /// Linking anything fails with `constraint`.
    fn link_conflicts(mut self, constraint: Constraint) -> Self {
        self.accounts
            .expect_link()
            .times(1)
            .returning(move |_, _, _| Err(StoreError::Conflict(constraint)));
        self
    }

    /// A session is opened once for `user`, who comes back as the login left them.
    fn opens_session(mut self, user: &User) -> Self {
        let (id, trail) = (user.id, self.trail.clone());
        let mut after = user.clone();
        after.last_login_at = Some(t0());
        self.sessions
            .expect_open_without_password()
            .times(1)
            .withf(move |new, _| {
                new.user_id == id
                    && new.token_hash == hash_of("tok-1")
                    && new.expires_at == t0() + chrono::Duration::hours(12)
                    && new.created_at == t0()
                    && new.ip_address == client().ip
                    && new.auth_methods == [auth_ports::AuthMethod::OAuth]
            })
            .returning(move |new, audit| {
                let mut session = session_of(&after, t0());
                session.auth_methods = new.auth_methods;
                let opened = OpenedSession {
                    session,
                    user: after.clone(),
                };
                trail.0.lock().unwrap().extend(audit(&opened.session));
                Ok(Some(opened))
            });
        self
    }

    /// Nothing is created, linked, verified or opened.
    fn writes_nothing(mut self) -> Self {
        self.users.expect_create_with_oauth().never();
        self.users.expect_mark_email_verified().never();
        self.accounts.expect_link().never();
        self.sessions.expect_open_without_password().never();
        self
    }

    /// The provider is not asked about any code.
    fn never_exchanges(mut self) -> Self {
        self.client.expect_finish().never();
        self
    }
}
