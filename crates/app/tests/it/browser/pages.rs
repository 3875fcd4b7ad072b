//! The pages the mails link to, in a real browser with JavaScript off as the pages need
//! none: a link taken out of the mail authd wrote, the form filled in and sent, the answer
//! page read, and what changed checked in the store and through the API. Every page must
//! load its stylesheet and raise no Content-Security-Policy violation. With
//! `AUTHD_SCREENSHOTS=<dir>` set, each kind of page is saved there as a PNG, once it passed.

use super::{BrowserApp, Report, Scripts, Step, keep_screenshots, run};
use crate::server::{PASSWORD, expect_error, token_in};
use auth_ports::{AuditQuery, Email, SessionRepository as _, UserId, UserRepository as _};
use reqwest::StatusCode;
use serde_json::json;

auth_testing::on_both_backends!(
    crate::browser::BrowserApp;
    a_verification_link_verifies_only_when_the_form_is_sent,
    a_reset_link_changes_the_password_after_a_mismatch_is_corrected,
    a_reset_is_requested_from_the_page_a_tokenless_link_opens,
    the_pages_load_their_stylesheet_and_raise_no_csp_violation_even_with_javascript,
);

const EMAIL: &str = "ada@example.com";
const NEW_PASSWORD: &str = "a brand new passphrase";
const SUBMIT: &str = "form button, form input[type=submit]";

/// What every page must be (read through the DOM, which works with scripts off):
/// accessible landmarks and labels, and its one stylesheet loaded.
const PAGE_CHECK: &str = "({
  lang: document.documentElement.lang,
  h1: [...document.querySelectorAll('h1')].map((h) => h.textContent.trim()),
  main: document.querySelectorAll('main').length,
  unlabelled: [...document.querySelectorAll('input:not([type=hidden])')]
    .filter((input) => input.labels.length === 0).map((input) => input.name),
  stylesheets: [...document.styleSheets].map((sheet) => ({ href: sheet.href, rules: sheet.cssRules.length })),
  forms: [...document.forms].map((form) => ({ method: form.method, action: form.action })),
})";

/// The steps that look at the page just opened: its text, [`PAGE_CHECK`] and a
/// screenshot named `name`.
fn look(name: &str) -> [Step; 3] {
    [
        Step::ReadPage,
        Step::eval(PAGE_CHECK),
        Step::Screenshot(name.to_owned()),
    ]
}

/// Asserts what [`look`] saw at step `at`: a page whose one heading contains `heading`,
/// with the landmarks, labels and stylesheet of [`PAGE_CHECK`]. Returns the page's HTML.
fn assert_page<'a>(report: &'a Report, app: &BrowserApp, at: usize, heading: &str) -> &'a str {
    let check = report.value(at + 1);
    assert_eq!(check["lang"], "en", "{check}");
    let headings = check["h1"].as_array().unwrap();
    assert_eq!(headings.len(), 1, "{check}");
    assert!(
        headings[0].as_str().unwrap().contains(heading),
        "{heading:?} in {check}"
    );
    assert_eq!(check["main"], 1, "{check}");
    assert_eq!(check["unlabelled"], json!([]), "{check}");
    let sheets = check["stylesheets"].as_array().unwrap();
    assert_eq!(sheets.len(), 1, "{check}");
    assert_eq!(sheets[0]["href"], app.at("/assets/authd.css"));
    assert!(sheets[0]["rules"].as_u64().unwrap() > 0, "{check}");
    report.steps[at]["html"].as_str().unwrap()
}

/// Asserts that the run raised no CSP violation, no script error and no failed request,
/// and that the stylesheet was served.
fn assert_clean(report: &Report, app: &BrowserApp) {
    assert_eq!(report.csp_violations(), Vec::<&str>::new(), "{report:#?}");
    assert!(report.page_errors.is_empty(), "{report:#?}");
    assert!(report.request_failed.is_empty(), "{report:#?}");
    let stylesheet = app.at("/assets/authd.css");
    let served = report
        .responses
        .iter()
        .filter(|seen| seen.url == stylesheet);
    assert!(served.clone().count() > 0, "{report:#?}");
    assert!(served.clone().all(|seen| seen.status == 200), "{report:#?}");
}

