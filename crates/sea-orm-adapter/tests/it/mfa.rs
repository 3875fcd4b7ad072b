//! The second-factor repository contract: TOTP enrolment and replay protection,
//! recovery codes used once, passkeys, the rule that recovery codes do not outlive the
//! last factor, and the reset that removes everything.

use crate::audit::entry;
use crate::challenges::mfa_login;
use crate::harness::{TestDb, now};
use auth_ports::{
    AuditWith, ChallengeKind, ChallengeRepository, Constraint, MfaFactors, MfaRepository,
    NewPasskey, Passkey, PasskeyId, RecoveryCodeSet, StoreError, TokenHash, UserId, UserRepository,
};
use auth_testing::unaudited;
use chrono::Duration;
use serde_json::json;

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    totp_enrolment_begins_replaces_and_confirms,
    a_replayed_totp_step_is_refused,
    one_totp_step_used_concurrently_has_one_winner,
    recovery_codes_are_replaced_and_each_used_once,
    one_recovery_code_used_concurrently_has_one_winner,
    passkeys_are_added_found_used_and_removed,
    a_registered_credential_is_a_conflict,
    removing_the_last_factor_removes_the_recovery_codes,
    concurrent_removals_of_the_last_two_factors_leave_no_codes,
    reset_removes_every_factor_and_challenge,
    the_login_lookup_says_whether_a_second_factor_is_needed,
);

/// An audit of one `action` entry by `user`, with the outcome (as `Debug` shows it) in
/// its details.
fn audit<T: std::fmt::Debug + 'static>(user: UserId, action: &'static str) -> AuditWith<T> {
    Box::new(move |outcome: &T| {
        let mut audited = entry(Some(user), action, now());
        audited.details = json!({ "outcome": format!("{outcome:?}") });
        vec![audited]
    })
}

/// The action and outcome of every audit entry, oldest first.
async fn audited(db: &TestDb) -> Vec<(String, serde_json::Value)> {
    let mut trail = db.trail().await;
    trail.sort_by_key(|e| e.id);
    trail
        .into_iter()
        .map(|e| (e.entry.action, e.entry.details["outcome"].clone()))
        .collect()
}

/// `n` recovery code hashes starting at `[first; 32]`.
fn codes(first: u8, n: u8) -> RecoveryCodeSet {
    RecoveryCodeSet {
        hashes: (first..first + n)
            .map(|byte| TokenHash([byte; 32]))
            .collect(),
        created_at: now(),
    }
}

