//! The OAuth account repository contract, including `users.oauth_providers` staying equal
//! to the linked providers.

use crate::harness::{TestDb, new_user, now};
use auth_ports::{
    Constraint, OAuthAccountRepository, OAuthLink, StoreError, UserId, UserRepository,
};

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    link_and_unlink_keep_providers_in_step,
    a_subject_links_to_one_user_only,
    a_user_links_a_provider_once,
    create_with_oauth_makes_a_passwordless_user,
    create_with_oauth_and_a_taken_email_writes_nothing,
);

/// A link to `provider` for subject `subject`, with sealed tokens.
pub fn link(provider: &str, subject: &str) -> OAuthLink {
    OAuthLink {
        provider: provider.into(),
        provider_user_id: subject.into(),
        provider_email: Some(format!("{subject}@{provider}.example")),
        access_token_sealed: Some(vec![1, 2, 3]),
        refresh_token_sealed: None,
        token_expires_at: Some(now()),
        scopes: Some("openid email".into()),
        created_at: now(),
    }
}

async fn providers(db: &TestDb, user: UserId) -> Vec<String> {
    db.store
        .users()
        .find_by_id(user)
        .await
        .unwrap()
        .unwrap()
        .oauth_providers
}

async fn link_and_unlink_keep_providers_in_step(db: &TestDb) {
    let accounts = db.store.oauth_accounts();
    let user = db.user("o1@example.com").await;
    let github = accounts.link(user.id, link("github", "g1")).await.unwrap();
    assert_eq!(github.provider_user_id, "g1");
    accounts.link(user.id, link("google", "o1")).await.unwrap();
    assert_eq!(providers(db, user.id).await, ["github", "google"]);
    assert_eq!(
        accounts.find_by_subject("github", "g1").await.unwrap(),
        Some(github)
    );
    assert_eq!(accounts.list_for_user(user.id).await.unwrap().len(), 2);

    accounts.unlink(user.id, "github").await.unwrap();
    assert_eq!(providers(db, user.id).await, ["google"]);
    assert!(matches!(
        accounts.unlink(user.id, "github").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        accounts.find_by_subject("github", "g1").await.unwrap(),
        None
    );
    assert!(matches!(
        accounts.link(UserId::new(), link("github", "g9")).await,
        Err(StoreError::NotFound)
    ));
}

async fn a_subject_links_to_one_user_only(db: &TestDb) {
    let accounts = db.store.oauth_accounts();
    let first = db.user("o2@example.com").await;
    let second = db.user("o3@example.com").await;
    accounts
        .link(first.id, link("github", "same"))
        .await
        .unwrap();
    let err = accounts
        .link(second.id, link("github", "same"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::OAuthSubject)),
        "{err:?}"
    );
    assert!(
        providers(db, second.id).await.is_empty(),
        "a failed link changes nothing"
    );
}

async fn a_user_links_a_provider_once(db: &TestDb) {
    let accounts = db.store.oauth_accounts();
    let user = db.user("o4@example.com").await;
    accounts.link(user.id, link("github", "a")).await.unwrap();
    let err = accounts
        .link(user.id, link("github", "b"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::OAuthUserProvider)),
        "{err:?}"
    );
    assert_eq!(providers(db, user.id).await, ["github"]);
}

async fn create_with_oauth_makes_a_passwordless_user(db: &TestDb) {
    let mut new = new_user("o5@example.com");
    new.password_hash = None;
    new.email_verified = true;
    let (user, account) = db
        .store
        .users()
        .create_with_oauth(new.clone(), link("google", "o5"))
        .await
        .unwrap();
    assert_eq!(user.password_hash, None);
    assert!(user.email_verified);
    assert_eq!(user.email_verified_at, Some(new.created_at));
    assert_eq!(user.oauth_providers, ["google"]);
    assert_eq!(account.user_id, user.id);
}

async fn create_with_oauth_and_a_taken_email_writes_nothing(db: &TestDb) {
    db.user("o6@example.com").await;
    let err = db
        .store
        .users()
        .create_with_oauth(new_user("o6@example.com"), link("google", "o6"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::UserEmail)),
        "{err:?}"
    );
    assert_eq!(
        db.store
            .oauth_accounts()
            .find_by_subject("google", "o6")
            .await
            .unwrap(),
        None
    );
}
