//! Pending OAuth flows: each is taken at most once, even by two callbacks at once; an
//! expired one is removed when taken and by the cleanup; a link flow names the session
//! that began it and goes with its user or that session.

use crate::harness::{TestDb, now, open};
use crate::sessions::new_session;
use auth_ports::{
    FlowSecret, OAuthFlowRepository, PendingOAuthFlow, Session, SessionRepository, TokenHash,
    UserRepository,
};
use chrono::Duration;

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    a_flow_is_taken_once,
    two_takes_of_one_state_get_it_once,
    an_expired_flow_is_not_taken_but_removed,
    delete_expired_removes_only_expired_flows,
    a_link_flow_goes_with_its_user,
    a_link_flow_goes_with_its_session,
    a_link_flow_names_both_its_user_and_its_session,
);

/// A flow of state `byte`, linking to the user of the session `link` that began it (a
/// login for `None`), expiring in `expires_in`.
fn flow(byte: u8, link: Option<&Session>, expires_in: Duration) -> PendingOAuthFlow {
    PendingOAuthFlow {
        state_hash: TokenHash([byte; 32]),
        provider: "google".into(),
        nonce: FlowSecret::new(format!("nonce-{byte}")),
        pkce_verifier: FlowSecret::new(format!("verifier-{byte}")),
        link_user_id: link.map(|session| session.user_id),
        link_session_id: link.map(|session| session.id),
        created_at: now(),
        expires_at: now() + expires_in,
    }
}

/// A session of a new user with `email`, open for `expires_in`, its token hash `byte`s.
async fn session(db: &TestDb, email: &str, byte: u8, expires_in: Duration) -> Session {
    let user = db.user(email).await;
    let new = new_session(user.id, byte, expires_in);
    open(&db.store.sessions(), new).await
}

async fn a_flow_is_taken_once(db: &TestDb) {
    let flows = db.store.oauth_flows();
    let session = session(db, "f1@example.com", 1, Duration::hours(1)).await;
    let (login, linking) = (
        flow(1, None, Duration::minutes(10)),
        flow(2, Some(&session), Duration::minutes(10)),
    );
    flows.save(login.clone()).await.unwrap();
    flows.save(linking.clone()).await.unwrap();
    let taken = flows.take(&login.state_hash, now()).await.unwrap();
    assert_eq!(taken, Some(login.clone()), "every field as saved");
    assert_eq!(flows.take(&login.state_hash, now()).await.unwrap(), None);
    let taken = flows.take(&linking.state_hash, now()).await.unwrap();
    assert_eq!(taken, Some(linking));
    let unknown = flows.take(&TokenHash([9; 32]), now()).await.unwrap();
    assert_eq!(unknown, None);
}

/// Two callbacks with one state, run together: exactly one gets the flow. Several
/// rounds, so a take that read before it deleted would show.
async fn two_takes_of_one_state_get_it_once(db: &TestDb) {
    for byte in 1..=8 {
        let saved = flow(byte, None, Duration::minutes(10));
        db.store.oauth_flows().save(saved.clone()).await.unwrap();
        let takes = [(), ()].map(|()| {
            let flows = db.store.oauth_flows();
            let state = saved.state_hash;
            tokio::spawn(async move { flows.take(&state, now()).await.unwrap() })
        });
        let mut taken = Vec::new();
        for take in takes {
            taken.extend(take.await.unwrap());
        }
        assert_eq!(taken, [saved], "state {byte}");
    }
}

async fn an_expired_flow_is_not_taken_but_removed(db: &TestDb) {
    let flows = db.store.oauth_flows();
    let expired = flow(1, None, Duration::seconds(-1));
    flows.save(expired.clone()).await.unwrap();
    assert_eq!(flows.take(&expired.state_hash, now()).await.unwrap(), None);
    // Asked as of a time before it expired, it would be live, had it not been removed.
    let before = expired.expires_at - Duration::minutes(1);
    assert_eq!(flows.take(&expired.state_hash, before).await.unwrap(), None);
}

async fn delete_expired_removes_only_expired_flows(db: &TestDb) {
    let flows = db.store.oauth_flows();
    let live = flow(1, None, Duration::minutes(10));
    for saved in [
        live.clone(),
        flow(2, None, Duration::seconds(-1)),
        flow(3, None, Duration::minutes(-20)),
    ] {
        flows.save(saved).await.unwrap();
    }
    assert_eq!(flows.delete_expired(now()).await.unwrap(), 2);
    assert_eq!(flows.delete_expired(now()).await.unwrap(), 0);
    let taken = flows.take(&live.state_hash, now()).await.unwrap();
    assert_eq!(taken, Some(live));
}

async fn a_link_flow_goes_with_its_user(db: &TestDb) {
    let flows = db.store.oauth_flows();
    let user = session(db, "f2@example.com", 1, Duration::hours(1)).await;
    let other = session(db, "f3@example.com", 2, Duration::hours(1)).await;
    let (gone, kept) = (
        flow(1, Some(&user), Duration::minutes(10)),
        flow(2, Some(&other), Duration::minutes(10)),
    );
    flows.save(gone.clone()).await.unwrap();
    flows.save(kept.clone()).await.unwrap();
    db.store.users().delete(user.user_id).await.unwrap();
    assert_eq!(flows.take(&gone.state_hash, now()).await.unwrap(), None);
    assert_eq!(
        flows.take(&kept.state_hash, now()).await.unwrap(),
        Some(kept)
    );
}

/// A session deleted (here by the cleanup of expired sessions) takes its pending links
/// with it; another session's stays.
async fn a_link_flow_goes_with_its_session(db: &TestDb) {
    let flows = db.store.oauth_flows();
    let expired = session(db, "f4@example.com", 1, Duration::seconds(-1)).await;
    let live = session(db, "f5@example.com", 2, Duration::hours(1)).await;
    let (gone, kept) = (
        flow(1, Some(&expired), Duration::minutes(10)),
        flow(2, Some(&live), Duration::minutes(10)),
    );
    flows.save(gone.clone()).await.unwrap();
    flows.save(kept.clone()).await.unwrap();
    assert_eq!(db.store.sessions().delete_expired(now()).await.unwrap(), 1);
    assert_eq!(flows.take(&gone.state_hash, now()).await.unwrap(), None);
    assert_eq!(
        flows.take(&kept.state_hash, now()).await.unwrap(),
        Some(kept)
    );
}

/// A flow naming a user without a session, or a session without a user, is refused by
/// the store: a link is always bound to both.
async fn a_link_flow_names_both_its_user_and_its_session(db: &TestDb) {
    let flows = db.store.oauth_flows();
    let session = session(db, "f6@example.com", 1, Duration::hours(1)).await;
    let linking = flow(1, Some(&session), Duration::minutes(10));
    let halves = [
        PendingOAuthFlow {
            link_session_id: None,
            ..linking.clone()
        },
        PendingOAuthFlow {
            link_user_id: None,
            ..linking
        },
    ];
    for half in halves {
        let saved = flows.save(half.clone()).await;
        assert!(saved.is_err(), "{half:?}");
        assert_eq!(flows.take(&half.state_hash, now()).await.unwrap(), None);
    }
}