fn passkey(user: UserId, credential: u8, created_at: chrono::DateTime<chrono::Utc>) -> NewPasskey {
    NewPasskey {
        user_id: user,
        credential_id: vec![credential; 16],
        name: format!("key {credential}"),
        data: format!(r#"{{"counter":{credential}}}"#),
        created_at,
    }
}

async fn factors(db: &TestDb, user: UserId) -> MfaFactors {
    db.store.mfa().factors(user).await.unwrap()
}

/// A user with a confirmed TOTP (last step 100) and `n` recovery codes.
async fn with_totp(db: &TestDb, email: &str, n: u8) -> UserId {
    let mfa = db.store.mfa();
    let user = db.user(email).await.id;
    mfa.begin_totp(user, b"sealed".to_vec(), now())
        .await
        .unwrap();
    let confirmed = mfa.confirm_totp(
        user,
        b"sealed".to_vec(),
        100,
        Some(codes(1, n)),
        unaudited(),
    );
    assert!(confirmed.await.unwrap());
    user
}

async fn totp_enrolment_begins_replaces_and_confirms(db: &TestDb) {
    let mfa = db.store.mfa();
    let user = db.user("m1@example.com").await.id;
    assert_eq!(factors(db, user).await, MfaFactors::default());

    let first = now() - Duration::minutes(2);
    mfa.begin_totp(user, b"first".to_vec(), first)
        .await
        .unwrap();
    let at = now() - Duration::minutes(1);
    mfa.begin_totp(user, b"second".to_vec(), at).await.unwrap();
    let pending = factors(db, user).await;
    let totp = pending.totp.clone().unwrap();
    assert_eq!(
        totp.sealed_secret, b"second",
        "a pending secret is replaced"
    );
    assert_eq!(
        (totp.confirmed_at, totp.last_used_step, totp.created_at),
        (None, None, at)
    );
    assert!(!pending.enabled() && pending.methods().is_empty());

    // The first secret is no longer the pending one.
    let stale = mfa.confirm_totp(
        user,
        b"first".to_vec(),
        100,
        Some(codes(1, 2)),
        audit(user, "mfa.enroll"),
    );
    assert!(!stale.await.unwrap());
    assert_eq!(factors(db, user).await, pending, "nothing written");
    assert!(db.trail().await.is_empty());

    let before = now();
    let confirmed = mfa.confirm_totp(
        user,
        b"second".to_vec(),
        100,
        Some(codes(1, 3)),
        audit(user, "mfa.enroll"),
    );
    assert!(confirmed.await.unwrap());
    let enrolled = factors(db, user).await;
    let totp = enrolled.totp.clone().unwrap();
    assert_eq!(totp.last_used_step, Some(100));
    let confirmed_at = totp.confirmed_at.unwrap();
    assert!(
        confirmed_at >= before - Duration::seconds(5)
            && confirmed_at <= now() + Duration::seconds(5),
        "confirmed at the database's clock: {confirmed_at}"
    );
    assert_eq!(enrolled.recovery_codes_left, 3);
    assert!(enrolled.enabled());
    assert_eq!(audited(db).await, [("mfa.enroll".to_owned(), json!("()"))]);

    let again = mfa.confirm_totp(user, b"second".to_vec(), 101, None, unaudited());
    assert!(!again.await.unwrap(), "confirmed already");
    let err = mfa
        .begin_totp(user, b"third".to_vec(), now())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::TotpEnrolled)),
        "{err:?}"
    );
    assert_eq!(
        factors(db, user).await,
        enrolled,
        "the confirmed one is kept"
    );

    let err = mfa
        .begin_totp(UserId::new(), b"x".to_vec(), now())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let unknown = mfa.confirm_totp(UserId::new(), b"x".to_vec(), 1, None, unaudited());
    assert!(!unknown.await.unwrap());

    // Confirming without new codes keeps the ones the user has.
    let other = db.user("m1b@example.com").await.id;
    mfa.replace_recovery_codes(other, codes(10, 2), unaudited())
        .await
        .unwrap();
    mfa.begin_totp(other, b"other".to_vec(), now())
        .await
        .unwrap();
    let confirmed = mfa.confirm_totp(other, b"other".to_vec(), 7, None, unaudited());
    assert!(confirmed.await.unwrap());
    assert_eq!(factors(db, other).await.recovery_codes_left, 2);
}

async fn a_replayed_totp_step_is_refused(db: &TestDb) {
    let mfa = db.store.mfa();
    let pending = db.user("m2a@example.com").await.id;
    mfa.begin_totp(pending, b"p".to_vec(), now()).await.unwrap();
    assert!(
        !mfa.use_totp_step(pending, 5).await.unwrap(),
        "not confirmed"
    );
    assert!(!mfa.use_totp_step(UserId::new(), 5).await.unwrap());

    let user = with_totp(db, "m2@example.com", 0).await;
    for (step, accepted) in [
        (100, false),
        (99, false),
        (101, true),
        (101, false),
        (103, true),
        (102, false),
    ] {
        assert_eq!(
            mfa.use_totp_step(user, step).await.unwrap(),
            accepted,
            "step {step}"
        );
    }
    assert_eq!(
        factors(db, user).await.totp.unwrap().last_used_step,
        Some(103)
    );
}

async fn one_totp_step_used_concurrently_has_one_winner(db: &TestDb) {
    let user = with_totp(db, "m3@example.com", 0).await;
    for step in 101..109 {
        let uses = [0, 1].map(|_| {
            let mfa = db.store.mfa();
            tokio::spawn(async move { mfa.use_totp_step(user, step).await.unwrap() })
        });
        let mut won = Vec::new();
        for used in uses {
            won.push(used.await.unwrap());
        }
        assert_eq!(
            won.iter().filter(|won| **won).count(),
            1,
            "step {step}: {won:?}"
        );
    }
}

