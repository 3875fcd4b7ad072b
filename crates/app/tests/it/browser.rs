//! Real-browser tests: Debian's headless Chromium, driven by `tests/browser/driver.mjs`
//! (playwright-core), against an authd at `http://localhost:<port>` and small pages this
//! test serves from other origins. The driver only performs the steps a test gives it and
//! reports what the browser saw; the tests decide what to do and what to expect. The tests
//! at the bottom check the harness itself, so that a browser that never ran cannot pass.

mod cookies;
mod pages;

use crate::server::{Inbox, TestApp};
use auth_testing::TestDatabase;
use axum::response::Html;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

/// Debian's Chromium; the driver never downloads a browser of its own.
const CHROMIUM: &str = "/usr/bin/chromium";

/// How long one driver run may take (a run of a dozen steps takes about 3 s).
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// The driver's directory: `driver.mjs`, its package files and `node_modules`.
fn driver_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Whether Chromium and the driver's packages are installed; without them a test says it
/// is skipped (a failure under `CI=true`) and returns early.
pub fn available() -> bool {
    let chromium = std::path::Path::new(CHROMIUM).exists();
    let driver = driver_dir().join("node_modules/playwright-core").is_dir();
    if chromium && driver {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "Chromium ({chromium}) and playwright-core ({driver}) must be installed under CI (.ci/run installs them)"
    );
    eprintln!(
        "skipped: Chromium ({CHROMIUM}) or playwright-core (npm ci --prefix crates/app/tests/browser) is missing, so this browser test did not run"
    );
    false
}

/// One browser action; `driver.mjs` lists what each returns.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Opens the URL; returns the main response's `status` and the final `url`.
    Goto(String),
    /// Types `value` into the field `selector` matches.
    Fill { selector: String, value: String },
    /// Clicks `selector` and waits for the navigation; returns `status` and `url`.
    Submit(String),
    /// Waits until the tab is at a URL starting with this (a self-submitting form).
    WaitForUrl(String),
    /// Evaluates a JavaScript expression in the page (promises are awaited); returns
    /// `value`. Works with the page's own scripts disabled.
    Eval(String),
    /// Returns the page's `url`, `title`, visible `text` and `html`.
    ReadPage,
    /// Returns the profile's `cookies` (name, value, httpOnly, sameSite, …).
    Cookies,
    /// Saves a PNG of the page as `<name>.png`; returns its `path`.
    Screenshot(String),
    /// Sets the viewport, 800×600 at first.
    Resize { width: u32, height: u32 },
}

impl Step {
    pub fn goto(url: impl Into<String>) -> Step {
        Step::Goto(url.into())
    }

    pub fn fill(selector: &str, value: &str) -> Step {
        Step::Fill {
            selector: selector.to_owned(),
            value: value.to_owned(),
        }
    }

    pub fn eval(expression: impl Into<String>) -> Step {
        Step::Eval(expression.into())
    }
}

/// Whether the page's own scripts run (`eval` steps run either way).
#[derive(Clone, Copy, PartialEq)]
pub enum Scripts {
    Enabled,
    Disabled,
}

/// What the browser saw in one run.
#[derive(Deserialize, Debug)]
pub struct Report {
    /// One result per step, in order.
    pub steps: Vec<Value>,
    error: Option<String>,
    /// Console messages, the page's own and the browser's (CSP violations among them).
    pub console: Vec<ConsoleMessage>,
    /// Uncaught exceptions in the page.
    pub page_errors: Vec<String>,
    /// Requests that got no response at all (refused, blocked, aborted).
    pub request_failed: Vec<Value>,
    /// Every response the tab received, in order.
    pub responses: Vec<Seen>,
    /// Where the screenshots are, removed with the report.
    #[serde(skip)]
    _screenshots: Option<TempDir>,
}

#[derive(Deserialize, Debug)]
pub struct ConsoleMessage {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
    /// The page or resource it is about, when the browser says.
    pub url: String,
}

/// A response as the network saw it, whether or not the page could read it (CORS).
#[derive(Deserialize, Debug)]
pub struct Seen {
    pub method: String,
    pub url: String,
    pub status: u16,
    /// The index of the step that sent the request.
    pub step: usize,
}

impl Report {
    /// The `value` an `Eval` step returned.
    pub fn value(&self, step: usize) -> &Value {
        &self.steps[step]["value"]
    }

    /// The statuses of the responses to `method url` whose requests step `step` sent.
    pub fn statuses(&self, step: usize, method: &str, url: &str) -> Vec<u16> {
        self.responses
            .iter()
            .filter(|seen| seen.step == step && seen.method == method && seen.url == url)
            .map(|seen| seen.status)
            .collect()
    }

    /// The console messages that report a Content-Security-Policy violation.
    pub fn csp_violations(&self) -> Vec<&str> {
        self.console
            .iter()
            .filter(|message| message.kind == "error")
            .map(|message| message.text.as_str())
            .filter(|text| text.contains("Content Security Policy"))
            .collect()
    }
}

