//! Pending OAuth flows: each is taken at most once, even by two callbacks at once; an
//! expired one is removed when taken and by the cleanup; a link flow goes with its user.

use crate::harness::{TestDb, now};
use auth_ports::{
    FlowSecret, OAuthFlowRepository, PendingOAuthFlow, TokenHash, UserId, UserRepository,
};
use chrono::Duration;

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    a_flow_is_taken_once,
    two_takes_of_one_state_get_it_once,
    an_expired_flow_is_not_taken_but_removed,
    delete_expired_removes_only_expired_flows,
    a_link_flow_goes_with_its_user,
);

/// A flow of state `byte`, linking to `link_user_id` (a login for `None`), expiring in
/// `expires_in`.
fn flow(byte: u8, link_user_id: Option<UserId>, expires_in: Duration) -> PendingOAuthFlow {
    PendingOAuthFlow {
        state_hash: TokenHash([byte; 32]),
        provider: "google".into(),
        nonce: FlowSecret::new(format!("nonce-{byte}")),
        pkce_verifier: FlowSecret::new(format!("verifier-{byte}")),
        link_user_id,
        created_at: now(),
        expires_at: now() + expires_in,
    }
}

async fn a_flow_is_taken_once(db: &TestDb) {
    let flows = db.store.oauth_flows();
    let user = db.user("f1@example.com").await;
    let (login, linking) = (
        flow(1, None, Duration::minutes(10)),
        flow(2, Some(user.id), Duration::minutes(10)),
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
    let user = db.user("f2@example.com").await;
    let other = db.user("f3@example.com").await;
    let (gone, kept) = (
        flow(1, Some(user.id), Duration::minutes(10)),
        flow(2, Some(other.id), Duration::minutes(10)),
    );
    flows.save(gone.clone()).await.unwrap();
    flows.save(kept.clone()).await.unwrap();
    db.store.users().delete(user.id).await.unwrap();
    assert_eq!(flows.take(&gone.state_hash, now()).await.unwrap(), None);
    assert_eq!(
        flows.take(&kept.state_hash, now()).await.unwrap(),
        Some(kept)
    );
}
