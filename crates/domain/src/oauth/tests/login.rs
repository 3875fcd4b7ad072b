//! Finishing a login flow: the state, the provider's answer, who it signs in as, and
//! what stops the session.

use super::*;

// --- The state ---

#[tokio::test]
async fn a_callback_without_state_is_invalid_state_and_takes_nothing() {
    let mut m = Mocks::new().never_exchanges().writes_nothing();
    m.flows.expect_take().never();
    let callback = Callback {
        state: None,
        ..callback()
    };
    let done = m.finish(callback, Some(STATE)).await;
    assert!(matches!(done.error(), OAuthError::InvalidState));
    assert_eq!(summary(done.entries()), refused_login("invalid_state"));
}

#[tokio::test]
async fn an_unknown_expired_or_used_state_is_invalid_state() {
    let mut m = Mocks::new().never_exchanges().writes_nothing();
    m.flows
        .expect_take()
        .times(1)
        .withf(|hash, now| *hash == hash_of(STATE) && *now == t0())
        .returning(|_, _| Ok(None));
    let done = m.comes_back().await;
    assert!(matches!(done.error(), OAuthError::InvalidState));
    let entries = done.entries();
    assert_eq!(summary(entries), refused_login("invalid_state"));
    assert_eq!(entries[0].user_id, None);
    assert_eq!(entries[0].details["method"], "oauth");
    assert_eq!(entries[0].details["provider"], PROVIDER);
}

/// The store hands a flow out once; the second callback with its state finds nothing.
#[tokio::test]
async fn a_replayed_state_is_invalid_state() {
    let ada = ada();
    let mut m = Mocks::new().vouches(vouched()).linked_to(&ada);
    let taken = AtomicUsize::new(0);
    m.flows
        .expect_take()
        .times(2)
        .returning(move |_, _| Ok((taken.fetch_add(1, Ordering::SeqCst) == 0).then(login_flow)));
    let m = m.opens_session(&ada).marks_verified(&ada);
    let trail = m.trail.clone();
    let service = m.service();
    let first = service
        .finish(PROVIDER, callback(), Some(STATE), &client())
        .await;
    assert!(matches!(first, Ok(Finished::SignedIn(_))), "{first:?}");
    let again = service
        .finish(PROVIDER, callback(), Some(STATE), &client())
        .await;
    assert!(matches!(again, Err(OAuthError::InvalidState)), "{again:?}");
    let entries = trail.entries();
    assert_eq!(
        summary(&entries),
        [
            entry("email.verify", true, None),
            entry("auth.login", true, None),
            entry("auth.login", false, Some("invalid_state"))
        ]
    );
}

#[tokio::test]
async fn a_state_of_another_provider_is_used_up_and_invalid() {
    let flow = PendingOAuthFlow {
        provider: "other".into(),
        ..login_flow()
    };
    let done = Mocks::new()
        .takes(flow)
        .never_exchanges()
        .writes_nothing()
        .comes_back()
        .await;
    assert!(matches!(done.error(), OAuthError::InvalidState));
    assert_eq!(summary(done.entries()), refused_login("invalid_state"));
}

#[tokio::test]
async fn a_login_finished_in_a_browser_without_the_cookie_is_invalid_state() {
    let done = Mocks::new()
        .takes(login_flow())
        .never_exchanges()
        .writes_nothing()
        .finish(callback(), None)
        .await;
    assert!(matches!(done.error(), OAuthError::InvalidState));
    assert_eq!(summary(done.entries()), refused_login("invalid_state"));
}

/// Someone who sends their own callback to a victim's browser (login CSRF) fails: the
/// victim's cookie holds another state.
#[tokio::test]
async fn a_login_finished_in_a_browser_holding_another_state_is_invalid_state() {
    let done = Mocks::new()
        .takes(login_flow())
        .never_exchanges()
        .writes_nothing()
        .finish(callback(), Some("another-state"))
        .await;
    assert!(matches!(done.error(), OAuthError::InvalidState));
    assert_eq!(summary(done.entries()), refused_login("invalid_state"));
}

// --- The provider's answer ---

