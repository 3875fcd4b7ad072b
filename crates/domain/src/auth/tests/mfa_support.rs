//! Fixtures of the MFA tests: second factors, challenges, and the mocks that find and
//! answer them.

use super::*;
use auth_ports::{
    AuthMethod, Ceremony, Challenge, ChallengeId, ChallengeKind, LoginSource, NewChallenge,
    NewSession, Passkey, PasskeyId, TotpEnrollment,
};
use serde_json::{Value, json};

/// The hash of [`challenge_token`], and of every challenge stored by these tests.
pub(super) const CHALLENGE_HASH: TokenHash = TokenHash([9; 32]);

/// The challenge token a client presents.
pub(super) fn challenge_token() -> BearerToken {
    BearerToken::new("challenge".into())
}

/// A TOTP authenticator sealed as `sealed`, confirmed or pending.
pub(super) fn totp(confirmed: bool) -> TotpEnrollment {
    TotpEnrollment {
        sealed_secret: b"sealed".to_vec(),
        confirmed_at: confirmed.then(t0),
        last_used_step: None,
        created_at: t0(),
    }
}

/// A confirmed TOTP and `codes` recovery codes left.
pub(super) fn totp_on(codes: u32) -> MfaFactors {
    MfaFactors {
        totp: Some(totp(true)),
        passkeys: vec![],
        recovery_codes_left: codes,
    }
}

/// A passkey of `user`: credential id `[5]`, record `old`.
pub(super) fn passkey_of(user: UserId) -> Passkey {
    Passkey {
        id: PasskeyId::new(),
        user_id: user,
        credential_id: vec![5],
        name: "laptop".into(),
        data: "old".into(),
        created_at: t0(),
        last_used_at: None,
    }
}

/// `passkey` alone, with `codes` recovery codes left.
pub(super) fn passkey_only(passkey: Passkey, codes: u32) -> MfaFactors {
    MfaFactors {
        totp: None,
        passkeys: vec![passkey],
        recovery_codes_left: codes,
    }
}

/// The browser's answer to a WebAuthn ceremony.
pub(super) fn assertion_response() -> Value {
    json!({"id": "BQ", "response": {"signature": "sig"}})
}

/// A ceremony begun: options for the browser, state `st`.
pub(super) fn ceremony() -> Ceremony {
    Ceremony {
        options: json!({"challenge": "c"}),
        state: "st".into(),
    }
}

/// A live challenge of `kind`, stored under [`CHALLENGE_HASH`], with nothing bound.
pub(super) fn challenge(kind: ChallengeKind) -> Challenge {
    Challenge {
        id: ChallengeId::new(),
        stored: NewChallenge {
            token_hash: CHALLENGE_HASH,
            kind,
            user_id: None,
            session_id: None,
            password_hash: None,
            login_source: None,
            webauthn_state: None,
            expires_at: t0() + chrono::Duration::minutes(5),
            created_at: t0(),
        },
        failures: 0,
    }
}

/// The second step of Ada's login: her password matched `stored-hash` from the test
/// client, with a WebAuthn state when `webauthn`.
pub(super) fn mfa_login_of(user: &User, webauthn: bool) -> Challenge {
    let mut found = challenge(ChallengeKind::MfaLogin);
    found.stored.user_id = Some(user.id);
    found.stored.password_hash = Some(PasswordHash::new("stored-hash".into()));
    found.stored.login_source = Some("192.0.2.9".into());
    found.stored.webauthn_state = webauthn.then(|| "st".into());
    found
}

/// The names of `methods`, as the audit trail holds them.
pub(super) fn names(methods: &[&str]) -> Value {
    json!(methods)
}

/// `(action, success)` of each entry in `trail`, in order.
pub(super) fn audited(trail: &Trail) -> Vec<(String, bool)> {
    trail
        .entries()
        .iter()
        .map(|e| (e.action.clone(), e.success))
        .collect()
}

/// `(action, success)` pairs to compare [`audited`] with.
pub(super) fn pairs(expected: &[(&str, bool)]) -> Vec<(String, bool)> {
    expected
        .iter()
        .map(|(a, s)| ((*a).to_owned(), *s))
        .collect()
}

/// What `open_with_challenge` is called with, to check.
pub(super) type Opening<'a> = (
    &'a ChallengeId,
    &'a NewSession,
    &'a Option<(PasswordHash, LoginSource)>,
);

