//! The challenge repository contract: stored whole, found only live and of their kind,
//! failures counted up to a deletion, used up once, gone with their user or session.

use crate::harness::{TestDb, now, open, stub_hash};
use crate::sessions::new_session;
use auth_ports::{
    ChallengeId, ChallengeKind, ChallengeRepository, Constraint, NewChallenge, SessionId,
    SessionRepository, StoreError, TokenHash, UserId, UserRepository,
};
use chrono::Duration;

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    create_stores_every_field,
    find_live_respects_kind_and_expiry,
    a_token_collision_is_a_conflict_and_an_unknown_owner_not_found,
    failures_delete_the_challenge_at_the_maximum,
    concurrent_failures_each_count,
    a_challenge_is_consumed_once,
    concurrent_consumes_have_one_winner,
    delete_expired_removes_only_expired,
    a_challenge_goes_with_its_user_and_its_session,
);

/// An MFA login challenge of `user` with token `[byte; 32]`, expiring in `expires_in`.
pub fn mfa_login(user: UserId, byte: u8, expires_in: Duration) -> NewChallenge {
    NewChallenge {
        token_hash: TokenHash([byte; 32]),
        kind: ChallengeKind::MfaLogin,
        user_id: Some(user),
        session_id: None,
        password_hash: Some(stub_hash()),
        login_source: Some(crate::harness::SRC.to_owned()),
        webauthn_state: Some(r#"{"challenge":"abc"}"#.to_owned()),
        expires_at: now() + expires_in,
        created_at: now(),
    }
}

async fn create_stores_every_field(db: &TestDb) {
    let user = db.user("c1@example.com").await;
    let session = open(
        &db.store.sessions(),
        new_session(user.id, 1, Duration::hours(1)),
    )
    .await;
    let challenges = db.store.challenges();
    let mut new = mfa_login(user.id, 1, Duration::minutes(5));
    new.kind = ChallengeKind::StepUp;
    new.session_id = Some(session.id);
    let created = challenges.create(new.clone()).await.unwrap();
    assert_eq!(created.stored, new);
    assert_eq!(created.failures, 0);
    let found = challenges.find_live(&new.token_hash, ChallengeKind::StepUp, now());
    assert_eq!(found.await.unwrap(), Some(created));

    // A passwordless login's challenge names no one and holds only the ceremony.
    let passwordless = NewChallenge {
        kind: ChallengeKind::PasskeyLogin,
        user_id: None,
        session_id: None,
        password_hash: None,
        login_source: None,
        ..mfa_login(user.id, 2, Duration::minutes(5))
    };
    let created = challenges.create(passwordless.clone()).await.unwrap();
    assert_eq!(created.stored, passwordless);
    let found = challenges.find_live(&passwordless.token_hash, ChallengeKind::PasskeyLogin, now());
    assert_eq!(found.await.unwrap(), Some(created));
}

async fn find_live_respects_kind_and_expiry(db: &TestDb) {
    let user = db.user("c2@example.com").await;
    let challenges = db.store.challenges();
    let new = mfa_login(user.id, 1, Duration::minutes(5));
    let created = challenges.create(new.clone()).await.unwrap();
    let hash = new.token_hash;
    for kind in [
        ChallengeKind::PasskeyLogin,
        ChallengeKind::StepUp,
        ChallengeKind::PasskeyRegistration,
    ] {
        let found = challenges.find_live(&hash, kind, now()).await.unwrap();
        assert_eq!(found, None, "a token of one kind never serves {kind:?}");
    }
    let just_before = new.expires_at - Duration::microseconds(1);
    let found = challenges.find_live(&hash, ChallengeKind::MfaLogin, just_before);
    assert_eq!(found.await.unwrap(), Some(created));
    let at_expiry = challenges.find_live(&hash, ChallengeKind::MfaLogin, new.expires_at);
    assert_eq!(at_expiry.await.unwrap(), None, "expired at its expiry time");
    let unknown = challenges.find_live(&TokenHash([9; 32]), ChallengeKind::MfaLogin, now());
    assert_eq!(unknown.await.unwrap(), None);
}

async fn a_token_collision_is_a_conflict_and_an_unknown_owner_not_found(db: &TestDb) {
    let user = db.user("c3@example.com").await;
    let challenges = db.store.challenges();
    let new = mfa_login(user.id, 1, Duration::minutes(5));
    challenges.create(new.clone()).await.unwrap();
    let mut again = new.clone();
    again.kind = ChallengeKind::PasskeyLogin;
    let err = challenges.create(again).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::ChallengeToken)),
        "{err:?}"
    );
    let stranger = mfa_login(UserId::new(), 2, Duration::minutes(5));
    let err = challenges.create(stranger).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let mut no_session = mfa_login(user.id, 3, Duration::minutes(5));
    no_session.session_id = Some(SessionId::new());
    let err = challenges.create(no_session).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

