//! Two first logins at once: of the same external account, or of the same address.

use super::*;

/// [`SUBJECT`] is linked to nobody at the first look and to `user` from the second on.
fn linked_after_first_look(m: &mut Mocks, user: &User) {
    let (looks, account) = (AtomicUsize::new(0), account_of(user));
    m.accounts
        .expect_find_by_subject()
        .times(2)
        .returning(move |_, _| {
            let first = looks.fetch_add(1, Ordering::SeqCst) == 0;
            Ok((!first).then(|| account.clone()))
        });
}

/// Ada's address belongs to nobody at the first look and to `user` from the second on.
fn registered_after_first_look(m: &mut Mocks, user: &User) {
    let (looks, owner) = (AtomicUsize::new(0), user.clone());
    m.users.expect_find_by_email().times(2).returning(move |_| {
        let first = looks.fetch_add(1, Ordering::SeqCst) == 0;
        Ok((!first).then(|| owner.clone()))
    });
}

/// Creating the user fails on `constraint`, writing nothing.
fn creation_conflicts(m: &mut Mocks, constraint: Constraint) {
    m.users
        .expect_create_with_oauth()
        .times(1)
        .returning(move |_, _, _| Err(StoreError::Conflict(constraint)));
}

#[tokio::test]
async fn a_first_login_beaten_by_one_of_the_same_account_signs_in_as_the_user_it_made() {
    let winner = ada();
    let mut m = Mocks::new().login_with(vouched()).email_owner(None);
    linked_after_first_look(&mut m, &winner);
    creation_conflicts(&mut m, Constraint::OAuthSubject);
    let done = m
        .finds(&winner)
        .marks_verified(&winner)
        .opens_session(&winner)
        .comes_back()
        .await;
    assert_eq!(done.signed_in().user.id, winner.id);
    assert_eq!(
        summary(done.entries()),
        [
            entry("email.verify", true, None),
            entry("auth.login", true, None)
        ]
    );
}

/// The same race with an email the provider does not vouch for: the other login made
/// the user with that address, which this one finds taken, but the account is linked
/// to that user now, so this login signs in as them rather than answering 409.
#[tokio::test]
async fn a_first_login_with_an_unverified_email_beaten_by_one_of_the_same_account_signs_in() {
    let winner = ada();
    let unvouched = identity(Some("ada@example.com"), false);
    let mut m = Mocks::new().login_with(unvouched);
    linked_after_first_look(&mut m, &winner);
    registered_after_first_look(&mut m, &winner);
    creation_conflicts(&mut m, Constraint::UserEmail);
    m.accounts.expect_link().never();
    m.users.expect_mark_email_verified().never();
    let done = m.finds(&winner).opens_session(&winner).comes_back().await;
    assert_eq!(done.signed_in().user.id, winner.id);
    assert_eq!(summary(done.entries()), [entry("auth.login", true, None)]);
}

#[tokio::test]
async fn a_first_login_beaten_by_an_account_of_a_verified_email_links_it() {
    let ada = verified_ada();
    let mut m = Mocks::new().login_with(vouched()).unlinked();
    registered_after_first_look(&mut m, &ada);
    creation_conflicts(&mut m, Constraint::UserEmail);
    let done = m
        .links(&ada, vouched())
        .opens_session(&ada)
        .comes_back()
        .await;
    assert_eq!(done.signed_in().user.id, ada.id);
    assert_eq!(
        summary(done.entries()),
        [
            entry("oauth.link", true, None),
            entry("auth.login", true, None)
        ]
    );
}

#[tokio::test]
async fn a_first_login_beaten_by_a_registration_of_an_unverified_email_is_email_taken() {
    let ada = ada();
    let unvouched = identity(Some("ada@example.com"), false);
    let mut m = Mocks::new().login_with(unvouched).unlinked();
    registered_after_first_look(&mut m, &ada);
    creation_conflicts(&mut m, Constraint::UserEmail);
    m.accounts.expect_link().never();
    m.sessions.expect_open_without_password().never();
    let done = m.comes_back().await;
    assert!(matches!(done.error(), OAuthError::EmailTaken));
    assert_eq!(summary(done.entries()), refused_login("email_taken"));
}

/// Linking by email loses to the same account's first login, which linked it to the
/// same user: this login signs in as that user too.
#[tokio::test]
async fn a_link_by_email_beaten_by_the_same_account_signs_in_as_its_user() {
    for constraint in [Constraint::OAuthSubject, Constraint::OAuthUserProvider] {
        let ada = verified_ada();
        let mut m = Mocks::new()
            .login_with(vouched())
            .email_owner(Some(ada.clone()));
        linked_after_first_look(&mut m, &ada);
        let done = m
            .link_conflicts(constraint)
            .finds(&ada)
            .opens_session(&ada)
            .comes_back()
            .await;
        assert_eq!(done.signed_in().user.id, ada.id, "{constraint:?}");
        assert_eq!(summary(done.entries()), [entry("auth.login", true, None)]);
    }
}