/// Runs `steps` in a fresh browser profile and returns what it saw; panics, with the
/// report, when a step fails. Screenshots go to a directory that lives as long as the
/// report (see [`keep_screenshots`]).
pub async fn run(scripts: Scripts, steps: &[Step]) -> Report {
    let screenshots = tempfile::tempdir().unwrap();
    let request = serde_json::json!({
        "javascript": scripts == Scripts::Enabled,
        "screenshots": screenshots.path(),
        "steps": steps,
    });
    let mut child = Command::new("node")
        .arg(driver_dir().join("driver.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs (it is needed for the browser tests)");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(request.to_string().as_bytes()).unwrap();
    drop(stdin);
    let mut stdout = child.stdout.take().unwrap();
    let output = tokio::task::spawn_blocking(move || {
        let mut output = String::new();
        stdout.read_to_string(&mut output).map(|_| output)
    });
    let output = match tokio::time::timeout(RUN_TIMEOUT, output).await {
        Ok(output) => output.unwrap().unwrap(),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the browser driver did not finish within {RUN_TIMEOUT:?}");
        }
    };
    let status = child.wait().unwrap();
    let mut report: Report = serde_json::from_str(&output)
        .unwrap_or_else(|_| panic!("the driver ({status}) answers JSON: {output:?}"));
    if let Some(error) = &report.error {
        panic!("the browser run failed at {error}; what it saw: {report:#?}");
    }
    report._screenshots = Some(screenshots);
    report
}

/// Copies the screenshots of `report` to the directory `AUTHD_SCREENSHOTS` names, if set
/// (docs/screenshots/README.md). A relative path would be taken from `crates/app`, where
/// cargo runs the tests, so it must be absolute.
pub fn keep_screenshots(report: &Report) {
    let Some(directory) = std::env::var_os("AUTHD_SCREENSHOTS") else {
        return;
    };
    let directory = PathBuf::from(directory);
    assert!(
        directory.is_absolute(),
        "AUTHD_SCREENSHOTS must be absolute"
    );
    std::fs::create_dir_all(&directory).unwrap();
    for path in report.steps.iter().filter_map(|step| step["path"].as_str()) {
        let path = std::path::Path::new(path);
        std::fs::copy(path, directory.join(path.file_name().unwrap())).unwrap();
    }
}

/// A small web server of fixed pages at `http://<host>:<port>`, as another site would
/// serve them. Dropping it stops the server.
pub struct PageServer {
    /// `http://<host>:<port>`, no trailing slash.
    pub origin: String,
    task: tokio::task::JoinHandle<()>,
}

impl PageServer {
    /// Serves each `(path, html)` of `pages`; `host` is `localhost` or `127.0.0.1` (the
    /// server listens on 127.0.0.1 either way, only the browser's idea of the site
    /// differs).
    pub async fn start(host: &str, pages: Vec<(&'static str, String)>) -> PageServer {
        let mut router = axum::Router::new();
        for (path, html) in pages {
            router = router.route(path, axum::routing::get(move || async { Html(html) }));
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        PageServer {
            origin: format!("http://{host}:{port}"),
            task,
        }
    }

    /// The absolute URL of `path` here.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A page of another origin with `call(method, path, {json, csrf})`: authd's API called
/// the way a web app calls it, with `fetch` and `credentials: "include"`. It resolves to
/// `{status, body}`, or `{status: null, error}` when the browser withholds the answer
/// (CORS).
pub fn caller_page(authd: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>caller</title>
<script>
async function call(method, path, {{ json, csrf }} = {{}}) {{
  const headers = {{}};
  if (json !== undefined) headers["Content-Type"] = "application/json";
  if (csrf !== undefined) headers["X-CSRF-Token"] = csrf;
  const body = json === undefined ? undefined : JSON.stringify(json);
  try {{
    const response = await fetch("{authd}" + path, {{ method, headers, body, credentials: "include" }});
    const text = await response.text();
    let parsed = null;
    try {{ parsed = JSON.parse(text); }} catch {{}}
    return {{ status: response.status, body: parsed }};
  }} catch (error) {{
    return {{ status: null, error: String(error) }};
  }}
}}
</script></head>
<body><h1>caller</h1></body></html>"#
    )
}

/// authd at `http://localhost:<port>` (its `AUTHD_PUBLIC_URL`, mailing into `inbox`),
/// with the three other sites of the browser tests: `app`, a cross-origin, same-site page
/// listed in `CORS_ALLOWED_ORIGINS`; `evil`, same-site but not listed (the browser sends
/// authd's cookie, authd must refuse); `cross_site`, at `127.0.0.1` (the browser does not
/// even send the cookie). Each serves [`caller_page`] at `/` and, at `/forge`, a form that
/// posts itself to `/v1/auth/logout-all` as soon as it loads.
pub struct BrowserApp {
    app: TestApp,
    /// `http://localhost:<port>`.
    pub authd: String,
    pub inbox: Inbox,
    pub app_page: PageServer,
    pub evil: PageServer,
    pub cross_site: PageServer,
    _database: TestDatabase,
}

impl std::ops::Deref for BrowserApp {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl BrowserApp {
    pub async fn open(database: TestDatabase) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authd = format!("http://localhost:{}", listener.local_addr().unwrap().port());
        let site = |host: &'static str| {
            let pages = vec![("/", caller_page(&authd)), ("/forge", forged_form(&authd))];
            PageServer::start(host, pages)
        };
        let (app_page, evil, cross_site) = (
            site("localhost").await,
            site("localhost").await,
            site("127.0.0.1").await,
        );
        let inbox = Inbox::new();
        let vars = [
            ("AUTHD_PUBLIC_URL", authd.as_str()),
            ("CORS_ALLOWED_ORIGINS", app_page.origin.as_str()),
            ("MAIL_TRANSPORT", &inbox.transport()),
        ];
        let prefix = uuid::Uuid::new_v4().to_string();
        let app = TestApp::serve(listener, database.url(), &vars, &prefix).await;
        Self {
            app,
            authd,
            inbox,
            app_page,
            evil,
            cross_site,
            _database: database,
        }
    }

    /// The absolute URL of `path` at authd, as the browser knows it.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.authd)
    }
}

