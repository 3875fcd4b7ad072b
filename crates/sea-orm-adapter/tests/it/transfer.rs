//! The bulk transfer contract: import batches and export pages.

use crate::harness::{TestDb, now};
use auth_ports::{
    AccountToImport, Email, Imported, NewAuditEntry, OAuthAccountRepository as _, PasswordHash,
    PortableOAuthAccount, PortableUser, StoreError, UserId, UserRepository as _, UserStatus,
    UserTransfer,
};
use chrono::{Duration, SubsecRound as _};

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    an_import_creates_accounts_with_roles_links_and_trail,
    a_second_run_changes_nothing,
    clashing_accounts_and_taken_links_are_skipped_alone,
    an_unknown_role_writes_nothing_of_the_batch,
    export_pages_in_id_order_give_back_what_was_imported,
);

fn portable(email: &str) -> PortableUser {
    PortableUser {
        id: UserId::new(),
        email: Email::parse(email).unwrap(),
        status: UserStatus::Active,
        email_verified: true,
        first_name: Some("Ada".into()),
        last_name: None,
        roles: vec!["user".into()],
        created_at: (now() - Duration::days(400)).trunc_subsecs(6),
        password_hash: Some(PasswordHash::new(
            "$2b$05$E9ywxHKl126SadNo8V3PpehLhNuGCINyFFSJUFPN2etYc9EUg.bS6".into(),
        )),
        oauth_accounts: Vec::new(),
    }
}

fn link(provider: &str, subject: &str) -> PortableOAuthAccount {
    PortableOAuthAccount {
        provider: provider.into(),
        provider_user_id: subject.into(),
        provider_email: None,
    }
}

fn entries(batch: &[AccountToImport]) -> Vec<NewAuditEntry> {
    batch
        .iter()
        .map(|AccountToImport { account: user, .. }| NewAuditEntry {
            user_id: Some(user.id),
            action: "user.register".into(),
            resource_type: Some("user".into()),
            resource_id: Some(user.id.to_string()),
            ip_address: None,
            user_agent: None,
            details: serde_json::json!({"via": "import"}),
            success: true,
            error_message: None,
            created_at: now(),
        })
        .collect()
}

/// Imports `batch`, each account with the id the file named.
async fn import(db: &TestDb, batch: Vec<PortableUser>) -> Result<Vec<Imported>, StoreError> {
    let batch = batch
        .into_iter()
        .map(|account| AccountToImport {
            account,
            id_given: true,
        })
        .collect();
    import_as_given(db, batch).await
}

async fn import_as_given(
    db: &TestDb,
    batch: Vec<AccountToImport>,
) -> Result<Vec<Imported>, StoreError> {
    let audit = entries(&batch);
    db.store.transfer().import(batch, audit).await
}

async fn an_import_creates_accounts_with_roles_links_and_trail(db: &TestDb) {
    let mut ada = portable("ada@example.com");
    ada.roles = vec!["moderator".into(), "user".into()];
    ada.oauth_accounts = vec![link("github", "42"), link("google", "g-42")];
    let mut grace = portable("grace@example.com");
    grace.status = UserStatus::Suspended;
    grace.password_hash = None;
    let outcomes = import(db, vec![ada.clone(), grace.clone()]).await.unwrap();
    assert_eq!(outcomes, [Imported::Created, Imported::Created]);

    let stored = db.store.users().find_by_id(ada.id).await.unwrap().unwrap();
    assert_eq!(stored.email, ada.email);
    assert_eq!(stored.created_at, ada.created_at);
    assert_eq!(stored.password_hash, ada.password_hash);
    assert_eq!(stored.oauth_providers, ["github", "google"]);
    assert_eq!(db.role_names(ada.id).await.len(), 2);
    let linked = db
        .store
        .oauth_accounts()
        .list_for_user(ada.id)
        .await
        .unwrap();
    assert_eq!(linked.len(), 2);
    let grace_stored = db
        .store
        .users()
        .find_by_id(grace.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(grace_stored.status, UserStatus::Suspended);
    assert!(grace_stored.password_hash.is_none());
    let trail = db.trail().await;
    assert_eq!(trail.len(), 2);
    assert!(trail.iter().all(|e| e.entry.action == "user.register"));
}

async fn a_second_run_changes_nothing(db: &TestDb) {
    let batch = vec![portable("ada@example.com"), portable("grace@example.com")];
    import(db, batch.clone()).await.unwrap();
    let again = import(db, batch).await.unwrap();
    assert_eq!(again, [Imported::Present, Imported::Present]);
    assert_eq!(db.trail().await.len(), 2, "no second audit entry");
    // A file without ids gets new ones each run: the email says it is the same account.
    let without_id = AccountToImport {
        account: portable("ada@example.com"),
        id_given: false,
    };
    let again = import_as_given(db, vec![without_id]).await.unwrap();
    assert_eq!(again, [Imported::Present]);
}

async fn clashing_accounts_and_taken_links_are_skipped_alone(db: &TestDb) {
    let mut ada = portable("ada@example.com");
    ada.oauth_accounts = vec![link("github", "42")];
    import(db, vec![ada.clone()]).await.unwrap();

    let same_email = portable("ada@example.com");
    let mut same_id = portable("other@example.com");
    same_id.id = ada.id;
    let mut same_link = portable("linked@example.com");
    same_link.oauth_accounts = vec![link("github", "42")];
    let fine = portable("fine@example.com");
    let outcomes = import(
        db,
        vec![same_email, same_id, same_link.clone(), fine.clone()],
    )
    .await
    .unwrap();
    assert_eq!(
        outcomes,
        [
            Imported::Clashes,
            Imported::Clashes,
            Imported::LinkTaken,
            Imported::Created
        ]
    );
    let users = db.store.users();
    assert!(users.find_by_id(same_link.id).await.unwrap().is_none());
    assert!(users.find_by_id(fine.id).await.unwrap().is_some());
}

async fn an_unknown_role_writes_nothing_of_the_batch(db: &TestDb) {
    let fine = portable("fine@example.com");
    let mut odd = portable("odd@example.com");
    odd.roles = vec!["no-such-role".into()];
    let result = import(db, vec![fine.clone(), odd]).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    assert!(
        db.store
            .users()
            .find_by_id(fine.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(db.trail().await.is_empty());
}

async fn export_pages_in_id_order_give_back_what_was_imported(db: &TestDb) {
    let mut batch: Vec<PortableUser> = (0..7)
        .map(|i| portable(&format!("user{i}@example.com")))
        .collect();
    batch[3].oauth_accounts = vec![link("github", "3"), link("google", "3")];
    batch[4].roles = vec!["admin".into(), "user".into()];
    batch[5].roles = Vec::new();
    import(db, batch.clone()).await.unwrap();
    batch.sort_by_key(|user| user.id.0);

    let transfer = db.store.transfer();
    let mut exported = Vec::new();
    let mut after = None;
    loop {
        let page = transfer.export(after, 3).await.unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        exported.extend(page);
    }
    assert_eq!(exported, batch);
}
