//! `authd maintenance cleanup`: removes what no longer serves anyone — expired sessions,
//! used or expired one-time tokens, expired OAuth flows and authentication challenges
//! (abandoned MFA logins, step-ups, passkey ceremonies), stale per-source login
//! failures, given-up mail and audit entries past `AUDIT_RETENTION_DAYS` — and says how
//! much it removed. Safe to run from cron on any instance, at any time.

use crate::adapters::SystemClock;
use anyhow::Context as _;
use auth_ports::{
    AuditRepository, ChallengeRepository, Clock, MailOutbox, OAuthFlowRepository,
    OneTimeTokenRepository, SessionRepository, StoreError, UserRepository,
};
use auth_sea_orm::Store;
use std::time::Duration;

/// Deletes expired sessions, spent one-time tokens, expired OAuth flows (abandoned
/// sign-ins), expired authentication challenges, per-source login failures that neither
/// failed nor locked within the last `lockout` duration, and audit entries and given-up
/// mail older than `retention`, printing the counts.
///
/// # Errors
/// Storage failures; each deletion is one statement, so a failure leaves the earlier
/// ones done and nothing half-deleted.
pub(crate) async fn cleanup(
    store: &Store,
    retention: Duration,
    lockout: Duration,
) -> anyhow::Result<()> {
    let now = SystemClock::new().now();
    let sessions = removed("expired sessions", store.sessions().delete_expired(now)).await?;
    let tokens = removed(
        "spent one-time tokens",
        store.one_time_tokens().delete_spent(now),
    )
    .await?;
    let flows = removed(
        "expired OAuth flows",
        store.oauth_flows().delete_expired(now),
    )
    .await?;
    let challenges = removed(
        "expired authentication challenges",
        store.challenges().delete_expired(now),
    )
    .await?;
    let cutoff = now - chrono::Duration::from_std(retention).context("retention out of range")?;
    let audit = removed("old audit entries", store.audit().delete_older_than(cutoff)).await?;
    let mail = removed("given-up mail", store.mail_outbox().delete_failed(cutoff)).await?;
    let stale = now - chrono::Duration::from_std(lockout).context("lockout out of range")?;
    let failures = removed(
        "stale login failure records",
        store.users().delete_stale_login_failures(stale),
    )
    .await?;
    println!("removed {sessions} expired session(s)");
    println!("removed {tokens} used or expired one-time token(s)");
    println!("removed {flows} expired OAuth flow(s)");
    println!("removed {challenges} expired authentication challenge(s)");
    println!("removed {failures} stale login failure record(s)");
    println!("removed {mail} given-up mail message(s) older than the audit retention");
    println!(
        "removed {audit} audit entr{} older than {} days",
        if audit == 1 { "y" } else { "ies" },
        retention.as_secs() / 86_400
    );
    Ok(())
}

/// The count a deletion reports, or its failure as "cannot delete `what`".
async fn removed(
    what: &str,
    deletion: impl Future<Output = Result<u64, StoreError>>,
) -> anyhow::Result<u64> {
    deletion
        .await
        .with_context(|| format!("cannot delete {what}"))
}
