//! Beginning a flow: the secrets it is kept under, and what stops it.

use super::*;

/// The provider builds the URL from the flow's fresh state, nonce and verifier; a link
/// (`reauthenticate`) makes the provider ask the user to sign in again.
fn builds_url(m: &mut Mocks, reauthenticate: bool) {
    m.client
        .expect_authorization_url()
        .times(1)
        .withf(move |provider, request| {
            provider == PROVIDER
                && request.state.expose() == "tok-1"
                && request.nonce.expose() == "tok-2"
                && request.pkce_verifier.expose() == "tok-3"
                && request.reauthenticate == reauthenticate
        })
        .returning(|_, _| Ok("https://idp.example/authorize?state=tok-1".into()));
}

async fn begin(m: Mocks, link_to: Option<&Principal>) -> Outcome<BegunFlow, OAuthError> {
    let trail = m.trail.clone();
    let service = m.service();
    let result = service.begin(PROVIDER, link_to, &client()).await;
    drop(service);
    Outcome {
        result,
        entries: trail.entries(),
    }
}

#[tokio::test]
async fn begin_keeps_a_login_flow_for_ten_minutes_under_the_hash_of_its_state() {
    let mut m = Mocks::new();
    builds_url(&mut m, false);
    m.flows
        .expect_save()
        .times(1)
        .withf(|flow| {
            flow.state_hash == hash_of("tok-1")
                && flow.provider == PROVIDER
                && flow.nonce.expose() == "tok-2"
                && flow.pkce_verifier.expose() == "tok-3"
                && flow.link_user_id.is_none()
                && flow.link_session_id.is_none()
                && flow.created_at == t0()
                && flow.expires_at == t0() + chrono::Duration::minutes(10)
        })
        .returning(|_| Ok(()));
    let begun = begin(m, None).await;
    assert!(begun.entries.is_empty());
    let begun = begun.result.unwrap();
    assert_eq!(
        begun.authorization_url,
        "https://idp.example/authorize?state=tok-1"
    );
    assert_eq!(begun.state.expose(), "tok-1");
    assert!(!format!("{begun:?}").contains("tok-1"));
}

#[tokio::test]
async fn begin_of_a_link_binds_the_flow_to_the_callers_session_and_asks_for_a_fresh_sign_in() {
    let ada = ada_signed_in(&ada());
    let mut m = Mocks::new();
    builds_url(&mut m, true);
    let (id, session) = (ada.user.id, ada.session.id);
    m.flows
        .expect_save()
        .times(1)
        .withf(move |flow| flow.link_user_id == Some(id) && flow.link_session_id == Some(session))
        .returning(|_| Ok(()));
    let begun = begin(m, Some(&ada)).await;
    assert!(begun.result.is_ok());
}

#[tokio::test]
async fn begin_with_an_unknown_provider_is_not_found_before_anything_is_counted() {
    let mut m = Mocks::default();
    m.client.expect_has_provider().returning(|_| false);
    m.limiter.expect_check().never();
    m.flows.expect_save().never();
    let begun = begin(m, None).await;
    assert!(matches!(begun.error(), OAuthError::UnknownProvider));
}

#[tokio::test]
async fn begin_is_rate_limited_per_ip() {
    let mut m = Mocks::default();
    m.client.expect_has_provider().returning(|_| true);
    m.limiter
        .expect_check()
        .times(1)
        .withf(|key, limit| key == "oauth:begin:ip:192.0.2.9" && *limit == POLICY.login_limit)
        .returning(|_, _| RateDecision::Limited {
            retry_after: Duration::from_secs(7),
        });
    m.tokens.expect_generate().never();
    m.flows.expect_save().never();
    let begun = begin(m, None).await;
    assert!(
        matches!(begun.error(), OAuthError::RateLimited { retry_after } if retry_after.as_secs() == 7)
    );
}

#[tokio::test]
async fn begin_when_the_provider_is_unreachable_is_unavailable_and_keeps_no_flow() {
    let mut m = Mocks::new();
    m.client
        .expect_authorization_url()
        .times(1)
        .returning(|_, _| Err(OAuthClientError::Unreachable("discovery timed out".into())));
    m.flows.expect_save().never();
    let begun = begin(m, None).await;
    assert!(matches!(begun.error(), OAuthError::Unavailable(why) if why == "discovery timed out"));
}

#[tokio::test]
async fn a_link_needs_a_session_authenticated_within_the_step_up_window() {
    let ada = ada_signed_in_long_ago(&ada());
    let mut m = Mocks::default();
    m.client.expect_has_provider().returning(|_| true);
    m.client.expect_authorization_url().never();
    m.flows.expect_save().never();
    let begun = begin(m, Some(&ada)).await;
    assert!(
        matches!(begun.result, Err(OAuthError::ReauthenticationRequired(_))),
        "{:?}",
        begun.result
    );
}
