//! The mail outbox contract: mail is queued in the transaction of the write that sends
//! it (and not at all when that write fails), claims keep concurrent workers apart, and
//! retries, give-ups and clean-up keep what operators need and nothing more.

use crate::harness::{TestDb, mail, new_user, now};
use auth_ports::{
    MailOutbox, NewOneTimeToken, NewVerification, OneTimeTokenRepository, OutboxBacklog,
    PasswordChange, PasswordHash, QueuedMail, Redemption, RevokeSessions, StoreError, TokenHash,
    TokenPurpose, UserId, UserRepository,
};
use auth_testing::unaudited;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeSet;

auth_testing::on_both_backends!(
    crate::harness::TestDb;
    a_new_account_queues_its_verification_mail_with_it,
    an_issued_link_queues_its_mail_and_a_failed_issue_queues_none,
    a_password_change_or_reset_queues_the_notice_a_refused_one_none,
    a_claim_takes_due_mail_oldest_first_and_hides_it_for_the_lease,
    concurrent_claims_never_hand_out_a_message_twice,
    retries_give_ups_and_clean_up_keep_only_what_operators_need,
    a_committed_mail_wakes_the_worker,
);

/// Claims everything due now, with a lease of a minute.
async fn claim_all(db: &TestDb) -> Vec<QueuedMail> {
    let at = now();
    let outbox = db.store.mail_outbox();
    outbox
        .claim(at, at + Duration::minutes(1), 100)
        .await
        .unwrap()
}

fn subjects(claimed: &[QueuedMail]) -> Vec<String> {
    claimed.iter().map(|m| m.message.subject.clone()).collect()
}

async fn backlog_of(db: &TestDb) -> OutboxBacklog {
    db.store.mail_outbox().backlog().await.unwrap()
}

fn link(user: UserId, byte: u8) -> NewOneTimeToken {
    NewOneTimeToken {
        user_id: user,
        purpose: TokenPurpose::PasswordReset,
        token_hash: TokenHash([byte; 32]),
        expires_at: now() + Duration::hours(1),
        created_at: now(),
    }
}

/// A user of `email` with a reset link mailed under each of `subjects`, in order.
async fn queue(db: &TestDb, email: &str, subjects: &[&str]) -> UserId {
    let user = db.user(email).await;
    let tokens = db.store.one_time_tokens();
    for (byte, subject) in (1..).zip(subjects) {
        let message = mail(email, subject);
        tokens
            .issue(link(user.id, byte), message, unaudited())
            .await
            .unwrap();
    }
    user.id
}

async fn a_new_account_queues_its_verification_mail_with_it(db: &TestDb) {
    let users = db.store.users();
    let verification = |byte| NewVerification {
        token_hash: TokenHash([byte; 32]),
        expires_at: now() + Duration::hours(24),
        mail: mail("new@example.com", "Confirm your email address"),
    };
    let mut user = new_user("new@example.com");
    user.verification = Some(verification(1));
    users.create(user, unaudited()).await.unwrap();

    // The same address again: the account is refused, and so is its mail.
    let mut again = new_user("new@example.com");
    again.verification = Some(verification(2));
    let err = users.create(again, unaudited()).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // An unknown role: nothing is written.
    let mut unknown_role = new_user("other@example.com");
    unknown_role.role = Some("no-such-role".into());
    unknown_role.verification = Some(verification(3));
    let err = users.create(unknown_role, unaudited()).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");

    let claimed = claim_all(db).await;
    assert_eq!(subjects(&claimed), ["Confirm your email address"]);
    let [queued] = claimed.try_into().unwrap();
    assert_eq!(queued.message.to.as_str(), "new@example.com");
    assert_eq!(queued.message.text, "text of Confirm your email address");
    assert_eq!(
        queued.message.html,
        "<p>html of Confirm your email address</p>"
    );
    assert_eq!(queued.attempt, 1);
}

