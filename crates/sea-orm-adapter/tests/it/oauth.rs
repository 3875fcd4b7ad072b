//! The OAuth account repository contract: links, and accounts made by a first OAuth
//! login, keep `users.oauth_providers` equal to the linked providers and store their
//! audit entries with them.

use crate::audit::entry;
use crate::harness::{TestDb, new_user, now};
use auth_ports::{
    AuditWith, Constraint, OAuthAccount, OAuthAccountRepository, OAuthLink, StoreError, User,
    UserId, UserRepository, UserStatus, UserUpdate,
};
use auth_testing::unaudited;
use serde_json::json;

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    link_and_unlink_keep_providers_in_step,
    a_subject_links_to_one_user_only,
    a_user_links_a_provider_once,
    a_deleted_user_cannot_link,
    a_link_stores_its_audit_entry_with_it,
    create_with_oauth_makes_a_passwordless_user,
    create_with_oauth_stores_its_audit_entries_with_it,
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

/// An audit of one `oauth.link` entry naming the linked provider.
pub fn link_audit() -> AuditWith<OAuthAccount> {
    Box::new(|account| {
        let mut linked = entry(Some(account.user_id), "oauth.link", now());
        linked.details = json!({ "provider": account.provider });
        vec![linked]
    })
}

/// The providers `users.oauth_providers` lists for `user`.
pub async fn providers(db: &TestDb, user: UserId) -> Vec<String> {
    db.store
        .users()
        .find_by_id(user)
        .await
        .unwrap()
        .unwrap()
        .oauth_providers
}

/// A user without a password, made by a first login with `google` as `subject`.
pub async fn passwordless(db: &TestDb, subject: &str) -> User {
    let mut new = new_user(&format!("{subject}@example.com"));
    new.password_hash = None;
    let users = db.store.users();
    let created = users.create_with_oauth(new, link("google", subject), unaudited());
    created.await.unwrap().0
}

async fn link_and_unlink_keep_providers_in_step(db: &TestDb) {
    let accounts = db.store.oauth_accounts();
    let user = db.user("o1@example.com").await;
    let github = accounts.link(user.id, link("github", "g1"), unaudited());
    let github = github.await.unwrap();
    assert_eq!(github.provider_user_id, "g1");
    let google = accounts.link(user.id, link("google", "o1"), unaudited());
    google.await.unwrap();
    assert_eq!(providers(db, user.id).await, ["github", "google"]);
    assert_eq!(
        accounts.find_by_subject("github", "g1").await.unwrap(),
        Some(github)
    );
    assert_eq!(accounts.list_for_user(user.id).await.unwrap().len(), 2);

    accounts
        .unlink(user.id, "github", unaudited())
        .await
        .unwrap();
    assert_eq!(providers(db, user.id).await, ["google"]);
    assert!(matches!(
        accounts.unlink(user.id, "github", unaudited()).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        accounts.find_by_subject("github", "g1").await.unwrap(),
        None
    );
    assert!(matches!(
        accounts
            .link(UserId::new(), link("github", "g9"), link_audit())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(db.trail().await.is_empty(), "a failed link audits nothing");
}

/// A link that conflicts changes nothing and stores no audit entry.
async fn a_subject_links_to_one_user_only(db: &TestDb) {
    let accounts = db.store.oauth_accounts();
    let first = db.user("o2@example.com").await;
    let second = db.user("o3@example.com").await;
    accounts
        .link(first.id, link("github", "same"), unaudited())
        .await
        .unwrap();
    let err = accounts
        .link(second.id, link("github", "same"), link_audit())
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
    assert!(db.trail().await.is_empty(), "a failed link audits nothing");
}

async fn a_user_links_a_provider_once(db: &TestDb) {
    let accounts = db.store.oauth_accounts();
    let user = db.user("o4@example.com").await;
    let first = accounts.link(user.id, link("github", "a"), unaudited());
    first.await.unwrap();
    let err = accounts
        .link(user.id, link("github", "b"), link_audit())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::OAuthUserProvider)),
        "{err:?}"
    );
    assert_eq!(providers(db, user.id).await, ["github"]);
    assert!(db.trail().await.is_empty(), "a failed link audits nothing");
}

async fn a_deleted_user_cannot_link(db: &TestDb) {
    let user = db.user("o7@example.com").await;
    let delete = UserUpdate {
        status: Some(UserStatus::Deleted),
        ..UserUpdate::default()
    };
    let users = db.store.users();
    users
        .update(user.id, delete, now(), unaudited())
        .await
        .unwrap();
    let accounts = db.store.oauth_accounts();
    let err = accounts
        .link(user.id, link("github", "o7"), link_audit())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::DeletedUser)),
        "{err:?}"
    );
    assert!(accounts.list_for_user(user.id).await.unwrap().is_empty());
    assert!(db.trail().await.is_empty());
}

async fn a_link_stores_its_audit_entry_with_it(db: &TestDb) {
    let user = db.user("o8@example.com").await;
    let accounts = db.store.oauth_accounts();
    let linked = accounts.link(user.id, link("github", "o8"), link_audit());
    linked.await.unwrap();
    let trail = db.trail().await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0].entry.action, "oauth.link");
    assert_eq!(trail[0].entry.user_id, Some(user.id));
    assert_eq!(trail[0].entry.details, json!({ "provider": "github" }));
}

async fn create_with_oauth_makes_a_passwordless_user(db: &TestDb) {
    let mut new = new_user("o5@example.com");
    new.password_hash = None;
    new.email_verified = true;
    let (user, account) = db
        .store
        .users()
        .create_with_oauth(new.clone(), link("google", "o5"), unaudited())
        .await
        .unwrap();
    assert_eq!(user.password_hash, None);
    assert!(user.email_verified);
    assert_eq!(user.email_verified_at, Some(new.created_at));
    assert_eq!(user.oauth_providers, ["google"]);
    assert_eq!(account.user_id, user.id);
    assert_eq!(db.role_names(user.id).await, ["user"]);
}

/// A first OAuth login's `user.register` and `oauth.link`, made of what was stored.
fn register_audit() -> AuditWith<(User, OAuthAccount)> {
    Box::new(|(user, account)| {
        let mut register = entry(Some(user.id), "user.register", user.created_at);
        register.details = json!({ "email": user.email.as_str() });
        let mut linked = entry(Some(user.id), "oauth.link", account.created_at);
        linked.details = json!({ "provider": account.provider });
        vec![register, linked]
    })
}

async fn create_with_oauth_stores_its_audit_entries_with_it(db: &TestDb) {
    let mut new = new_user("o9@example.com");
    new.password_hash = None;
    let users = db.store.users();
    let created = users.create_with_oauth(new, link("google", "o9"), register_audit());
    let (user, _) = created.await.unwrap();
    let trail = db.trail().await;
    let actions: Vec<_> = trail.iter().map(|e| e.entry.action.as_str()).collect();
    assert_eq!(actions, ["oauth.link", "user.register"]);
    assert!(trail.iter().all(|e| e.entry.user_id == Some(user.id)));
    assert_eq!(trail[0].entry.details, json!({ "provider": "google" }));
    assert_eq!(trail[1].entry.details, json!({ "email": "o9@example.com" }));
}

async fn create_with_oauth_and_a_taken_email_writes_nothing(db: &TestDb) {
    db.user("o6@example.com").await;
    let err = db
        .store
        .users()
        .create_with_oauth(
            new_user("o6@example.com"),
            link("google", "o6"),
            register_audit(),
        )
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
    assert!(db.trail().await.is_empty(), "nothing audited");
}
