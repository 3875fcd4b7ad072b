//! The one-time token repository contract.

use crate::audit::entry;
use crate::harness::{SRC, TestDb, mail, new_user, now};
use auth_ports::{
    AuditQuery, AuditRepository, AuditWith, FailedLogin, LockoutPolicy, NewOneTimeToken,
    OneTimeTokenRepository, PasswordHash, Redemption, StoreError, TokenHash, TokenPurpose, UserId,
    UserRepository,
};
use auth_testing::unaudited;
use chrono::{DateTime, Duration, Utc};

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    delete_spent_removes_used_and_expired_only,
    a_new_token_supersedes_live_ones_of_its_purpose,
    tokens_serve_only_their_purpose_and_only_while_live,
    verifying_marks_the_email_once,
    a_reset_changes_the_hash_ends_sessions_and_clears_the_lock,
    concurrent_redemptions_succeed_once,
    a_user_created_with_a_verification_token_can_redeem_it,
    leaving_active_or_changing_the_password_voids_links,
    only_active_accounts_redeem,
    a_redemption_racing_a_new_link_a_password_change_or_a_suspension_never_fails,
);

fn token(
    user: UserId,
    purpose: TokenPurpose,
    byte: u8,
    expires_at: DateTime<Utc>,
) -> NewOneTimeToken {
    NewOneTimeToken {
        user_id: user,
        purpose,
        token_hash: TokenHash([byte; 32]),
        expires_at,
        created_at: now(),
    }
}

/// Issues the token of [`token`] (unaudited).
async fn issue(
    db: &TestDb,
    user: UserId,
    purpose: TokenPurpose,
    byte: u8,
    expires_at: DateTime<Utc>,
) {
    let tokens = db.store.one_time_tokens();
    let issued = tokens.issue(token(user, purpose, byte, expires_at), link(), unaudited());
    issued.await.unwrap();
}

/// The mail a link travels in.
fn link() -> auth_ports::MailMessage {
    mail("owner@example.com", "Your link")
}

/// A reset to `hash`, with its notice.
fn reset_to(hash: PasswordHash) -> Redemption {
    Redemption::ResetPassword {
        hash,
        notice: mail("owner@example.com", "Your password was reset"),
    }
}

fn audited(action: &'static str) -> AuditWith<UserId> {
    Box::new(move |user| vec![entry(Some(*user), action, now())])
}

/// Redeems the verification token `[byte; 32]` at `at`, audited as `email.verify`.
async fn verify_email(db: &TestDb, byte: u8, at: DateTime<Utc>) -> Result<UserId, StoreError> {
    let tokens = db.store.one_time_tokens();
    let (token, redeem) = (TokenHash([byte; 32]), Redemption::VerifyEmail);
    let redeemed = tokens.redeem(&token, redeem, at, audited("email.verify"));
    redeemed.await
}

async fn live(db: &TestDb, byte: u8, purpose: TokenPurpose) -> Option<UserId> {
    db.store
        .one_time_tokens()
        .find_live(&TokenHash([byte; 32]), purpose, now())
        .await
        .unwrap()
}

async fn delete_spent_removes_used_and_expired_only(db: &TestDb) {
    let user = db.user("ott@example.com").await;
    let tokens = db.store.one_time_tokens();
    let later = now() + Duration::minutes(30);
    let reset = TokenPurpose::PasswordReset;
    issue(db, user.id, reset, 1, later).await;
    issue(
        db,
        user.id,
        TokenPurpose::EmailVerification,
        2,
        now() - Duration::seconds(1),
    )
    .await;
    // Supersedes (uses up) token 1.
    issue(db, user.id, reset, 3, later).await;
    assert_eq!(tokens.delete_spent(now()).await.unwrap(), 2);
    assert_eq!(tokens.delete_spent(now()).await.unwrap(), 0);
    assert_eq!(
        live(db, 3, reset).await,
        Some(user.id),
        "the live token stays"
    );
}

