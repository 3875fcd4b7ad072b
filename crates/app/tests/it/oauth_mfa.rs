//! A provider's sign-in is one factor: an account with MFA on gets the second step from
//! the callback, against the real test provider.

use crate::mfa::{MFA_KEY, codes_now, enroll_totp};
use crate::oauth::OAuthApp;
use auth_testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};

auth_testing::on_both_backends!(
    crate::oauth_mfa::OAuthMfaApp;
    a_provider_sign_in_to_an_account_with_mfa_needs_the_second_step,
);

/// [`OAuthApp`] with TOTP sealing configured.
pub struct OAuthMfaApp(OAuthApp);

impl OAuthMfaApp {
    pub async fn open(database: TestDatabase) -> Self {
        Self(OAuthApp::open_with(database, &[("MFA_SECRET_KEY", MFA_KEY)]).await)
    }
}

impl std::ops::Deref for OAuthMfaApp {
    type Target = OAuthApp;

    fn deref(&self) -> &OAuthApp {
        &self.0
    }
}

async fn a_provider_sign_in_to_an_account_with_mfa_needs_the_second_step(app: &OAuthMfaApp) {
    if app.provider.is_none() {
        return;
    }
    let first = app.signed_in("mia@example.com").await;
    let token = first["session_token"].as_str().unwrap();
    let (secret, _) = enroll_totp(app, token).await;

    let callback = app.sign_in_with("idp", "mia@example.com").await;

    assert_eq!(callback.status(), StatusCode::OK);
    let challenge: Value = callback.json().await.unwrap();
    assert_eq!(challenge["mfa_required"], true, "{challenge}");
    assert!(challenge.get("session_token").is_none());
    assert_eq!(challenge["methods"], json!(["totp", "recovery_code"]));
    let (_, next) = codes_now(&secret);
    let verified = app
        .post(
            "/v1/auth/mfa/verify",
            None,
            json!({"mfa_token": challenge["mfa_token"], "method": "totp", "code": next}),
        )
        .await;
    assert_eq!(verified.status(), StatusCode::OK);
    let session: Value = verified.json().await.unwrap();
    let session = session["session_token"].as_str().unwrap();
    let sessions = app.get_json("/v1/auth/sessions", session).await;
    let current = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()
        .clone();
    assert_eq!(current["auth_methods"], json!(["oauth", "totp"]));
}