/// Registers [`EMAIL`]; returns its id and the verification link of the mail it got.
async fn registered(app: &BrowserApp) -> (UserId, String) {
    let id = UserId(app.register(EMAIL).await.parse().unwrap());
    (id, link_in(app, 1, "/verify-email").await)
}

/// The link to `path` in the `n`-th mail, checked to be at authd's public URL.
async fn link_in(app: &BrowserApp, n: usize, path: &str) -> String {
    let mail = app.inbox.mail(n).await;
    assert_eq!(mail["to"], EMAIL);
    let token = token_in(&mail, &format!("{path}?token="));
    let link = app.at(&format!("{path}?token={token}"));
    assert!(mail["text"].as_str().unwrap().contains(&link), "{mail}");
    link
}

async fn is_verified(app: &BrowserApp) -> bool {
    let email = Email::parse(EMAIL).unwrap();
    let user = app.store.users().find_by_email(&email).await.unwrap();
    user.unwrap().email_verified
}

/// The successful audit entries of `action` by `user`, once there are some (they are
/// written after the answer), or none after two seconds.
async fn audited(app: &BrowserApp, user: UserId, action: &str) -> usize {
    let query = AuditQuery {
        user_id: Some(user),
        action: Some(action.to_owned()),
        success: Some(true),
        limit: 10,
        ..AuditQuery::default()
    };
    for _ in 0..40 {
        let entries = app.audit_entries(query.clone()).await.len();
        if entries > 0 {
            return entries;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    0
}

async fn a_verification_link_verifies_only_when_the_form_is_sent(app: &BrowserApp) {
    if !super::available() {
        return;
    }
    let (ada, link) = registered(app).await;

    // Opening the link (as a mail scanner would) shows the form and changes nothing.
    let mut steps = vec![Step::goto(&link)];
    steps.extend(look("verify-form"));
    let report = run(Scripts::Disabled, &steps).await;
    assert_eq!(report.steps[0]["status"], 200, "{report:#?}");
    assert_page(&report, app, 1, "Confirm your email address");
    let form = json!([{"method": "post", "action": app.at("/verify-email")}]);
    assert_eq!(report.value(2)["forms"], form);
    assert_clean(&report, app);
    keep_screenshots(&report);
    assert!(!is_verified(app).await);

    let mut steps = vec![Step::goto(&link), Step::Submit(SUBMIT.to_owned())];
    steps.extend(look("verify-success"));
    // The same link again: used.
    steps.extend([Step::goto(&link), Step::Submit(SUBMIT.to_owned())]);
    steps.extend(look("invalid-link"));
    // No token at all.
    steps.extend([Step::goto(app.at("/verify-email")), Step::ReadPage]);
    let report = run(Scripts::Disabled, &steps).await;
    assert_eq!(report.steps[1]["status"], 200, "{report:#?}");
    assert_eq!(report.steps[1]["url"], app.at("/verify-email"));
    assert_page(&report, app, 2, "Your email address is verified");
    assert_eq!(report.steps[6]["status"], 400, "{report:#?}");
    let text = report.steps[7]["text"].as_str().unwrap();
    assert!(
        text.contains("This link is invalid, used or expired"),
        "{text}"
    );
    assert_page(&report, app, 7, "");
    assert_eq!(report.steps[10]["status"], 400, "{report:#?}");
    assert_clean(&report, app);
    keep_screenshots(&report);

    assert!(is_verified(app).await);
    assert_eq!(audited(app, ada, "email.verify").await, 1);
}

async fn a_reset_link_changes_the_password_after_a_mismatch_is_corrected(app: &BrowserApp) {
    if !super::available() {
        return;
    }
    let (ada, _) = registered(app).await;
    let bearer = app.login(EMAIL, PASSWORD).await;
    let request = app
        .post(
            "/v1/auth/password-reset/request",
            None,
            json!({"email": EMAIL}),
        )
        .await;
    assert_eq!(request.status(), StatusCode::ACCEPTED);
    let link = link_in(app, 2, "/reset-password").await;
    let token = link.rsplit('=').next().unwrap().to_owned();

    let mismatch = "not the same passphrase";
    let mut steps = vec![Step::goto(&link)];
    steps.extend(look("reset-form"));
    steps.extend([
        Step::fill("input[name=new_password]", NEW_PASSWORD),
        Step::fill("input[name=confirm_password]", mismatch),
        Step::Submit(SUBMIT.to_owned()),
    ]);
    steps.extend(look("reset-error"));
    steps.extend([
        Step::eval("document.querySelector('input[name=token]').value"),
        Step::fill("input[name=new_password]", NEW_PASSWORD),
        Step::fill("input[name=confirm_password]", NEW_PASSWORD),
        Step::Submit(SUBMIT.to_owned()),
    ]);
    steps.extend(look("reset-success"));
    let report = run(Scripts::Disabled, &steps).await;

    assert_eq!(report.steps[0]["status"], 200, "{report:#?}");
    let form = assert_page(&report, app, 1, "");
    let forms = json!([{"method": "post", "action": app.at("/reset-password")}]);
    assert_eq!(report.value(2)["forms"], forms);
    for attribute in [
        r#"autocomplete="new-password""#,
        r#"minlength="12""#,
        r#"maxlength="128""#,
    ] {
        assert!(form.contains(attribute), "{attribute} in {form}");
    }
    // The mismatch: the form again, the error announced, the token kept, nothing echoed.
    assert_eq!(report.steps[6]["status"], 422, "{report:#?}");
    let error = assert_page(&report, app, 7, "");
    assert!(error.contains(r#"role="alert""#), "{error}");
    assert!(error.contains(r#"aria-invalid="true""#), "{error}");
    assert!(error.contains("aria-describedby"), "{error}");
    assert!(
        !error.contains(NEW_PASSWORD) && !error.contains(mismatch),
        "{error}"
    );
    assert_eq!(report.value(10), token.as_str());
    assert_eq!(report.steps[13]["status"], 200, "{report:#?}");
    let success = report.steps[14]["text"].as_str().unwrap();
    assert!(success.contains("Your password is changed"), "{success}");
    assert_page(&report, app, 14, "Your password is changed");
    assert_clean(&report, app);
    keep_screenshots(&report);

    // Every session was signed out; the new password works, the old one does not.
    let sessions = app.store.sessions();
    let open = sessions
        .list_active_for_user(ada, crate::server::now())
        .await;
    assert!(open.unwrap().is_empty());
    let me = app.get("/v1/auth/me", &bearer).await;
    expect_error(me, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(
        app.try_login(EMAIL, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    let old = app.try_login(EMAIL, PASSWORD).await;
    expect_error(old, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(audited(app, ada, "password.reset").await, 1);

    // The link is spent.
    let steps = [
        Step::goto(&link),
        Step::fill("input[name=new_password]", "yet another passphrase"),
        Step::fill("input[name=confirm_password]", "yet another passphrase"),
        Step::Submit(SUBMIT.to_owned()),
        Step::ReadPage,
    ];
    let report = run(Scripts::Disabled, &steps).await;
    assert_eq!(report.steps[3]["status"], 400, "{report:#?}");
    let text = report.steps[4]["text"].as_str().unwrap();
    assert!(
        text.contains("This link is invalid, used or expired"),
        "{text}"
    );
    assert_eq!(
        app.try_login(EMAIL, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

/// The "not you?" link of a password-changed notice has no token: it opens a form that
/// asks for the address and mails a reset link.
async fn a_reset_is_requested_from_the_page_a_tokenless_link_opens(app: &BrowserApp) {
    if !super::available() {
        return;
    }
    registered(app).await;
    let mut steps = vec![Step::goto(app.at("/reset-password"))];
    steps.extend(look("reset-request"));
    steps.extend([
        Step::fill("input[name=email]", EMAIL),
        Step::Submit(SUBMIT.to_owned()),
    ]);
    steps.extend(look("reset-requested"));
    let report = run(Scripts::Disabled, &steps).await;

    assert_eq!(report.steps[0]["status"], 200, "{report:#?}");
    let form = assert_page(&report, app, 1, "Reset your password");
    assert!(form.contains(r#"autocomplete="email""#), "{form}");
    let forms = json!([{"method": "post", "action": app.at("/reset-password/request")}]);
    assert_eq!(report.value(2)["forms"], forms);
    assert_eq!(report.steps[5]["status"], 200, "{report:#?}");
    let sent = assert_page(&report, app, 6, "Check your mail");
    assert!(
        !sent.contains(EMAIL),
        "the address is not shown back: {sent}"
    );
    assert_clean(&report, app);
    // The mail came, and its link opens the reset form.
    let reset = link_in(app, 2, "/reset-password").await;
    let opened = run(Scripts::Disabled, &[Step::goto(&reset), Step::ReadPage]).await;
    assert_eq!(opened.steps[0]["status"], 200, "{opened:#?}");
    let page = opened.steps[1]["text"].as_str().unwrap();
    assert!(page.contains("Choose a new password"), "{page}");
    keep_screenshots(&report);
}

async fn the_pages_load_their_stylesheet_and_raise_no_csp_violation_even_with_javascript(
    app: &BrowserApp,
) {
    if !super::available() {
        return;
    }
    let (_, link) = registered(app).await;
    let request = app
        .post(
            "/v1/auth/password-reset/request",
            None,
            json!({"email": EMAIL}),
        )
        .await;
    assert_eq!(request.status(), StatusCode::ACCEPTED);
    let reset = link_in(app, 2, "/reset-password").await;
    // Scripts on: an inline script or style on a page would now be refused loudly.
    let steps = [
        Step::goto(&link),
        Step::eval(PAGE_CHECK),
        Step::goto(&reset),
        Step::eval(PAGE_CHECK),
        Step::fill("input[name=new_password]", "short"),
        Step::fill("input[name=confirm_password]", "short"),
        // The browser's own minlength check would stop a too-short password here.
        Step::eval("document.querySelector('form').noValidate = true"),
        Step::Submit(SUBMIT.to_owned()),
        Step::eval(PAGE_CHECK),
        Step::goto(app.at("/reset-password")),
        Step::eval(PAGE_CHECK),
        // A phone: the form fits 320 px without scrolling sideways.
        Step::Resize {
            width: 320,
            height: 640,
        },
        Step::goto(&reset),
        Step::eval("[document.documentElement.scrollWidth, document.documentElement.clientWidth]"),
    ];
    let report = run(Scripts::Enabled, &steps).await;
    assert_eq!(report.steps[0]["status"], 200, "{report:#?}");
    assert_eq!(report.steps[2]["status"], 200, "{report:#?}");
    assert_eq!(report.steps[7]["status"], 422, "{report:#?}");
    assert_eq!(
        report.steps[9]["status"], 200,
        "the request form: {report:#?}"
    );
    for at in [1, 3, 8, 10] {
        let sheets = &report.value(at)["stylesheets"];
        assert_eq!(
            sheets[0]["href"],
            app.at("/assets/authd.css"),
            "{report:#?}"
        );
        assert!(sheets[0]["rules"].as_u64().unwrap() > 0);
    }
    assert_eq!(report.value(13), &json!([320, 320]), "{report:#?}");
    assert_clean(&report, app);
    // No error or warning on the console, but for the statuses of the pages asserted above
    // and the browser's own favicon request (authd has none; a data: icon would need
    // img-src data:).
    let pages: Vec<&str> = report
        .steps
        .iter()
        .filter_map(|step| step["url"].as_str())
        .collect();
    let expected = |url: &str| pages.contains(&url) || url == app.at("/favicon.ico");
    let said: Vec<_> = report
        .console
        .iter()
        .filter(|message| matches!(message.kind.as_str(), "error" | "warning"))
        .filter(|message| {
            !(message.text.starts_with("Failed to load resource") && expected(&message.url))
        })
        .collect();
    assert!(said.is_empty(), "{said:#?}");
    assert!(!is_verified(app).await, "only opened, never sent");
}