async fn recovery_codes_are_replaced_and_each_used_once(db: &TestDb) {
    let mfa = db.store.mfa();
    let user = db.user("m4@example.com").await.id;
    let other = db.user("m4b@example.com").await.id;
    mfa.replace_recovery_codes(user, codes(1, 3), audit(user, "mfa.enroll"))
        .await
        .unwrap();
    mfa.replace_recovery_codes(other, codes(1, 3), unaudited())
        .await
        .unwrap();
    assert_eq!(factors(db, user).await.recovery_codes_left, 3);
    mfa.replace_recovery_codes(user, codes(20, 2), audit(user, "mfa.enroll"))
        .await
        .unwrap();
    assert_eq!(
        factors(db, user).await.recovery_codes_left,
        2,
        "the old ones are gone"
    );

    let at = now();
    let old = mfa.use_recovery_code(
        user,
        TokenHash([1; 32]),
        at,
        audit(user, "mfa.recovery_used"),
    );
    assert_eq!(old.await.unwrap(), None, "a replaced code");
    let used = mfa.use_recovery_code(
        user,
        TokenHash([20; 32]),
        at,
        audit(user, "mfa.recovery_used"),
    );
    assert_eq!(used.await.unwrap(), Some(1));
    let again = mfa.use_recovery_code(
        user,
        TokenHash([20; 32]),
        at,
        audit(user, "mfa.recovery_used"),
    );
    assert_eq!(again.await.unwrap(), None, "used up");
    let stranger = mfa.use_recovery_code(UserId::new(), TokenHash([21; 32]), at, unaudited());
    assert_eq!(stranger.await.unwrap(), None);
    assert_eq!(
        factors(db, other).await.recovery_codes_left,
        3,
        "another user's codes are theirs"
    );
    let last = mfa.use_recovery_code(
        user,
        TokenHash([21; 32]),
        at,
        audit(user, "mfa.recovery_used"),
    );
    assert_eq!(last.await.unwrap(), Some(0));
    assert_eq!(
        audited(db).await,
        [
            ("mfa.enroll".to_owned(), json!("()")),
            ("mfa.enroll".to_owned(), json!("()")),
            ("mfa.recovery_used".to_owned(), json!("1")),
            ("mfa.recovery_used".to_owned(), json!("0")),
        ]
    );

    let err = mfa
        .replace_recovery_codes(UserId::new(), codes(1, 1), unaudited())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    // An empty set removes them all.
    mfa.replace_recovery_codes(other, codes(1, 0), unaudited())
        .await
        .unwrap();
    assert_eq!(factors(db, other).await.recovery_codes_left, 0);
}

async fn one_recovery_code_used_concurrently_has_one_winner(db: &TestDb) {
    let user = with_totp(db, "m5@example.com", 8).await;
    for byte in 1..9 {
        let uses = [0, 1].map(|_| {
            let mfa = db.store.mfa();
            tokio::spawn(async move {
                let used = mfa.use_recovery_code(user, TokenHash([byte; 32]), now(), unaudited());
                used.await.unwrap()
            })
        });
        let mut won = Vec::new();
        for used in uses {
            won.push(used.await.unwrap());
        }
        assert_eq!(won.iter().flatten().count(), 1, "code {byte}: {won:?}");
    }
    assert_eq!(factors(db, user).await.recovery_codes_left, 0);
}

