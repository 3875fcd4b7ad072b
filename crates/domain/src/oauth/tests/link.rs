//! Linking a provider to a signed-in user, listing the links, and unlinking one.

use super::*;

/// Ada finishes the link flow she began, in a browser without the login cookie (she
/// began it with her bearer token), the session she began it in still active.
async fn ada_links(m: Mocks, ada: &User) -> Outcome<Finished, OAuthError> {
    let ada = ada_signed_in(ada);
    m.takes(link_flow(&ada))
        .active_sessions(&ada.user, vec![ada.session.clone()])
        .finish(callback(), None)
        .await
}

/// Ada's accounts are listed once, as `accounts`.
fn lists(m: &mut Mocks, ada: &User, accounts: Vec<OAuthAccount>) {
    let id = ada.id;
    m.accounts
        .expect_list_for_user()
        .times(1)
        .withf(move |user| *user == id)
        .returning(move |_| Ok(accounts.clone()));
}

#[tokio::test]
async fn a_link_flow_links_the_provider_to_the_user_who_began_it() {
    let ada = ada();
    let mut m = Mocks::new()
        .vouches(identity(Some("ada@example.com"), false))
        .finds(&ada)
        .links(&ada, identity(Some("ada@example.com"), false));
    let account = account_of(&ada);
    lists(&mut m, &ada, vec![account.clone()]);
    m.sessions.expect_open_without_password().never();
    let done = ada_links(m, &ada).await;
    assert_eq!(done.linked(), [account]);
    let entries = done.entries();
    assert_eq!(summary(entries), [entry("oauth.link", true, None)]);
    assert_eq!(entries[0].user_id, Some(ada.id));
    assert_eq!(entries[0].details["provider"], PROVIDER);
}

/// The link completes only after a look at the user's active sessions finds the one
/// that began the flow among them.
#[tokio::test]
async fn a_link_flow_links_while_the_session_that_began_it_is_active() {
    let ada = ada_signed_in(&ada());
    let other = session_of(&ada.user, t0());
    let (id, mut m) = (ada.user.id, Mocks::new());
    let active = vec![other, ada.session.clone()];
    m.sessions
        .expect_list_active_for_user()
        .times(1)
        .withf(move |user, now| *user == id && *now == t0())
        .returning(move |_, _| Ok(active.clone()));
    let mut m = m
        .takes(link_flow(&ada))
        .vouches(vouched())
        .finds(&ada.user)
        .links(&ada.user, vouched());
    lists(&mut m, &ada.user, vec![account_of(&ada.user)]);
    let done = m.finish(callback(), None).await;
    assert_eq!(done.linked().len(), 1);
    assert_eq!(summary(done.entries()), [entry("oauth.link", true, None)]);
}

/// A thief of Ada's session begins a link; Ada logs out everywhere (and signs in
/// again) before the thief's browser comes back: the flow is spent and links nothing.
#[tokio::test]
async fn a_link_flow_whose_session_was_revoked_since_is_invalid_state() {
    let ada = ada_signed_in(&ada());
    let signed_in_again = session_of(&ada.user, t0());
    let done = Mocks::new()
        .takes(link_flow(&ada))
        .vouches(vouched())
        .finds(&ada.user)
        .active_sessions(&ada.user, vec![signed_in_again])
        .writes_nothing()
        .finish(callback(), None)
        .await;
    assert!(matches!(done.error(), OAuthError::InvalidState));
    let entries = done.entries();
    assert_eq!(
        summary(entries),
        [entry("oauth.link", false, Some("invalid_state"))]
    );
    assert_eq!(entries[0].user_id, Some(ada.user.id));
    assert_eq!(
        entries[0].details["cause"],
        "the session that began the link is no longer active"
    );
}

/// A link flow that names no session (none is stored so) is refused the same way.
#[tokio::test]
async fn a_link_flow_without_a_session_is_invalid_state() {
    let ada = ada_signed_in(&ada());
    let flow = PendingOAuthFlow {
        link_session_id: None,
        ..link_flow(&ada)
    };
    let mut m = Mocks::new()
        .takes(flow)
        .vouches(vouched())
        .finds(&ada.user)
        .writes_nothing();
    m.sessions.expect_list_active_for_user().never();
    let done = m.finish(callback(), None).await;
    assert!(matches!(done.error(), OAuthError::InvalidState));
    assert_eq!(
        summary(done.entries()),
        [entry("oauth.link", false, Some("invalid_state"))]
    );
}

