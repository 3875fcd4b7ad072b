//! Cookie sessions in a real browser: a web app of an allowed origin signs in with the
//! cookie and its CSRF token, and pages of other origins that try to use the victim's
//! cookie are refused (ISSUE 17: CORS, cookie sessions, CSRF defence).

use super::{BrowserApp, Report, Scripts, Step, run};
use crate::server::{PASSWORD, now};
use auth_ports::{SessionRepository as _, UserId};
use serde_json::Value;

auth_testing::on_both_backends!(
    crate::browser::BrowserApp;
    an_allowed_app_signs_in_with_the_cookie_and_out_with_its_csrf_token,
    a_write_without_the_csrf_token_is_refused_and_the_session_lives_on,
    forged_requests_from_other_sites_leave_the_victims_session_alone,
    the_readme_example_works_as_written,
);

const EMAIL: &str = "ada@example.com";
/// The attacker's own account, for login CSRF.
const EVE: &str = "eve@example.com";

/// The `call` that logs [`EMAIL`] in with the cookie and keeps the answer in `window.login`
/// for later steps.
fn cookie_login() -> Step {
    Step::eval(format!(
        "call('POST', '/v1/auth/login', {{ json: {{ email: '{EMAIL}', password: '{PASSWORD}', cookie: true }} }})
           .then((answer) => (window.login = answer))"
    ))
}

/// Registers [`EMAIL`] and returns its id.
async fn ada(app: &BrowserApp) -> UserId {
    UserId(app.register(EMAIL).await.parse().unwrap())
}

/// How many active sessions the user has, straight from the store.
async fn active_sessions(app: &BrowserApp, user: UserId) -> usize {
    let sessions = app.store.sessions();
    sessions
        .list_active_for_user(user, now())
        .await
        .unwrap()
        .len()
}

/// Asserts that `answer` (a `call` result) is 403 `csrf_failed`.
fn assert_csrf_failed(answer: &Value, report: &Report) {
    assert_eq!(answer["status"], 403, "{answer} in {report:#?}");
    assert_eq!(answer["body"]["error"]["code"], "csrf_failed", "{answer}");
}

/// The cookie named `name` in a `Cookies` step's result.
fn cookie<'a>(cookies: &'a Value, name: &str) -> &'a Value {
    cookies["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|cookie| cookie["name"] == name)
        .unwrap_or_else(|| panic!("no cookie {name} in {cookies}"))
}

async fn an_allowed_app_signs_in_with_the_cookie_and_out_with_its_csrf_token(app: &BrowserApp) {
    if !super::available() {
        return;
    }
    let ada = ada(app).await;
    let steps = [
        Step::goto(app.app_page.url("/")),
        cookie_login(),
        Step::eval("call('GET', '/v1/auth/me')"),
        Step::eval("document.cookie"),
        Step::Cookies,
    ];
    let report = run(Scripts::Enabled, &steps).await;
    let login = report.value(1);
    assert_eq!(login["status"], 200, "{report:#?}");
    assert_eq!(login["body"]["token_type"], "Cookie");
    assert_eq!(login["body"]["user"]["email"], EMAIL);
    assert!(login["body"].get("session_token").is_none(), "{login}");
    let csrf = login["body"]["csrf_token"].as_str().unwrap();
    let me = report.value(2);
    assert_eq!(me["status"], 200, "{me}");
    assert_eq!(me["body"]["user"]["email"], EMAIL);
    // The app's page sees the CSRF cookie (same host) but never the session.
    let visible = report.value(3).as_str().unwrap();
    assert!(visible.contains(&format!("authd_csrf={csrf}")), "{visible}");
    assert!(!visible.contains("authd_session"), "{visible}");
    let session = cookie(&report.steps[4], "authd_session");
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["sameSite"], "Lax");
    assert_eq!(session["path"], "/");
    assert_eq!(cookie(&report.steps[4], "authd_csrf")["httpOnly"], false);
    assert_eq!(active_sessions(app, ada).await, 1);

    // Signing out needs the token; then the cookie no longer authenticates.
    let steps = [
        Step::goto(app.app_page.url("/")),
        cookie_login(),
        Step::eval("call('POST', '/v1/auth/logout', { csrf: window.login.body.csrf_token })"),
        Step::eval("call('GET', '/v1/auth/me')"),
        Step::eval("document.cookie"),
    ];
    let report = run(Scripts::Enabled, &steps).await;
    assert_eq!(report.value(2)["status"], 204, "{report:#?}");
    assert_eq!(report.value(3)["status"], 401);
    assert_eq!(report.value(3)["body"]["error"]["code"], "unauthorized");
    assert_eq!(report.value(4), "", "logout clears both cookies");
    // The first run's session is still open: only this one was signed out.
    assert_eq!(active_sessions(app, ada).await, 1);
}