async fn failures_delete_the_challenge_at_the_maximum(db: &TestDb) {
    let user = db.user("c4@example.com").await;
    let challenges = db.store.challenges();
    let new = mfa_login(user.id, 1, Duration::minutes(5));
    let created = challenges.create(new.clone()).await.unwrap();
    let live = || challenges.find_live(&new.token_hash, ChallengeKind::MfaLogin, now());
    for failures in 1..3 {
        assert!(challenges.record_failure(created.id, 3).await.unwrap());
        assert_eq!(live().await.unwrap().unwrap().failures, failures);
    }
    assert!(
        !challenges.record_failure(created.id, 3).await.unwrap(),
        "the third failure of three ends it"
    );
    assert_eq!(live().await.unwrap(), None, "deleted");
    assert!(!challenges.record_failure(created.id, 3).await.unwrap());
    assert!(
        !challenges.consume(created.id).await.unwrap(),
        "nothing left"
    );
}

/// Five wrong answers at once to a challenge allowing five: each is counted, and
/// exactly the one that reaches the limit ends it.
async fn concurrent_failures_each_count(db: &TestDb) {
    let user = db.user("c5@example.com").await;
    let challenges = db.store.challenges();
    let created = challenges.create(mfa_login(user.id, 1, Duration::minutes(5)));
    let id = created.await.unwrap().id;
    let failures = (0..5).map(|_| {
        let challenges = db.store.challenges();
        tokio::spawn(async move { challenges.record_failure(id, 5).await.unwrap() })
    });
    let mut still_live = Vec::new();
    for failure in failures.collect::<Vec<_>>() {
        still_live.push(failure.await.unwrap());
    }
    assert_eq!(
        still_live.iter().filter(|live| !**live).count(),
        1,
        "{still_live:?}"
    );
    let hash = TokenHash([1; 32]);
    let found = challenges.find_live(&hash, ChallengeKind::MfaLogin, now());
    assert_eq!(found.await.unwrap(), None);
}

async fn a_challenge_is_consumed_once(db: &TestDb) {
    let user = db.user("c6@example.com").await;
    let challenges = db.store.challenges();
    let new = mfa_login(user.id, 1, Duration::minutes(5));
    let created = challenges.create(new.clone()).await.unwrap();
    assert!(challenges.consume(created.id).await.unwrap());
    assert!(!challenges.consume(created.id).await.unwrap());
    let found = challenges.find_live(&new.token_hash, ChallengeKind::MfaLogin, now());
    assert_eq!(found.await.unwrap(), None);
    assert!(!challenges.consume(ChallengeId::new()).await.unwrap());
}

async fn concurrent_consumes_have_one_winner(db: &TestDb) {
    let user = db.user("c7@example.com").await;
    for round in 0..8u8 {
        let challenges = db.store.challenges();
        let created = challenges.create(mfa_login(user.id, round, Duration::minutes(5)));
        let id = created.await.unwrap().id;
        let consumes = [0, 1].map(|_| {
            let challenges = db.store.challenges();
            tokio::spawn(async move { challenges.consume(id).await.unwrap() })
        });
        let mut won = Vec::new();
        for consume in consumes {
            won.push(consume.await.unwrap());
        }
        assert_eq!(
            won.iter().filter(|won| **won).count(),
            1,
            "round {round}: {won:?}"
        );
    }
}

async fn delete_expired_removes_only_expired(db: &TestDb) {
    let user = db.user("c8@example.com").await;
    let challenges = db.store.challenges();
    for (byte, expires_in) in [(1, -2), (2, -1), (3, 5)] {
        let new = mfa_login(user.id, byte, Duration::minutes(expires_in));
        challenges.create(new).await.unwrap();
    }
    assert_eq!(challenges.delete_expired(now()).await.unwrap(), 2);
    assert_eq!(challenges.delete_expired(now()).await.unwrap(), 0);
    let live = challenges.find_live(&TokenHash([3; 32]), ChallengeKind::MfaLogin, now());
    assert!(live.await.unwrap().is_some());
}

async fn a_challenge_goes_with_its_user_and_its_session(db: &TestDb) {
    let challenges = db.store.challenges();
    let user = db.user("c9@example.com").await;
    challenges
        .create(mfa_login(user.id, 1, Duration::minutes(5)))
        .await
        .unwrap();
    let other = db.user("c10@example.com").await;
    let sessions = db.store.sessions();
    let session = open(&sessions, new_session(other.id, 1, Duration::seconds(-1))).await;
    let bound = NewChallenge {
        kind: ChallengeKind::StepUp,
        user_id: None,
        session_id: Some(session.id),
        ..mfa_login(other.id, 2, Duration::minutes(5))
    };
    challenges.create(bound).await.unwrap();

    db.store.users().delete(user.id).await.unwrap();
    let gone = challenges.find_live(&TokenHash([1; 32]), ChallengeKind::MfaLogin, now());
    assert_eq!(gone.await.unwrap(), None, "gone with its user");
    let kept = challenges.find_live(&TokenHash([2; 32]), ChallengeKind::StepUp, now());
    assert!(kept.await.unwrap().is_some());
    assert_eq!(sessions.delete_expired(now()).await.unwrap(), 1);
    let gone = challenges.find_live(&TokenHash([2; 32]), ChallengeKind::StepUp, now());
    assert_eq!(gone.await.unwrap(), None, "gone with its session");
}