#[tokio::test]
async fn linking_the_account_linked_already_changes_nothing() {
    let ada = ada();
    let mut m = Mocks::new()
        .vouches(vouched())
        .finds(&ada)
        .link_conflicts(Constraint::OAuthSubject);
    let account = account_of(&ada);
    m.accounts
        .expect_find_by_subject()
        .returning(move |_, _| Ok(Some(account.clone())));
    lists(&mut m, &ada, vec![account_of(&ada)]);
    let done = ada_links(m, &ada).await;
    assert_eq!(done.linked().len(), 1);
    assert!(done.entries().is_empty());
}

#[tokio::test]
async fn linking_an_account_of_another_user_is_refused() {
    let (ada, bob) = (ada(), user_at("bob@example.com", t0()));
    let mut m = Mocks::new()
        .vouches(vouched())
        .finds(&ada)
        .link_conflicts(Constraint::OAuthSubject);
    let account = account_of(&bob);
    m.accounts
        .expect_find_by_subject()
        .returning(move |_, _| Ok(Some(account.clone())));
    m.accounts.expect_list_for_user().never();
    let done = ada_links(m, &ada).await;
    assert!(matches!(done.error(), OAuthError::ProviderAccountTaken));
    let entries = done.entries();
    assert_eq!(
        summary(entries),
        [entry("oauth.link", false, Some("provider_account_taken"))]
    );
    assert_eq!(entries[0].user_id, Some(ada.id));
}

#[tokio::test]
async fn linking_a_second_account_of_a_provider_is_refused() {
    let ada = ada();
    let mut m = Mocks::new()
        .vouches(vouched())
        .finds(&ada)
        .link_conflicts(Constraint::OAuthUserProvider)
        .unlinked();
    m.accounts.expect_list_for_user().never();
    let done = ada_links(m, &ada).await;
    assert!(matches!(done.error(), OAuthError::AlreadyLinked));
    assert_eq!(
        summary(done.entries()),
        [entry("oauth.link", false, Some("already_linked"))]
    );
}

#[tokio::test]
async fn a_link_flow_of_a_user_disabled_since_it_began_is_refused() {
    let mut ada = ada();
    ada.status = UserStatus::Suspended;
    let mut m = Mocks::new().vouches(vouched()).finds(&ada);
    m.accounts.expect_link().never();
    let done = ada_links(m, &ada).await;
    assert!(matches!(done.error(), OAuthError::AccountDisabled));
    assert_eq!(
        summary(done.entries()),
        [entry("oauth.link", false, Some("account_disabled"))]
    );
}

#[tokio::test]
async fn a_link_flow_of_a_user_deleted_since_it_began_names_no_actor() {
    let ada = ada();
    let mut m = Mocks::new().vouches(vouched());
    m.users.expect_find_by_id().returning(|_| Ok(None));
    m.accounts.expect_link().never();
    let done = ada_links(m, &ada).await;
    assert!(matches!(done.error(), OAuthError::AccountDisabled));
    assert_eq!(done.entries()[0].user_id, None);
}

#[tokio::test]
async fn a_provider_error_in_a_link_flow_is_an_audited_failed_link() {
    let ada = ada();
    let callback = Callback {
        error: Some("access_denied".into()),
        code: None,
        ..callback()
    };
    let done = Mocks::new()
        .takes(link_flow(&ada_signed_in(&ada)))
        .never_exchanges()
        .writes_nothing()
        .finish(callback, None)
        .await;
    assert!(matches!(done.error(), OAuthError::OAuthFailed));
    let entries = done.entries();
    assert_eq!(
        summary(entries),
        [entry("oauth.link", false, Some("oauth_failed"))]
    );
    assert_eq!(entries[0].user_id, Some(ada.id));
}

