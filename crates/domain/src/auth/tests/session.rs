//! Authenticating tokens, logging out and listing or revoking sessions against mocked
//! ports.

use super::*;

/// Expects exactly one lookup of the presented token, which finds `found`.
fn authenticating(m: &mut Mocks, found: Option<ActiveSession>) {
    m.tokens.expect_hash().returning(|_| TokenHash([7; 32]));
    m.sessions
        .expect_find_active_by_token_hash()
        .times(1)
        .returning(move |_, _| Ok(found.clone()));
}

async fn authenticate(m: Mocks) -> Result<Principal, AuthenticateError> {
    m.service(POLICY)
        .authenticate(&BearerToken::new("x".into()))
        .await
}

/// What the store returns for a live session of `user`.
/// Authenticating with `session` of `user` is refused, and the session not touched.
async fn is_refused_untouched(session: Session, user: User) {
    let mut m = Mocks::default();
    authenticating(&mut m, Some(active(session, user)));
    m.sessions.expect_touch().never();
    let err = authenticate(m).await;
    assert!(matches!(err, Err(AuthenticateError::Unauthorized)));
}

fn active(session: Session, user: User) -> ActiveSession {
    ActiveSession {
        session,
        user,
        roles: vec!["moderator".into(), "user".into()],
        permissions: vec!["audit:read".into(), "users:read".into()],
    }
}

#[tokio::test]
async fn an_unknown_token_is_unauthorized() {
    let mut m = Mocks::default();
    authenticating(&mut m, None);
    let err = authenticate(m).await;
    assert!(matches!(err, Err(AuthenticateError::Unauthorized)));
}

#[tokio::test]
async fn an_idle_session_is_unauthorized() {
    let u = user();
    let mut s = session(&u);
    s.last_accessed_at = t0() - chrono::Duration::seconds(1_801);
    is_refused_untouched(s, u).await;
}

#[tokio::test]
async fn a_session_of_an_inactive_user_is_unauthorized() {
    let mut u = user();
    u.status = UserStatus::Deleted;
    let s = session(&u);
    is_refused_untouched(s, u).await;
}

#[tokio::test]
async fn a_live_session_yields_the_principal_from_one_read() {
    let u = user();
    let s = session(&u);
    let mut m = Mocks::default();
    authenticating(&mut m, Some(active(s, u)));
    // Accessed just now: no write.
    m.sessions.expect_touch().never();
    m.users.expect_find_by_id().never();
    let principal = authenticate(m).await.unwrap();
    assert_eq!(principal.roles, ["moderator", "user"]);
    assert_eq!(principal.permissions, ["audit:read", "users:read"]);
}

#[tokio::test]
async fn a_session_last_seen_a_touch_interval_ago_counts_as_activity() {
    let u = user();
    let mut s = session(&u);
    s.last_accessed_at = t0() - chrono::Duration::seconds(60);
    let sid = s.id;
    let mut m = Mocks::default();
    authenticating(&mut m, Some(active(s, u)));
    m.sessions
        .expect_touch()
        .times(1)
        .with(eq(sid), eq(t0()), eq(Duration::from_secs(60)))
        .returning(|_, _, _| Ok(true));
    authenticate(m).await.unwrap();
}

#[test]
fn touch_interval_is_at_most_a_quarter_of_the_idle_timeout() {
    assert_eq!(POLICY.touch_interval(), Duration::from_secs(60));
    let short = AuthPolicy {
        idle_timeout: Duration::from_secs(120),
        ..POLICY
    };
    assert_eq!(short.touch_interval(), Duration::from_secs(30));
}

#[tokio::test]
async fn revoking_a_session_that_is_not_the_callers_is_not_found() {
    let mut m = Mocks::default();
    m.sessions
        .expect_revoke()
        .returning(|_, _, _, _| Err(StoreError::NotFound));
    m.audit.expect_append().never();
    let err = m
        .service(POLICY)
        .revoke_session(&principal(), SessionId::new(), &client())
        .await;
    assert!(matches!(err, Err(RevokeError::NotFound)));
}

#[tokio::test]
async fn logout_all_revokes_every_session_and_says_so() {
    let p = principal();
    let mut m = Mocks::default().audit(1, |e| {
        assert_eq!(e.action, "auth.logout");
        assert_eq!(e.details["all"], true);
    });
    let id = p.user.id;
    let trail = m.trail.clone();
    m.sessions
        .expect_revoke_all_for_user()
        .times(1)
        .with(eq(id), eq(t0()), always())
        .returning(move |_, _, audit| trail.write(audit, 3));
    m.service(POLICY).logout_all(&p, &client()).await.unwrap();
}

#[tokio::test]
async fn logout_revokes_the_current_session_and_is_audited() {
    let p = principal();
    let (user, session) = (p.user.id, p.session.id);
    let mut m = Mocks::default().audit(1, |e| {
        assert_eq!(e.action, "auth.logout");
        assert!(e.details.get("all").is_none());
    });
    let trail = m.trail.clone();
    m.sessions
        .expect_revoke()
        .times(1)
        .with(eq(user), eq(session), eq(t0()), always())
        .returning(move |_, _, _, audit| trail.write(audit, ()));
    m.service(POLICY).logout(&p, &client()).await.unwrap();
}

#[tokio::test]
async fn the_session_list_marks_the_current_one_and_leaves_out_idle_ones() {
    let p = principal();
    let current = p.session.clone();
    let mut idle = session(&p.user);
    idle.last_accessed_at = t0() - chrono::Duration::hours(1);
    let other = session(&p.user);
    let (current_id, other_id) = (current.id, other.id);
    let mut m = Mocks::default();
    m.sessions
        .expect_list_active_for_user()
        .returning(move |_, _| Ok(vec![current.clone(), idle.clone(), other.clone()]));
    let views = m.service(POLICY).sessions(&p).await.unwrap();
    let seen: Vec<_> = views.iter().map(|v| (v.session.id, v.current)).collect();
    assert_eq!(seen, [(current_id, true), (other_id, false)]);
}