impl Mocks {
    /// Every lookup of [`challenge_token`] (of `found`'s kind, at `t0`) finds `found`.
    pub(super) fn finds_challenge(mut self, found: &Challenge) -> Self {
        let kind = found.stored.kind;
        self.tokens.expect_hash().returning(|_| CHALLENGE_HASH);
        let found = found.clone();
        self.challenges
            .expect_find_live()
            .withf(move |hash, k, now| *hash == CHALLENGE_HASH && *k == kind && *now == t0())
            .returning(move |_, _, _| Ok(Some(found.clone())));
        self
    }

    /// The token names no live challenge.
    pub(super) fn finds_no_challenge(mut self) -> Self {
        self.tokens.expect_hash().returning(|_| CHALLENGE_HASH);
        self.challenges
            .expect_find_live()
            .returning(|_, _, _| Ok(None));
        self
    }

    /// One wrong answer to `found` is counted on it; it stays live.
    pub(super) fn fails_challenge(mut self, found: &Challenge) -> Self {
        let id = found.id;
        self.challenges
            .expect_record_failure()
            .times(1)
            .with(eq(id), eq(MAX_CHALLENGE_FAILURES))
            .returning(|_, _| Ok(true));
        self
    }

    /// No lockout failure, no challenge failure, no session: a refusal that counts
    /// nothing.
    pub(super) fn counts_nothing(mut self) -> Self {
        self.users.expect_record_failed_login().never();
        self.challenges.expect_record_failure().never();
        self.sessions.expect_open_with_challenge().never();
        self
    }

    /// `user` is found by id.
    pub(super) fn finds_by_id(mut self, user: &User) -> Self {
        let found = user.clone();
        self.users
            .expect_find_by_id()
            .with(eq(user.id))
            .returning(move |_| Ok(Some(found.clone())));
        self
    }

    /// The passkey ceremony `st` is answered by [`assertion_response`] signed by the
    /// credential `signed_by` (its record now `new`), checked against `passkeys`.
    pub(super) fn asserts(mut self, passkeys: Vec<Passkey>, signed_by: Vec<u8>) -> Self {
        self.passkeys
            .expect_finish_authentication()
            .times(1)
            .withf(move |state, response, given| {
                state == "st" && *response == assertion_response() && given == passkeys
            })
            .returning(move |_, _, _| {
                Ok(auth_ports::Assertion {
                    credential_id: signed_by.clone(),
                    data: "new".into(),
                })
            });
        self
    }

    /// The passkey `id`'s use at `t0` is recorded with its new record.
    pub(super) fn records_passkey_use(mut self, id: PasskeyId) -> Self {
        self.mfa
            .expect_record_passkey_use()
            .times(1)
            .withf(move |used, data, at| *used == id && data == "new" && *at == t0())
            .returning(|_, _, _| Ok(()));
        self
    }

    /// The TOTP code `code` for `user`'s sealed secret at `t0` is of `step` (`None`:
    /// wrong).
    pub(super) fn totp_code(mut self, user: UserId, code: &'static str, step: Option<i64>) -> Self {
        self.totp
            .expect_check()
            .times(1)
            .withf(move |u, sealed, c, now| {
                *u == user && sealed == b"sealed" && c == code && *now == t0()
            })
            .returning(move |_, _, _, _| Ok(step));
        self
    }

    /// Using the step `step` of `user` answers `fresh` (`false`: a replay).
    pub(super) fn uses_step(mut self, user: UserId, step: i64, fresh: bool) -> Self {
        self.mfa
            .expect_use_totp_step()
            .times(1)
            .with(eq(user), eq(step))
            .returning(move |_, _| Ok(fresh));
        self
    }

    /// One session of `user` opens at the end of a challenge, if what it is opened with
    /// passes `check`; its audit entries are written.
    pub(super) fn opens_with_challenge(
        mut self,
        user: &User,
        check: impl Fn(Opening<'_>) -> bool + Send + 'static,
    ) -> Self {
        let trail = self.trail.clone();
        let user = user.clone();
        self.sessions
            .expect_open_with_challenge()
            .times(1)
            .withf(move |id, new, first, _| check((id, new, first)))
            .returning(move |_, new, _, audit| {
                let mut opened = session(&user);
                opened.auth_methods = new.auth_methods.clone();
                let session = trail.write(audit, opened)?;
                let user = user.clone();
                Ok(Some(OpenedSession { session, user }))
            });
        self
    }
}

/// A new session of `methods`, for `user`, opened at `t0` from the test client.
pub(super) fn opens_for(new: &NewSession, user: UserId, methods: &[AuthMethod]) -> bool {
    new.user_id == user
        && new.auth_methods == methods
        && new.created_at == t0()
        && new.ip_address == client().ip
        && new.token_hash == TokenHash([1; 32])
}