#[tokio::test]
async fn the_accounts_listed_are_the_callers() {
    let ada = ada();
    let (mut m, account) = (Mocks::new(), account_of(&ada));
    lists(&mut m, &ada, vec![account.clone()]);
    let listed = m.service().accounts(&ada_signed_in(&ada)).await.unwrap();
    assert_eq!(listed, [account]);
}

async fn ada_unlinks(m: Mocks, ada: &User) -> Outcome<(), UnlinkError> {
    let trail = m.trail.clone();
    let service = m.service();
    let result = service
        .unlink(&ada_signed_in(ada), PROVIDER, &client())
        .await;
    drop(service);
    Outcome {
        result,
        entries: trail.entries(),
    }
}

/// Unlinking `PROVIDER` from `ada` ends in `result`, its audit written by the port.
fn unlinks(m: &mut Mocks, ada: &User, result: fn() -> Result<(), StoreError>) {
    let (id, trail) = (ada.id, m.trail.clone());
    m.accounts
        .expect_unlink()
        .times(1)
        .withf(move |user, provider, _| *user == id && provider == PROVIDER)
        .returning(move |_, _, audit| {
            result()?;
            trail.write(audit, ())
        });
}

#[tokio::test]
async fn unlinking_writes_oauth_unlink_with_the_unlink() {
    let ada = ada();
    let mut m = Mocks::new();
    unlinks(&mut m, &ada, || Ok(()));
    let done = ada_unlinks(m, &ada).await;
    assert!(done.result.is_ok());
    let entries = done.entries();
    assert_eq!(summary(entries), [entry("oauth.unlink", true, None)]);
    assert_eq!(entries[0].user_id, Some(ada.id));
    assert_eq!(entries[0].details["provider"], PROVIDER);
}

#[tokio::test]
async fn unlinking_a_provider_not_linked_is_not_found() {
    let ada = ada();
    let mut m = Mocks::new();
    unlinks(&mut m, &ada, || Err(StoreError::NotFound));
    let done = ada_unlinks(m, &ada).await;
    assert!(matches!(done.error(), UnlinkError::NotFound));
    assert!(done.entries().is_empty());
}

#[tokio::test]
async fn unlinking_the_last_way_to_log_in_is_refused() {
    let ada = ada();
    let mut m = Mocks::new();
    unlinks(&mut m, &ada, || {
        Err(StoreError::Conflict(Constraint::LastLoginMethod))
    });
    let done = ada_unlinks(m, &ada).await;
    assert!(matches!(done.error(), UnlinkError::LastLoginMethod));
    assert!(done.entries().is_empty());
}

/// What the provider calls its email is stored only as an address authd accepts,
/// normalised; anything else (too long for the column, control characters) not at all.
#[tokio::test]
async fn a_link_stores_the_providers_email_normalised_or_not_at_all() {
    let too_long = format!("{}@example.com", "a".repeat(250));
    let cases = [
        (" Ada@Example.com", Some("ada@example.com")),
        (too_long.as_str(), None),
        ("ada\u{7}@example.com", None),
        ("ada@example.com\r\nBcc: x@y.example", None),
    ];
    for (given, stored) in cases {
        let ada = ada();
        let given = identity(Some(given), true);
        let mut m = Mocks::new().vouches(given).finds(&ada);
        let (id, trail, owner) = (ada.id, m.trail.clone(), ada.clone());
        let expected = stored.map(str::to_owned);
        m.accounts
            .expect_link()
            .times(1)
            .withf(move |user, link, _| *user == id && link.provider_email == expected)
            .returning(move |_, link, audit| trail.write(audit, stored_link(&owner, &link)));
        lists(&mut m, &ada, vec![account_of(&ada)]);
        let done = ada_links(m, &ada).await;
        assert_eq!(done.linked().len(), 1, "{stored:?}");
    }
}

#[tokio::test]
async fn unlinking_needs_a_session_authenticated_within_the_step_up_window() {
    let mut m = Mocks::default();
    m.accounts.expect_unlink().never();
    let service = m.service();
    let stale = ada_signed_in_long_ago(&ada());
    let result = service.unlink(&stale, PROVIDER, &client()).await;
    assert!(
        matches!(result, Err(UnlinkError::ReauthenticationRequired(_))),
        "{result:?}"
    );
}