async fn a_write_without_the_csrf_token_is_refused_and_the_session_lives_on(app: &BrowserApp) {
    if !super::available() {
        return;
    }
    let ada = ada(app).await;
    let steps = [
        Step::goto(app.app_page.url("/")),
        cookie_login(),
        Step::eval("call('POST', '/v1/auth/logout')"),
        Step::eval("call('POST', '/v1/auth/logout-all', { csrf: 'A'.repeat(43) })"),
        Step::eval("call('GET', '/v1/auth/me')"),
        Step::eval("call('GET', '/v1/auth/csrf')"),
    ];
    let report = run(Scripts::Enabled, &steps).await;
    assert_eq!(report.value(1)["status"], 200, "{report:#?}");
    assert_csrf_failed(report.value(2), &report);
    assert_csrf_failed(report.value(3), &report);
    assert_eq!(report.value(4)["status"], 200);
    assert_eq!(report.value(4)["body"]["user"]["email"], EMAIL);
    // An app that lost its token gets the same one back.
    let again = report.value(5);
    assert_eq!(again["status"], 200, "{again}");
    assert_eq!(
        again["body"]["csrf_token"],
        report.value(1)["body"]["csrf_token"]
    );
    assert_eq!(active_sessions(app, ada).await, 1);
}

async fn forged_requests_from_other_sites_leave_the_victims_session_alone(app: &BrowserApp) {
    if !super::available() {
        return;
    }
    let ada = ada(app).await;
    let eve = UserId(app.register(EVE).await.parse().unwrap());
    let logout_all = app.at("/v1/auth/logout-all");
    let me = app.at("/v1/auth/me");
    let steps = [
        // 0-1: the victim signs in at the app.
        Step::goto(app.app_page.url("/")),
        cookie_login(),
        // 2-4: a same-site page posts a form to authd: the cookie goes along.
        Step::goto(app.evil.url("/forge")),
        Step::WaitForUrl(logout_all.clone()),
        Step::ReadPage,
        // 5-8: the same page's scripts: a plain POST, one with the CSRF cookie it can
        // read on the same host, and an attempt to read the victim's profile.
        Step::goto(app.evil.url("/")),
        Step::eval("call('POST', '/v1/auth/logout-all')"),
        Step::eval(
            "call('POST', '/v1/auth/logout-all', { csrf: document.cookie.match(/authd_csrf=([^;]+)/)[1] })",
        ),
        Step::eval("call('GET', '/v1/auth/me')"),
        // 9-12: a cross-site page: the browser does not even send the cookie.
        Step::goto(app.cross_site.url("/forge")),
        Step::WaitForUrl(logout_all.clone()),
        Step::goto(app.cross_site.url("/")),
        Step::eval("call('GET', '/v1/auth/me')"),
        // 13-14: login CSRF: the same-site page tries to sign the browser in as Eve, with
        // the one kind of POST a page may send anywhere unasked (text/plain).
        Step::goto(app.evil.url("/")),
        Step::eval(format!(
            "fetch('{login}', {{ method: 'POST', credentials: 'include', headers: {{ 'Content-Type': 'text/plain' }},
               body: JSON.stringify({{ email: '{EVE}', password: '{PASSWORD}', cookie: true }}) }})
               .then((response) => response.status, (error) => String(error))",
            login = app.at("/v1/auth/login"),
        )),
        // 15-16: back at the app, the victim is still signed in, as herself.
        Step::goto(app.app_page.url("/")),
        Step::eval("call('GET', '/v1/auth/me')"),
    ];
    let report = run(Scripts::Enabled, &steps).await;
    assert_eq!(report.value(1)["status"], 200, "{report:#?}");

    // The forged form reached authd with the cookie and was refused.
    assert_eq!(
        report.statuses(3, "POST", &logout_all),
        [403],
        "{report:#?}"
    );
    let page = report.steps[4]["text"].as_str().unwrap();
    assert!(page.contains("csrf_failed"), "{page}");

    // The scripted POST was sent and refused; the page could not read why.
    assert_eq!(
        report.statuses(6, "POST", &logout_all),
        [403],
        "{report:#?}"
    );
    assert_eq!(report.value(6)["status"], Value::Null);
    // With a custom header the browser asks first (preflight); authd does not allow the
    // origin, so the POST itself is never sent.
    assert_eq!(report.value(7)["status"], Value::Null, "{report:#?}");
    assert!(
        report.statuses(7, "POST", &logout_all).is_empty(),
        "{report:#?}"
    );
    // The profile went over the network, but CORS kept it from the page.
    assert_eq!(report.statuses(8, "GET", &me), [200]);
    assert_eq!(report.value(8)["status"], Value::Null);
    assert!(report.value(8).get("body").is_none());

    // Cross-site, authd sees no cookie at all.
    assert_eq!(
        report.statuses(10, "POST", &logout_all),
        [401],
        "{report:#?}"
    );
    assert_eq!(report.statuses(12, "GET", &me), [401], "{report:#?}");
    assert_eq!(report.value(12)["status"], Value::Null);

    // The login was sent with Eve's password and refused before any session opened: today
    // for its text/plain body (415; a JSON one would need a preflight, which fails), else
    // by the login CSRF check (403).
    let login = report.statuses(14, "POST", &app.at("/v1/auth/login"));
    assert!(login == [415] || login == [403], "{login:?} in {report:#?}");
    assert_eq!(active_sessions(app, eve).await, 0);

    assert_eq!(report.value(16)["status"], 200, "{report:#?}");
    assert_eq!(report.value(16)["body"]["user"]["email"], EMAIL);
    assert_eq!(active_sessions(app, ada).await, 1);
}