async fn a_new_token_supersedes_live_ones_of_its_purpose(db: &TestDb) {
    let user = db.user("ott1@example.com").await;
    let tokens = db.store.one_time_tokens();
    let later = now() + Duration::minutes(30);
    let (reset, verify) = (TokenPurpose::PasswordReset, TokenPurpose::EmailVerification);
    issue(db, user.id, reset, 1, later).await;
    issue(db, user.id, verify, 2, later).await;
    let audit: AuditWith<()> =
        Box::new(move |()| vec![entry(Some(user.id), "password.reset.request", now())]);
    tokens
        .issue(token(user.id, reset, 3, later), link(), audit)
        .await
        .unwrap();
    assert_eq!(
        live(db, 1, reset).await,
        None,
        "the older reset link stops working"
    );
    assert_eq!(
        live(db, 2, verify).await,
        Some(user.id),
        "other purposes are kept"
    );
    assert_eq!(live(db, 3, reset).await, Some(user.id));
    let query = AuditQuery {
        user_id: Some(user.id),
        limit: 10,
        ..AuditQuery::default()
    };
    assert_eq!(db.store.audit().query(query).await.unwrap().len(), 1);
    let err = tokens
        .issue(token(UserId::new(), reset, 4, later), link(), unaudited())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

async fn tokens_serve_only_their_purpose_and_only_while_live(db: &TestDb) {
    let user = db.user("ott2@example.com").await;
    let tokens = db.store.one_time_tokens();
    let (reset, verify) = (TokenPurpose::PasswordReset, TokenPurpose::EmailVerification);
    issue(db, user.id, verify, 1, now() + Duration::hours(1)).await;
    issue(db, user.id, reset, 2, now() - Duration::seconds(1)).await;
    let hash = PasswordHash::new("$argon2id$v=19$other".into());
    for (byte, redemption) in [
        (1, reset_to(hash.clone())),
        (2, reset_to(hash)),
        (3, Redemption::VerifyEmail),
    ] {
        let err = tokens
            .redeem(&TokenHash([byte; 32]), redemption, now(), audited("x"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "token {byte}: {err:?}");
    }
    assert_eq!(live(db, 1, reset).await, None);
    assert_eq!(
        live(db, 1, verify).await,
        Some(user.id),
        "a wrong-purpose try keeps it"
    );
    let stored = db.store.users().find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(
        stored.password_hash,
        new_user("x@example.com").password_hash
    );
}

async fn verifying_marks_the_email_once(db: &TestDb) {
    let user = db.user("ott3@example.com").await;
    let verify = TokenPurpose::EmailVerification;
    issue(db, user.id, verify, 1, now() + Duration::hours(1)).await;
    let at = now();
    let owner = verify_email(db, 1, at).await.unwrap();
    assert_eq!(owner, user.id);
    let stored = db.store.users().find_by_id(user.id).await.unwrap().unwrap();
    assert!(stored.email_verified);
    assert!(stored.email_verified_at.is_some());
    let again = verify_email(db, 1, now()).await;
    assert!(matches!(again, Err(StoreError::NotFound)), "single use");
    let query = AuditQuery {
        action: Some("email.verify".into()),
        limit: 10,
        ..AuditQuery::default()
    };
    assert_eq!(db.store.audit().query(query).await.unwrap().len(), 1);
}

async fn a_reset_changes_the_hash_ends_sessions_and_clears_the_lock(db: &TestDb) {
    let user = db.user("ott4@example.com").await;
    let users = db.store.users();
    let session = crate::users::session_for(db, user.id, 7).await;
    let policy = LockoutPolicy {
        threshold: 1,
        global_threshold: 1,
        duration: std::time::Duration::from_secs(900),
    };
    let locked = users
        .record_failed_login(user.id, SRC, policy, now(), unaudited())
        .await
        .unwrap();
    assert!(matches!(
        locked,
        FailedLogin::Counted {
            locked: Some(_),
            ..
        }
    ));
    let tokens = db.store.one_time_tokens();
    let reset = TokenPurpose::PasswordReset;
    issue(db, user.id, reset, 1, now() + Duration::minutes(30)).await;
    let hash = PasswordHash::new("$argon2id$v=19$new".into());
    tokens
        .redeem(
            &TokenHash([1; 32]),
            reset_to(hash.clone()),
            now(),
            audited("password.reset"),
        )
        .await
        .unwrap();
    let stored = users.find_by_id(user.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, Some(hash));
    assert_eq!(stored.locked_until, None);
    assert_eq!(stored.failed_login_attempts, 0);
    assert!(
        stored.email_verified,
        "the reset link came through the mailbox"
    );
    let active = db.active_sessions(user.id, now()).await;
    assert!(
        active.iter().all(|id| *id != session.id),
        "every session ends"
    );
}

async fn concurrent_redemptions_succeed_once(db: &TestDb) {
    let user = db.user("ott5@example.com").await;
    let verify = TokenPurpose::EmailVerification;
    for round in 0..5u8 {
        issue(db, user.id, verify, round, now() + Duration::hours(1)).await;
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(8));
        let outcomes = futures::future::join_all((0..8).map(|_| {
            let (tokens, start) = (db.store.one_time_tokens(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                let token = TokenHash([round; 32]);
                let redeem = Redemption::VerifyEmail;
                tokens
                    .redeem(&token, redeem, now(), audited("email.verify"))
                    .await
            })
        }))
        .await;
        let won = outcomes
            .iter()
            .filter(|o| o.as_ref().unwrap().is_ok())
            .count();
        assert_eq!(won, 1, "round {round}: {outcomes:?}");
        // The losers wait for the winner's lock on the user, then find the token used:
        // never a busy or deadlock error.
        for outcome in outcomes {
            let outcome = outcome.unwrap();
            assert!(
                matches!(outcome, Ok(_) | Err(StoreError::NotFound)),
                "{outcome:?}"
            );
        }
    }
    let query = AuditQuery {
        action: Some("email.verify".into()),
        limit: 100,
        ..AuditQuery::default()
    };
    assert_eq!(db.store.audit().query(query).await.unwrap().len(), 5);
}

async fn a_user_created_with_a_verification_token_can_redeem_it(db: &TestDb) {
    let mut new = new_user("ott6@example.com");
    new.verification = Some(auth_ports::NewVerification {
        token_hash: TokenHash([6; 32]),
        expires_at: now() + Duration::hours(24),
        mail: link(),
    });
    let user = db.store.users().create(new, unaudited()).await.unwrap();
    assert_eq!(
        live(db, 6, TokenPurpose::EmailVerification).await,
        Some(user.id)
    );
}

async fn leaving_active_or_changing_the_password_voids_links(db: &TestDb) {
    let user = db.user("ott7@example.com").await;
    let later = now() + Duration::hours(1);
    let (reset, verify) = (TokenPurpose::PasswordReset, TokenPurpose::EmailVerification);
    issue(db, user.id, reset, 1, later).await;
    issue(db, user.id, verify, 2, later).await;
    let change = auth_ports::PasswordChange {
        hash: PasswordHash::new("$argon2id$v=19$changed".into()),
        revoke: auth_ports::RevokeSessions::All,
        clear_lockout: false,
        notice: None,
    };
    let users = db.store.users();
    users
        .change_password(user.id, change, now(), unaudited())
        .await
        .unwrap();
    assert_eq!(
        live(db, 1, reset).await,
        None,
        "a reset link dies with a password change"
    );
    assert_eq!(live(db, 2, verify).await, Some(user.id));
    let suspend = auth_ports::UserUpdate {
        status: Some(auth_ports::UserStatus::Suspended),
        ..auth_ports::UserUpdate::default()
    };
    users
        .update(user.id, suspend, now(), unaudited())
        .await
        .unwrap();
    assert_eq!(
        live(db, 2, verify).await,
        None,
        "every link dies when the user leaves active"
    );
}

async fn only_active_accounts_redeem(db: &TestDb) {
    let user = db.user("ott8@example.com").await;
    let verify = TokenPurpose::EmailVerification;
    issue(db, user.id, verify, 1, now() + Duration::hours(1)).await;
    // Suspended behind the repository's back, so the link is still live.
    let raw = db.raw().await;
    let suspend = format!(
        "UPDATE users SET status = 'suspended' WHERE email = '{}'",
        "ott8@example.com"
    );
    sea_orm::ConnectionTrait::execute_unprepared(&raw, &suspend)
        .await
        .unwrap();
    let refused = verify_email(db, 1, now()).await;
    assert!(matches!(refused, Err(StoreError::NotFound)), "{refused:?}");
    assert_eq!(
        live(db, 1, verify).await,
        Some(user.id),
        "the refusal uses nothing up"
    );
    let deleted = auth_ports::UserUpdate {
        status: Some(auth_ports::UserStatus::Deleted),
        ..auth_ports::UserUpdate::default()
    };
    let users = db.store.users();
    users
        .update(user.id, deleted.clone(), now(), unaudited())
        .await
        .unwrap();
    let again = users.update(user.id, deleted, now(), unaudited()).await;
    assert!(
        matches!(
            again,
            Err(StoreError::Conflict(auth_ports::Constraint::DeletedUser))
        ),
        "a deleted account is final: {again:?}"
    );
}

/// What races a redemption of the user's reset link in
/// [`a_redemption_racing_a_new_link_a_password_change_or_a_suspension_never_fails`].
#[derive(Debug, Clone, Copy)]
enum Rival {
    NewLink,
    PasswordChange,
    Suspension,
}

impl Rival {
    /// Runs the rival write for `user` in round `round`.
    async fn run(self, db: &TestDb, user: UserId, round: u8) -> Result<(), StoreError> {
        let later = now() + Duration::hours(1);
        match self {
            Self::NewLink => {
                let link = token(user, TokenPurpose::PasswordReset, round + 128, later);
                db.store
                    .one_time_tokens()
                    .issue(link, self::link(), unaudited())
                    .await
            }
            Self::PasswordChange => {
                let change = auth_ports::PasswordChange {
                    hash: PasswordHash::new(format!("$argon2id$v=19$rival{round}")),
                    revoke: auth_ports::RevokeSessions::All,
                    clear_lockout: false,
                    notice: None,
                };
                let users = db.store.users();
                users
                    .change_password(user, change, now(), unaudited())
                    .await
                    .map(drop)
            }
            Self::Suspension => set_status(db, user, auth_ports::UserStatus::Suspended).await,
        }
    }
}

async fn set_status(
    db: &TestDb,
    user: UserId,
    status: auth_ports::UserStatus,
) -> Result<(), StoreError> {
    let update = auth_ports::UserUpdate {
        status: Some(status),
        ..auth_ports::UserUpdate::default()
    };
    db.store
        .users()
        .update(user, update, now(), unaudited())
        .await
        .map(drop)
}

/// The rivals lock the user row and then its tokens; a redemption that took them the
/// other way round deadlocked with them on PostgreSQL (40P01, answered `Unavailable`).
async fn a_redemption_racing_a_new_link_a_password_change_or_a_suspension_never_fails(db: &TestDb) {
    let user = db.user("ott9@example.com").await.id;
    let rivals = [Rival::NewLink, Rival::PasswordChange, Rival::Suspension];
    for round in 0..120u8 {
        let rival = rivals[usize::from(round) % rivals.len()];
        let reset = token(
            user,
            TokenPurpose::PasswordReset,
            round,
            now() + Duration::hours(1),
        );
        db.store
            .one_time_tokens()
            .issue(reset, link(), unaudited())
            .await
            .unwrap();
        let start = tokio::sync::Barrier::new(2);
        let redemption = async {
            start.wait().await;
            let hash = PasswordHash::new(format!("$argon2id$v=19$reset{round}"));
            db.store
                .one_time_tokens()
                .redeem(
                    &TokenHash([round; 32]),
                    reset_to(hash),
                    now(),
                    audited("password.reset"),
                )
                .await
        };
        let rivalry = async {
            start.wait().await;
            rival.run(db, user, round).await
        };
        let (redeemed, rivalled) = tokio::join!(redemption, rivalry);
        assert!(
            matches!(redeemed, Ok(_) | Err(StoreError::NotFound)),
            "round {round}, {rival:?}: the redemption failed: {redeemed:?}"
        );
        assert!(
            rivalled.is_ok(),
            "round {round}, {rival:?}: the rival failed: {rivalled:?}"
        );
        if matches!(rival, Rival::Suspension) {
            set_status(db, user, auth_ports::UserStatus::Active)
                .await
                .unwrap();
        }
    }
}