/// A page that posts an HTML form to authd's `/v1/auth/logout-all` once loaded: the classic
/// cross-site request forgery, which needs no script on authd's side to read anything.
fn forged_form(authd: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>win a prize</title></head>
<body><form id="forged" method="post" action="{authd}/v1/auth/logout-all">
<input type="hidden" name="prize" value="yes"></form>
<script>addEventListener("load", () => document.getElementById("forged").submit());</script>
</body></html>"#
    )
}

/// The harness checked on its own, against pages served here only.
mod tests {
    use super::*;

    /// A page whose script writes 42 where the markup says "static", with an inline style
    /// its CSP refuses and an image from a port nothing listens on.
    const SELF_TEST_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>self-test</title>
<meta http-equiv="Content-Security-Policy" content="style-src 'self'">
<style>p { color: red; }</style></head>
<body><p id="out">static</p><img alt="" src="http://localhost:9/missing.png">
<script>document.getElementById("out").textContent = String(6 * 7);</script>
</body></html>"#;

    /// The width in a PNG's IHDR chunk, after checking the signature.
    fn png_width(path: &str) -> u32 {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{path} is a PNG");
        u32::from_be_bytes(bytes[16..20].try_into().unwrap())
    }

    #[tokio::test]
    async fn the_browser_runs_the_pages_script_only_when_enabled_and_takes_screenshots() {
        if !available() {
            return;
        }
        let site = PageServer::start("localhost", vec![("/", SELF_TEST_PAGE.to_owned())]).await;
        let steps = [
            Step::goto(site.url("/")),
            Step::ReadPage,
            Step::eval("navigator.userAgent"),
            Step::Screenshot("harness-self-test".to_owned()),
            Step::Resize {
                width: 320,
                height: 640,
            },
            Step::eval("[window.innerWidth, window.innerHeight]"),
        ];
        let report = run(Scripts::Enabled, &steps).await;
        assert_eq!(report.steps[0]["status"], 200);
        assert_eq!(report.steps[1]["title"], "self-test");
        assert_eq!(report.steps[1]["text"], "42", "{report:#?}");
        let agent = report.value(2).as_str().unwrap();
        assert!(agent.contains("HeadlessChrome"), "{agent}");
        let screenshot = report.steps[3]["path"].as_str().unwrap();
        assert_eq!(png_width(screenshot), 800);
        assert_eq!(report.value(5), &serde_json::json!([320, 640]));
        assert_eq!(report.statuses(0, "GET", &site.url("/")), [200]);

        let report = run(Scripts::Disabled, &steps[..2]).await;
        assert_eq!(report.steps[1]["text"], "static", "{report:#?}");
    }

    #[tokio::test]
    async fn csp_violations_and_failed_requests_are_reported() {
        if !available() {
            return;
        }
        let site = PageServer::start("localhost", vec![("/", SELF_TEST_PAGE.to_owned())]).await;
        let report = run(Scripts::Disabled, &[Step::goto(site.url("/"))]).await;
        let violations = report.csp_violations();
        assert_eq!(violations.len(), 1, "{report:#?}");
        assert!(violations[0].contains("style-src 'self'"));
        assert_eq!(report.request_failed.len(), 1, "{report:#?}");
        assert_eq!(
            report.request_failed[0]["url"],
            "http://localhost:9/missing.png"
        );
    }

    #[tokio::test]
    async fn a_caller_page_sees_what_cors_lets_it_see() {
        if !available() {
            return;
        }
        // The other site allows no origin: the network sees its answer, the page does not.
        let other = PageServer::start("localhost", vec![("/data", "yes".to_owned())]).await;
        let page = caller_page(&other.origin);
        let caller = PageServer::start("localhost", vec![("/", page)]).await;
        let steps = [
            Step::goto(caller.url("/")),
            Step::eval("call('GET', '/data')"),
        ];
        let report = run(Scripts::Enabled, &steps).await;
        assert_eq!(report.value(1)["status"], Value::Null, "{report:#?}");
        let error = report.value(1)["error"].as_str().unwrap();
        assert!(error.contains("Failed to fetch"), "{error}");
        assert_eq!(report.statuses(1, "GET", &other.url("/data")), [200]);
    }
}