async fn an_issued_link_queues_its_mail_and_a_failed_issue_queues_none(db: &TestDb) {
    let user = db.user("ott@example.com").await;
    let tokens = db.store.one_time_tokens();
    tokens
        .issue(
            link(user.id, 1),
            mail("ott@example.com", "Reset"),
            unaudited(),
        )
        .await
        .unwrap();
    let err = tokens
        .issue(
            link(UserId::new(), 2),
            mail("x@example.com", "Lost"),
            unaudited(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    // A hash collision fails the whole issue.
    let err = tokens
        .issue(
            link(user.id, 1),
            mail("ott@example.com", "Twin"),
            unaudited(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    assert_eq!(subjects(&claim_all(db).await), ["Reset"]);
}

async fn a_password_change_or_reset_queues_the_notice_a_refused_one_none(db: &TestDb) {
    let user = db.user("pw@example.com").await;
    let change = |notice| PasswordChange {
        hash: PasswordHash::new("$argon2id$v=19$new".into()),
        revoke: RevokeSessions::All,
        clear_lockout: false,
        notice,
    };
    let users = db.store.users();
    let changed = mail("pw@example.com", "Your password was changed");
    users
        .change_password(user.id, change(Some(changed)), now(), unaudited())
        .await
        .unwrap();
    let lost = mail("pw@example.com", "Never sent");
    let err = users
        .change_password(UserId::new(), change(Some(lost)), now(), unaudited())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");

    let tokens = db.store.one_time_tokens();
    let link_mail = mail("pw@example.com", "Reset");
    tokens
        .issue(link(user.id, 5), link_mail, unaudited())
        .await
        .unwrap();
    let reset = |subject| Redemption::ResetPassword {
        hash: PasswordHash::new("$argon2id$v=19$reset".into()),
        notice: mail("pw@example.com", subject),
    };
    // A link that is not live redeems nothing and mails nothing.
    let err = tokens
        .redeem(&TokenHash([6; 32]), reset("Refused"), now(), unaudited())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let hash = TokenHash([5; 32]);
    tokens
        .redeem(&hash, reset("Your password was reset"), now(), unaudited())
        .await
        .unwrap();

    let mut sent = subjects(&claim_all(db).await);
    sent.sort();
    assert_eq!(
        sent,
        [
            "Reset",
            "Your password was changed",
            "Your password was reset"
        ]
    );
}

async fn a_claim_takes_due_mail_oldest_first_and_hides_it_for_the_lease(db: &TestDb) {
    queue(db, "due@example.com", &["first", "second", "third"]).await;
    let outbox = db.store.mail_outbox();
    let t = now();
    let lease_until = t + Duration::minutes(2);

    let first = outbox.claim(t, lease_until, 2).await.unwrap();
    assert_eq!(subjects(&first), ["first", "second"]);
    let rest = outbox.claim(t, lease_until, 2).await.unwrap();
    assert_eq!(subjects(&rest), ["third"]);
    assert!(outbox.claim(t, lease_until, 2).await.unwrap().is_empty());
    let backlog = outbox.backlog().await.unwrap();
    assert_eq!((backlog.queued, backlog.failed), (3, 0));
    assert_eq!(backlog.next_due, Some(lease_until));

    // A worker that never reported back: once the lease is over, the message is due
    // again, as its second attempt.
    let after_lease = lease_until + Duration::seconds(1);
    let again = outbox.claim(after_lease, after_lease + Duration::minutes(2), 10);
    let again = again.await.unwrap();
    assert_eq!(subjects(&again), ["first", "second", "third"]);
    assert!(again.iter().all(|m| m.attempt == 2));

    let ids: Vec<_> = again.iter().map(|m| m.id).collect();
    outbox.delivered(&ids).await.unwrap();
    assert_eq!(outbox.backlog().await.unwrap(), OutboxBacklog::default());
}

async fn concurrent_claims_never_hand_out_a_message_twice(db: &TestDb) {
    let user = db.user("many@example.com").await;
    let tokens = db.store.one_time_tokens();
    for byte in 0..60u8 {
        let message = mail("many@example.com", &format!("m{byte:02}"));
        tokens
            .issue(link(user.id, byte), message, unaudited())
            .await
            .unwrap();
    }
    let t = now();
    let claimers = (0..4).map(|_| {
        let outbox = db.store.mail_outbox();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = outbox.claim(t, t + Duration::minutes(2), 7).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|m| m.message.subject));
                tokio::task::yield_now().await;
            }
        })
    });
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    let distinct: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), 60, "each message handed out once");
    assert_eq!(distinct.len(), 60);
}

async fn retries_give_ups_and_clean_up_keep_only_what_operators_need(db: &TestDb) {
    queue(db, "retry@example.com", &["retried", "given up"]).await;
    let outbox = db.store.mail_outbox();
    let t = now();
    let [retried, given_up] = claim_all(db).await.try_into().unwrap();

    let later: DateTime<Utc> = t + Duration::minutes(5);
    outbox
        .retry(retried.id, later, "421 try again later")
        .await
        .unwrap();
    outbox
        .give_up(given_up.id, t, &"x".repeat(2000))
        .await
        .unwrap();
    let backlog = outbox.backlog().await.unwrap();
    assert_eq!((backlog.queued, backlog.failed), (1, 1));
    assert_eq!(backlog.next_due, Some(later));
    // Not due before its time, then due as the second attempt.
    assert!(outbox.claim(t, t, 10).await.unwrap().is_empty());
    let [again] = outbox
        .claim(later, later, 10)
        .await
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(
        (again.message.subject.as_str(), again.attempt),
        ("retried", 2)
    );
    assert_eq!(again.message, retried.message);

    // What a given-up message keeps: recipient, subject, the (shortened) reason; never
    // the bodies, which carry a live link.
    use sea_orm::{ConnectionTrait, Statement};
    let raw = db.raw().await;
    let backend = raw.get_database_backend();
    let row = raw
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT recipient, subject, body_text, body_html, last_error FROM mail_outbox \
             WHERE failed_at IS NOT NULL",
        ))
        .await
        .unwrap()
        .unwrap();
    let text = |column: &str| row.try_get::<String>("", column).unwrap();
    assert_eq!(text("recipient"), "retry@example.com");
    assert_eq!(text("subject"), "given up");
    assert_eq!(
        (text("body_text"), text("body_html")),
        (String::new(), String::new())
    );
    assert_eq!(text("last_error").chars().count(), 500);

    // Clean-up removes given-up mail older than the cutoff, nothing else.
    assert_eq!(outbox.delete_failed(t).await.unwrap(), 0);
    assert_eq!(
        outbox
            .delete_failed(t + Duration::seconds(1))
            .await
            .unwrap(),
        1
    );
    let backlog = backlog_of(db).await;
    assert_eq!((backlog.queued, backlog.failed), (1, 0));
}

async fn a_committed_mail_wakes_the_worker(db: &TestDb) {
    let user = db.user("wake@example.com").await;
    let signal = db.store.mail_signal();
    let woken = tokio::spawn(async move { signal.committed().await });
    let message = mail("wake@example.com", "Reset");
    let tokens = db.store.one_time_tokens();
    tokens
        .issue(link(user.id, 1), message, unaudited())
        .await
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), woken)
        .await
        .expect("the commit woke the worker")
        .unwrap();
}