async fn passkeys_are_added_found_used_and_removed(db: &TestDb) {
    let mfa = db.store.mfa();
    let user = db.user("m6@example.com").await.id;
    let other = db.user("m6b@example.com").await.id;
    let (older, newer) = (now() - Duration::minutes(1), now());
    // Added out of order: listed oldest first.
    let second = mfa
        .add_passkey(passkey(user, 2, newer), None, unaudited())
        .await
        .unwrap();
    let added = mfa.add_passkey(
        passkey(user, 1, older),
        Some(codes(1, 4)),
        audit(user, "mfa.enroll"),
    );
    let first = added.await.unwrap();
    let expected = Passkey {
        id: first.id,
        user_id: user,
        credential_id: vec![1; 16],
        name: "key 1".into(),
        data: r#"{"counter":1}"#.into(),
        created_at: older,
        last_used_at: None,
    };
    assert_eq!(first, expected);
    let listed = factors(db, user).await;
    assert_eq!(listed.passkeys, [first.clone(), second.clone()]);
    assert_eq!(listed.recovery_codes_left, 4);
    assert!(listed.enabled());
    let trail = db.trail().await;
    assert_eq!(trail.len(), 1);
    let outcome = trail[0].entry.details["outcome"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(outcome.contains(&format!("{:?}", first.id)), "{outcome}");

    assert_eq!(
        mfa.find_passkey(&[1; 16]).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(mfa.find_passkey(&[9; 16]).await.unwrap(), None);
    let at = now();
    mfa.record_passkey_use(first.id, r#"{"counter":2}"#.into(), at)
        .await
        .unwrap();
    let used = mfa.find_passkey(&[1; 16]).await.unwrap().unwrap();
    assert_eq!(
        (used.data.as_str(), used.last_used_at),
        (r#"{"counter":2}"#, Some(at))
    );
    let err = mfa
        .record_passkey_use(PasskeyId::new(), "{}".into(), at)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");

    let err = mfa
        .remove_passkey(other, first.id, unaudited())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound),
        "another user's: {err:?}"
    );
    mfa.remove_passkey(user, first.id, audit(user, "mfa.disable"))
        .await
        .unwrap();
    let err = mfa
        .remove_passkey(user, first.id, unaudited())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(factors(db, user).await.passkeys, [second]);
    assert_eq!(db.trail().await.len(), 2);

    let err = mfa
        .add_passkey(passkey(UserId::new(), 7, now()), None, unaudited())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

async fn a_registered_credential_is_a_conflict(db: &TestDb) {
    let mfa = db.store.mfa();
    let user = db.user("m7@example.com").await.id;
    let other = db.user("m7b@example.com").await.id;
    mfa.add_passkey(passkey(user, 1, now()), None, unaudited())
        .await
        .unwrap();
    for owner in [user, other] {
        let again = mfa.add_passkey(
            passkey(owner, 1, now()),
            Some(codes(1, 2)),
            audit(owner, "mfa.enroll"),
        );
        let err = again.await.unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict(Constraint::PasskeyCredential)),
            "{err:?}"
        );
        assert_eq!(
            factors(db, owner).await.recovery_codes_left,
            0,
            "nothing written"
        );
    }
    assert!(db.trail().await.is_empty());
    assert_eq!(factors(db, other).await.passkeys, []);
}

async fn removing_the_last_factor_removes_the_recovery_codes(db: &TestDb) {
    let mfa = db.store.mfa();
    // TOTP and a passkey: the codes stay until both are gone.
    let user = with_totp(db, "m8@example.com", 3).await;
    let key = mfa
        .add_passkey(passkey(user, 1, now()), None, unaudited())
        .await
        .unwrap();
    assert!(
        mfa.remove_totp(user, audit(user, "mfa.disable"))
            .await
            .unwrap()
    );
    let left = factors(db, user).await;
    assert_eq!((left.totp.is_none(), left.recovery_codes_left), (true, 3));
    mfa.remove_passkey(user, key.id, unaudited()).await.unwrap();
    assert_eq!(factors(db, user).await, MfaFactors::default());
    assert!(
        !mfa.remove_totp(user, audit(user, "mfa.disable"))
            .await
            .unwrap(),
        "none left"
    );
    assert_eq!(
        db.trail().await.len(),
        1,
        "a removal of nothing audits nothing"
    );

    // TOTP alone.
    let user = with_totp(db, "m9@example.com", 3).await;
    assert!(mfa.remove_totp(user, unaudited()).await.unwrap());
    assert_eq!(factors(db, user).await, MfaFactors::default());

    // A passkey and a pending TOTP (no factor): the passkey was the last one.
    let user = db.user("m10@example.com").await.id;
    let key = mfa
        .add_passkey(passkey(user, 2, now()), Some(codes(1, 3)), unaudited())
        .await
        .unwrap();
    mfa.begin_totp(user, b"pending".to_vec(), now())
        .await
        .unwrap();
    mfa.remove_passkey(user, key.id, unaudited()).await.unwrap();
    let left = factors(db, user).await;
    assert_eq!(left.recovery_codes_left, 0);
    assert!(left.totp.is_some(), "the pending secret stays");
    // A pending TOTP is removed like a confirmed one.
    assert!(mfa.remove_totp(user, unaudited()).await.unwrap());
    assert_eq!(factors(db, user).await, MfaFactors::default());
}

/// The TOTP and the only passkey removed at once: each removal holds the user's row, so
/// the second sees the first's and takes the codes with it.
async fn concurrent_removals_of_the_last_two_factors_leave_no_codes(db: &TestDb) {
    for round in 0..6u8 {
        let user = with_totp(db, &format!("m11-{round}@example.com"), 3).await;
        let mfa = db.store.mfa();
        let key = mfa.add_passkey(passkey(user, round, now()), None, unaudited());
        let key = key.await.unwrap();
        let (mfa, also) = (db.store.mfa(), db.store.mfa());
        let totp = tokio::spawn(async move { mfa.remove_totp(user, unaudited()).await.unwrap() });
        let passkey =
            tokio::spawn(async move { also.remove_passkey(user, key.id, unaudited()).await });
        assert!(totp.await.unwrap());
        passkey.await.unwrap().unwrap();
        assert_eq!(
            factors(db, user).await,
            MfaFactors::default(),
            "round {round}"
        );
    }
}

async fn reset_removes_every_factor_and_challenge(db: &TestDb) {
    use auth_ports::{NewChallenge, SessionRepository};
    let mfa = db.store.mfa();
    let challenges = db.store.challenges();
    let user = with_totp(db, "m12@example.com", 3).await;
    mfa.add_passkey(passkey(user, 1, now()), None, unaudited())
        .await
        .unwrap();
    challenges
        .create(mfa_login(user, 1, Duration::minutes(5)))
        .await
        .unwrap();
    let sessions = db.store.sessions();
    let session = crate::harness::open(
        &sessions,
        crate::sessions::new_session(user, 1, Duration::hours(1)),
    )
    .await;
    let step_up = NewChallenge {
        kind: ChallengeKind::StepUp,
        user_id: None,
        session_id: Some(session.id),
        ..mfa_login(user, 2, Duration::minutes(5))
    };
    challenges.create(step_up).await.unwrap();
    let other = with_totp(db, "m12b@example.com", 2).await;
    challenges
        .create(mfa_login(other, 3, Duration::minutes(5)))
        .await
        .unwrap();

    assert!(mfa.reset(user, audit(user, "mfa.reset")).await.unwrap());
    assert_eq!(factors(db, user).await, MfaFactors::default());
    for (byte, kind) in [(1, ChallengeKind::MfaLogin), (2, ChallengeKind::StepUp)] {
        let hash = TokenHash([byte; 32]);
        let found = challenges.find_live(&hash, kind, now());
        assert_eq!(found.await.unwrap(), None, "challenge {byte}");
    }
    assert!(
        sessions
            .find_active_by_token_hash(&session.token_hash, now())
            .await
            .unwrap()
            .is_some()
    );
    let others = challenges.find_live(&TokenHash([3; 32]), ChallengeKind::MfaLogin, now());
    assert!(others.await.unwrap().is_some(), "another user's is kept");
    assert!(factors(db, other).await.enabled());

    assert!(
        !mfa.reset(user, audit(user, "mfa.reset")).await.unwrap(),
        "nothing left"
    );
    assert!(!mfa.reset(UserId::new(), unaudited()).await.unwrap());
    assert_eq!(
        audited(db).await,
        [
            ("mfa.reset".to_owned(), json!("true")),
            ("mfa.reset".to_owned(), json!("false"))
        ]
    );
}

/// The flag rides on the login's account lookup and agrees with `MfaFactors::enabled`: a
/// pending TOTP is not a factor yet, a confirmed one or a passkey is.
async fn the_login_lookup_says_whether_a_second_factor_is_needed(db: &TestDb) {
    let mfa = db.store.mfa();
    let flagged = |email: &'static str| async move {
        let email = auth_ports::Email::parse(email).unwrap();
        let found = db.store.users().find_for_login(&email, "192.0.2.1").await;
        found.unwrap().unwrap().has_second_factor
    };
    let user = db.user("flag@example.com").await.id;
    assert!(!flagged("flag@example.com").await);
    mfa.begin_totp(user, b"sealed".to_vec(), now())
        .await
        .unwrap();
    assert!(!flagged("flag@example.com").await, "pending only");
    let confirmed = mfa.confirm_totp(user, b"sealed".to_vec(), 1, None, unaudited());
    assert!(confirmed.await.unwrap());
    assert!(flagged("flag@example.com").await);
    assert!(mfa.remove_totp(user, unaudited()).await.unwrap());
    assert!(!flagged("flag@example.com").await);

    let other = db.user("keyed@example.com").await.id;
    let added = mfa.add_passkey(passkey(other, 7, now()), None, unaudited());
    let added = added.await.unwrap();
    assert!(flagged("keyed@example.com").await);
    assert!(factors(db, other).await.enabled());
    mfa.remove_passkey(other, added.id, unaudited())
        .await
        .unwrap();
    assert!(!flagged("keyed@example.com").await);
}