#[tokio::test]
async fn a_provider_error_redirect_is_oauth_failed_with_the_error_audited() {
    let callback = Callback {
        code: None,
        state: Some(STATE.into()),
        error: Some("access_denied".into()),
    };
    let done = Mocks::new()
        .takes(login_flow())
        .never_exchanges()
        .writes_nothing()
        .finish(callback, Some(STATE))
        .await;
    assert!(matches!(done.error(), OAuthError::OAuthFailed));
    let entries = done.entries();
    assert_eq!(summary(entries), refused_login("oauth_failed"));
    assert_eq!(entries[0].details["cause"], "provider error: access_denied");
}

#[tokio::test]
async fn a_callback_without_a_code_is_oauth_failed() {
    let callback = Callback {
        code: None,
        ..callback()
    };
    let done = Mocks::new()
        .takes(login_flow())
        .never_exchanges()
        .writes_nothing()
        .finish(callback, Some(STATE))
        .await;
    assert!(matches!(done.error(), OAuthError::OAuthFailed));
    assert_eq!(summary(done.entries()), refused_login("oauth_failed"));
}

/// A refused code exchange or an ID token that does not verify (signature, issuer,
/// audience, expiry, nonce: the client's checks) and an unreachable provider alike.
#[tokio::test]
async fn a_provider_answer_that_does_not_verify_is_oauth_failed_with_its_cause() {
    type Failure = fn() -> OAuthClientError;
    let failures: [(Failure, &str); 3] = [
        (
            || OAuthClientError::Rejected("nonce mismatch".into()),
            "provider answer refused: nonce mismatch",
        ),
        (
            || OAuthClientError::Unreachable("token endpoint down".into()),
            "provider unreachable: token endpoint down",
        ),
        (|| OAuthClientError::UnknownProvider, "unknown provider"),
    ];
    for (failure, cause) in failures {
        let mut m = Mocks::new().takes(login_flow()).writes_nothing();
        m.client
            .expect_finish()
            .times(1)
            .returning(move |_, _, _| Err(failure()));
        let done = m.comes_back().await;
        assert!(matches!(done.error(), OAuthError::OAuthFailed));
        let entries = done.entries();
        assert_eq!(summary(entries), refused_login("oauth_failed"));
        assert_eq!(entries[0].details["cause"], cause);
    }
}