/// The JavaScript of README's "Use from a web app", as written there.
fn readme_example() -> String {
    let readme = include_str!("../../../../../README.md");
    let section = readme
        .split("## Use from a web app")
        .nth(1)
        .expect("README has a section \"Use from a web app\"");
    let code = section.split("```js\n").nth(1).expect("with a js example");
    code.split("```").next().unwrap().to_owned()
}

async fn the_readme_example_works_as_written(app: &BrowserApp) {
    if !super::available() {
        return;
    }
    let ada = ada(app).await;
    // Run on the allowed app's page, against this authd instead of auth.example.com.
    let example = readme_example().replace("https://auth.example.com", &app.authd);
    let run_it = format!(
        "(async () => {{ const email = '{EMAIL}', password = '{PASSWORD}';\n{example}\n\
         return {{ user, roles, csrf, cookies: document.cookie }}; }})()"
    );
    let steps = [Step::goto(app.app_page.url("/")), Step::eval(run_it)];
    let report = run(Scripts::Enabled, &steps).await;

    let ran = report.value(1);
    assert_eq!(ran["user"]["email"], EMAIL, "{report:#?}");
    assert_eq!(ran["roles"], serde_json::json!(["user"]));
    assert_eq!(ran["csrf"].as_str().unwrap().len(), 43);
    let logout = app.at("/v1/auth/logout");
    assert_eq!(report.statuses(1, "POST", &logout), [204], "{report:#?}");
    assert_eq!(ran["cookies"], "", "the logout deleted the cookies");
    assert_eq!(active_sessions(app, ada).await, 0);
}
