//! Unlinking an OAuth account: never the user's last way to log in, not even by two
//! unlinks at once, and audited with the change.

use crate::audit::entry;
use crate::harness::{TestDb, now};
use crate::oauth::{link, passwordless, providers};
use auth_ports::{AuditWith, Constraint, OAuthAccountRepository, StoreError, UserId};
use auth_testing::unaudited;
use serde_json::json;

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    the_last_login_method_cannot_be_unlinked,
    a_password_user_may_unlink_the_only_link,
    a_passwordless_user_may_unlink_all_but_one_link,
    two_unlinks_of_the_last_two_links_cannot_both_succeed,
);

/// An audit of one `oauth.unlink` entry by `user` for `provider`.
fn unlink_audit(user: UserId, provider: &str) -> AuditWith<()> {
    let provider = provider.to_owned();
    Box::new(move |()| {
        let mut unlinked = entry(Some(user), "oauth.unlink", now());
        unlinked.details = json!({ "provider": provider });
        vec![unlinked]
    })
}

async fn the_last_login_method_cannot_be_unlinked(db: &TestDb) {
    let accounts = db.store.oauth_accounts();
    let user = passwordless(db, "u1").await;
    let before = accounts.list_for_user(user.id).await.unwrap();
    let refused = accounts.unlink(user.id, "google", unlink_audit(user.id, "google"));
    let err = refused.await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::LastLoginMethod)),
        "{err:?}"
    );
    assert_eq!(accounts.list_for_user(user.id).await.unwrap(), before);
    assert_eq!(providers(db, user.id).await, ["google"]);
    assert!(
        db.trail().await.is_empty(),
        "a refused unlink audits nothing"
    );
    // A provider that is not linked is not found, whatever else the user has.
    let missing = accounts.unlink(user.id, "github", unaudited()).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

async fn a_password_user_may_unlink_the_only_link(db: &TestDb) {
    let accounts = db.store.oauth_accounts();
    let user = db.user("u2@example.com").await;
    let linked = accounts.link(user.id, link("github", "u2"), unaudited());
    linked.await.unwrap();
    let unlinked = accounts.unlink(user.id, "github", unlink_audit(user.id, "github"));
    unlinked.await.unwrap();
    assert!(accounts.list_for_user(user.id).await.unwrap().is_empty());
    assert!(providers(db, user.id).await.is_empty());
    let trail = db.trail().await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert_eq!(trail[0].entry.action, "oauth.unlink");
    assert_eq!(trail[0].entry.user_id, Some(user.id));
    assert_eq!(trail[0].entry.details, json!({ "provider": "github" }));
}

async fn a_passwordless_user_may_unlink_all_but_one_link(db: &TestDb) {
    let accounts = db.store.oauth_accounts();
    let user = passwordless(db, "u3").await;
    let linked = accounts.link(user.id, link("github", "u3"), unaudited());
    linked.await.unwrap();
    let unlinked = accounts.unlink(user.id, "google", unlink_audit(user.id, "google"));
    unlinked.await.unwrap();
    assert_eq!(providers(db, user.id).await, ["github"]);
    let last = accounts.unlink(user.id, "github", unlink_audit(user.id, "github"));
    assert!(matches!(
        last.await,
        Err(StoreError::Conflict(Constraint::LastLoginMethod))
    ));
    let trail = db.trail().await;
    assert_eq!(
        trail.len(),
        1,
        "only the allowed unlink is audited: {trail:?}"
    );
    assert_eq!(trail[0].entry.details, json!({ "provider": "google" }));
}

/// Each unlink alone would be allowed (another link remains); run together, exactly one
/// may succeed. Several users, so a missing lock would show.
async fn two_unlinks_of_the_last_two_links_cannot_both_succeed(db: &TestDb) {
    const ROUNDS: usize = 8;
    for round in 0..ROUNDS {
        let subject = format!("race-{round}");
        let user = passwordless(db, &subject).await;
        let accounts = db.store.oauth_accounts();
        let linked = accounts.link(user.id, link("github", &subject), unaudited());
        linked.await.unwrap();
        let unlinks = ["google", "github"].map(|provider| {
            let accounts = db.store.oauth_accounts();
            tokio::spawn(async move {
                let audit = unlink_audit(user.id, provider);
                accounts.unlink(user.id, provider, audit).await
            })
        });
        let mut outcomes = Vec::new();
        for unlink in unlinks {
            outcomes.push(unlink.await.unwrap());
        }
        let succeeded = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
        assert_eq!(succeeded, 1, "round {round}: {outcomes:?}");
        assert!(
            outcomes.iter().any(|outcome| matches!(
                outcome,
                Err(StoreError::Conflict(Constraint::LastLoginMethod))
            )),
            "round {round}: {outcomes:?}"
        );
        assert_eq!(accounts.list_for_user(user.id).await.unwrap().len(), 1);
        assert_eq!(providers(db, user.id).await.len(), 1);
    }
    assert_eq!(
        db.trail().await.len(),
        ROUNDS,
        "one unlink audited per round"
    );
}