#[tokio::test]
async fn a_long_provider_error_is_cut_short_in_the_trail() {
    let callback = Callback {
        code: None,
        state: Some(STATE.into()),
        error: Some("x".repeat(5_000)),
    };
    let done = Mocks::new()
        .takes(login_flow())
        .never_exchanges()
        .finish(callback, Some(STATE))
        .await;
    let cause = done.entries()[0].details["cause"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(cause.chars().count(), 200);
}

// --- Who it signs in as ---

#[tokio::test]
async fn a_first_login_creates_a_user_with_the_link_and_signs_in() {
    let mut m = Mocks::new()
        .login_with(vouched())
        .unlinked()
        .email_owner(None);
    let trail = m.trail.clone();
    let created = ada();
    let made = created.clone();
    m.users
        .expect_create_with_oauth()
        .times(1)
        .withf(|new, link, _| {
            new.email.as_str() == "ada@example.com"
                && new.password_hash.is_none()
                && new.email_verified
                && new.role.as_deref() == Some("user")
                && new.first_name.as_deref() == Some("Ada")
                && new.last_name.as_deref() == Some("Lovelace")
                && new.verification.is_none()
                && new.created_at == t0()
                && is_link_of(link, &vouched())
        })
        .returning(move |_, link, audit| {
            let account = stored_link(&made, &link);
            trail.write(audit, (made.clone(), account))
        });
    let done = m.opens_session(&created).comes_back().await;
    let success = done.signed_in();
    assert_eq!(success.token.expose(), "tok-1");
    assert_eq!(success.user.id, created.id);
    let entries = done.entries();
    assert_eq!(
        summary(entries),
        [
            entry("user.register", true, None),
            entry("oauth.link", true, None),
            entry("auth.login", true, None)
        ]
    );
    for e in entries {
        assert_eq!(e.user_id, Some(created.id));
        assert_eq!(e.details["provider"], PROVIDER);
        assert_eq!(e.ip_address, client().ip);
    }
    assert_eq!(entries[0].details["method"], "oauth");
    assert_eq!(entries[2].details["method"], "oauth");
    assert_eq!(
        entries[2].details["session_id"],
        success.session.id.to_string()
    );
    assert_eq!(entries[2].details["methods"], serde_json::json!(["oauth"]));
}

#[tokio::test]
async fn a_first_login_with_an_unverified_email_creates_an_unverified_user() {
    let mut m = Mocks::new()
        .login_with(identity(Some("ada@example.com"), false))
        .unlinked()
        .email_owner(None);
    let (trail, created) = (m.trail.clone(), ada());
    let made = created.clone();
    m.users
        .expect_create_with_oauth()
        .times(1)
        .withf(|new, _, _| !new.email_verified)
        .returning(move |_, link, audit| {
            trail.write(audit, (made.clone(), stored_link(&made, &link)))
        });
    let done = m.opens_session(&created).comes_back().await;
    assert!(done.result.is_ok(), "{:?}", done.result);
}

#[tokio::test]
async fn names_a_user_could_not_choose_are_left_out_of_a_new_account() {
    let odd = ExternalIdentity {
        first_name: Some("A\u{202e}da".into()),
        last_name: Some("L".repeat(101)),
        ..vouched()
    };
    let mut m = Mocks::new().login_with(odd).unlinked().email_owner(None);
    let (trail, created) = (m.trail.clone(), ada());
    let made = created.clone();
    m.users
        .expect_create_with_oauth()
        .times(1)
        .withf(|new, _, _| new.first_name.is_none() && new.last_name.is_none())
        .returning(move |_, link, audit| {
            trail.write(audit, (made.clone(), stored_link(&made, &link)))
        });
    let done = m.opens_session(&created).comes_back().await;
    assert!(done.result.is_ok(), "{:?}", done.result);
}

#[tokio::test]
async fn a_linked_account_signs_in_as_its_user_and_marks_a_vouched_email_verified() {
    let ada = ada();
    let mut m = Mocks::new()
        .login_with(vouched())
        .linked_to(&ada)
        .marks_verified(&ada);
    m.users.expect_find_by_email().never();
    m.users.expect_create_with_oauth().never();
    m.accounts.expect_link().never();
    let done = m.opens_session(&ada).comes_back().await;
    assert_eq!(done.signed_in().user.id, ada.id);
    let entries = done.entries();
    assert_eq!(
        summary(entries),
        [
            entry("email.verify", true, None),
            entry("auth.login", true, None)
        ]
    );
    for e in entries {
        assert_eq!(e.user_id, Some(ada.id));
        assert_eq!(e.resource_type.as_deref(), Some("user"));
        assert_eq!(e.resource_id, Some(ada.id.to_string()));
        assert_eq!(e.ip_address, client().ip);
    }
    assert_eq!(
        entries[0].details,
        serde_json::json!({ "method": "oauth", "provider": PROVIDER })
    );
}

#[tokio::test]
async fn a_linked_account_with_another_or_an_unvouched_email_verifies_nothing() {
    for identity in [
        identity(Some("someone@else.example"), true),
        identity(Some("ada@example.com"), false),
        identity(None, true),
    ] {
        let ada = ada();
        let mut m = Mocks::new().login_with(identity).linked_to(&ada);
        m.users.expect_mark_email_verified().never();
        let done = m.opens_session(&ada).comes_back().await;
        assert_eq!(done.signed_in().user.id, ada.id);
    }
}

/// Both the provider and the account's owner proved the mailbox: the same person.
#[tokio::test]
async fn an_email_verified_by_the_provider_and_the_owner_links_the_existing_user_and_signs_in() {
    let ada = verified_ada();
    let mut m = Mocks::new()
        .login_with(vouched())
        .unlinked()
        .email_owner(Some(ada.clone()))
        .links(&ada, vouched())
        .opens_session(&ada);
    m.users.expect_mark_email_verified().never();
    let done = m.comes_back().await;
    assert_eq!(done.signed_in().user.id, ada.id);
    let entries = done.entries();
    assert_eq!(
        summary(entries),
        [
            entry("oauth.link", true, None),
            entry("auth.login", true, None)
        ]
    );
    assert!(entries.iter().all(|e| e.user_id == Some(ada.id)));
}

/// Anyone can claim an address at a provider that does not check it: the owner links it
/// while signed in instead.
#[tokio::test]
async fn an_unverified_email_of_an_existing_user_is_email_taken_and_writes_nothing() {
    let ada = ada();
    let done = Mocks::new()
        .login_with(identity(Some("ada@example.com"), false))
        .unlinked()
        .email_owner(Some(ada.clone()))
        .writes_nothing()
        .comes_back()
        .await;
    assert!(matches!(done.error(), OAuthError::EmailTaken));
    let entries = done.entries();
    assert_eq!(summary(entries), refused_login("email_taken"));
    assert_eq!(entries[0].user_id, Some(ada.id));
}

/// Whoever registered the address without proving the mailbox (a pre-registration by an
/// attacker, say) does not get the account its owner signs into: nothing is linked or
/// verified; the owner proves the mailbox, then links the provider while signed in.
#[tokio::test]
async fn a_vouched_email_of_an_account_whose_email_is_unverified_is_email_taken() {
    let ada = ada();
    let done = Mocks::new()
        .login_with(vouched())
        .unlinked()
        .email_owner(Some(ada.clone()))
        .writes_nothing()
        .comes_back()
        .await;
    assert!(matches!(done.error(), OAuthError::EmailTaken));
    let entries = done.entries();
    assert_eq!(summary(entries), refused_login("email_taken"));
    assert_eq!(entries[0].user_id, Some(ada.id));
    assert_eq!(entries[0].details["cause"], "account email not verified");
}

#[tokio::test]
async fn an_email_whose_owner_has_another_account_of_the_provider_is_email_taken() {
    let ada = verified_ada();
    let done = Mocks::new()
        .login_with(vouched())
        .unlinked()
        .email_owner(Some(ada))
        .link_conflicts(Constraint::OAuthUserProvider)
        .comes_back()
        .await;
    assert!(matches!(done.error(), OAuthError::EmailTaken));
    assert_eq!(summary(done.entries()), refused_login("email_taken"));
}

#[tokio::test]
async fn no_usable_email_from_the_provider_is_oauth_failed() {
    for email in [None, Some("not an address")] {
        let mut m = Mocks::new()
            .login_with(identity(email, true))
            .unlinked()
            .writes_nothing();
        m.users.expect_find_by_email().never();
        let done = m.comes_back().await;
        assert!(matches!(done.error(), OAuthError::OAuthFailed));
        assert_eq!(summary(done.entries()), refused_login("oauth_failed"));
    }
}

// --- What stops the session ---

#[tokio::test]
async fn a_disabled_user_is_refused() {
    let mut suspended = ada();
    suspended.status = UserStatus::Suspended;
    let mut m = Mocks::new()
        .login_with(identity(Some("ada@example.com"), false))
        .linked_to(&suspended);
    m.sessions.expect_open_without_password().never();
    let done = m.comes_back().await;
    assert!(matches!(done.error(), OAuthError::AccountDisabled));
    assert_eq!(summary(done.entries()), refused_login("account_disabled"));
}

#[tokio::test]
async fn a_disabled_owner_of_a_verified_email_is_refused_before_anything_is_linked() {
    let mut inactive = verified_ada();
    inactive.status = UserStatus::Inactive;
    let done = Mocks::new()
        .login_with(vouched())
        .unlinked()
        .email_owner(Some(inactive))
        .writes_nothing()
        .comes_back()
        .await;
    assert!(matches!(done.error(), OAuthError::AccountDisabled));
    assert_eq!(summary(done.entries()), refused_login("account_disabled"));
}

#[tokio::test]
async fn a_user_disabled_while_signing_in_is_refused() {
    let ada = ada();
    let mut m = Mocks::new()
        .login_with(identity(None, false))
        .linked_to(&ada);
    m.sessions
        .expect_open_without_password()
        .times(1)
        .returning(|_, _| Ok(None));
    let done = m.comes_back().await;
    assert!(matches!(done.error(), OAuthError::AccountDisabled));
    assert_eq!(summary(done.entries()), refused_login("account_disabled"));
}

#[tokio::test]
async fn an_unverified_email_is_refused_when_the_policy_asks_for_a_verified_one() {
    let ada = ada();
    let mut m = Mocks::new()
        .login_with(identity(Some("ada@example.com"), false))
        .linked_to(&ada)
        .writes_nothing();
    m.policy = Some(OAuthPolicy {
        require_verified_email: true,
        ..POLICY
    });
    let done = m.comes_back().await;
    assert!(matches!(done.error(), OAuthError::EmailNotVerified));
    assert_eq!(summary(done.entries()), refused_login("email_not_verified"));
}

/// The provider's word verifies the address before the policy looks at it.
#[tokio::test]
async fn a_vouched_email_satisfies_a_policy_asking_for_a_verified_one() {
    let ada = ada();
    let mut m = Mocks::new()
        .login_with(vouched())
        .linked_to(&ada)
        .marks_verified(&ada)
        .opens_session(&ada);
    m.policy = Some(OAuthPolicy {
        require_verified_email: true,
        ..POLICY
    });
    let done = m.comes_back().await;
    assert_eq!(done.signed_in().user.id, ada.id);
}

/// The lock guards the password against guessing; this login checks no password.
#[tokio::test]
async fn a_password_lockout_does_not_stop_an_oauth_login() {
    let mut locked = ada();
    locked.locked_until = Some(t0() + chrono::Duration::minutes(10));
    locked.failed_login_attempts = 5;
    let done = Mocks::new()
        .login_with(identity(None, false))
        .linked_to(&locked)
        .opens_session(&locked)
        .comes_back()
        .await;
    assert_eq!(done.signed_in().user.id, locked.id);
}

// --- Before anything ---

#[tokio::test]
async fn a_callback_is_rate_limited_per_ip_before_its_state_is_taken() {
    let mut m = Mocks::default();
    m.client.expect_has_provider().returning(|_| true);
    m.limiter
        .expect_check()
        .times(1)
        .withf(|key, _| key == "oauth:finish:ip:192.0.2.9")
        .returning(|_, _| RateDecision::Limited {
            retry_after: Duration::from_secs(3),
        });
    m.flows.expect_take().never();
    let done = m.comes_back().await;
    assert!(matches!(done.error(), OAuthError::RateLimited { .. }));
    assert!(done.entries().is_empty());
}

#[tokio::test]
async fn a_callback_of_an_unknown_provider_is_not_found_and_uses_no_state() {
    let mut m = Mocks::default();
    m.client.expect_has_provider().returning(|_| false);
    m.flows.expect_take().never();
    let done = m.comes_back().await;
    assert!(matches!(done.error(), OAuthError::UnknownProvider));
    assert!(done.entries().is_empty());
}

/// A provider is one factor: an account with MFA on gets the second step, not a session.
#[tokio::test]
async fn an_account_with_mfa_on_gets_no_session_from_the_provider_alone() {
    let ada = verified_ada();
    let mut m = Mocks::new().login_with(vouched()).linked_to(&ada);
    m.factors = auth_ports::MfaFactors {
        passkeys: vec![],
        totp: Some(auth_ports::TotpEnrollment {
            sealed_secret: vec![1],
            confirmed_at: Some(t0()),
            last_used_step: None,
            created_at: t0(),
        }),
        recovery_codes_left: 10,
    };
    m.sessions.expect_open_without_password().never();

    let done = m.comes_back().await;

    let Ok(Finished::MfaRequired(user)) = &done.result else {
        panic!("{:?}", done.result);
    };
    assert_eq!(user.id, ada.id);
    assert_eq!(summary(done.entries()), refused_login("mfa_required"));
}
