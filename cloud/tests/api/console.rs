//! The operators' console over HTTP: sign-in with and without a second factor, CSRF refusals
//! that change nothing, the security headers on every route, templates without inline script,
//! tenants kept apart and roles checked.

use reqwest::header::{HeaderMap, SET_COOKIE};
use uuid::Uuid;

use hotspot_cloud::api::secrets::SecretsKey;
use hotspot_cloud::api::totp;
use hotspot_cloud::console;

use crate::helpers::TEST_SECRETS_KEY;
use crate::operators::{Api, PASSWORD, hotspot_package};

/// A browser without JavaScript: no redirects followed, cookies kept by hand.
pub(crate) struct Browser {
    pub(crate) http: reqwest::Client,
    base: String,
    pub(crate) cookies: Vec<(String, String)>,
}

pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value of the first `csrf` hidden field.
    pub(crate) fn csrf(&self) -> String {
        self.body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no csrf field in {}", self.body))
            .to_owned()
    }

    pub(crate) fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
}

impl Browser {
    pub(crate) fn new(api: &Api) -> Self {
        Self::at(&api.app)
    }

    /// A browser of the console of `app`.
    pub(crate) fn at(app: &crate::helpers::TestApp) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.url(""),
            cookies: Vec::new(),
        }
    }

    pub(crate) fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn keep(&mut self, resp: reqwest::Response) -> Page {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        for c in headers.get_all(SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !attrs.contains("Max-Age=0") {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
        let body = resp.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Page {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(resp).await
    }

    pub(crate) async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_with(path, form, &[]).await
    }

    pub(crate) async fn post_with(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(form));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        self.keep(resp).await
    }

    /// Signs in with the password (no second factor) and lands on the dashboard.
    pub(crate) async fn sign_in(&mut self, email: &str) {
        let form = self.get("/console/signin").await;
        let csrf = form.csrf();
        let done = self
            .post(
                "/console/signin",
                &[("csrf", &csrf), ("email", email), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(
            (done.status, done.location()),
            (303, "/console/"),
            "{}",
            done.body
        );
    }
}

fn encode(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn sessions_of(api: &Api, user: Uuid) -> i64 {
    api.owner
        .query_one(
            "SELECT count(*) FROM console_sessions WHERE user_id = $1",
            &[&user],
        )
        .await
        .unwrap()
        .get(0)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn sign_in_with_a_password_sets_a_strict_session_cookie_and_signs_out() {
    let api = Api::new().await;
    let user = api.user(api.a, "owner@a.test", &["tenant_admin"]).await;
    let mut b = Browser::new(&api);

    // Not signed in: every page sends the browser to sign in.
    let dash = b.get("/console/").await;
    assert_eq!((dash.status, dash.location()), (303, "/console/signin"));

    let form = b.get("/console/signin").await;
    assert_eq!(form.status, 200);
    let pre = form.set_cookies();
    assert!(
        pre.iter().any(|c| c.starts_with("hs_console_pre=")
            && c.contains("HttpOnly")
            && c.contains("SameSite=Strict")
            && c.contains("Secure")),
        "{pre:?}"
    );
    let csrf = form.csrf();

    // A wrong password: the form again with its message, 401, no session.
    let wrong = b
        .post(
            "/console/signin",
            &[
                ("csrf", &csrf),
                ("email", "owner@a.test"),
                ("password", "nope"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Wrong e-mail address or password."));
    assert!(wrong.body.contains("value=\"owner@a.test\""));
    assert_eq!(sessions_of(&api, user).await, 0);

    let ok = b
        .post(
            "/console/signin",
            &[
                ("csrf", &csrf),
                ("email", "owner@a.test"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!((ok.status, ok.location()), (303, "/console/"));
    let session = ok
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("hs_console="))
        .expect("a session cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/console"] {
        assert!(session.contains(attr), "{session} lacks {attr}");
    }
    // Only the hash of the id is stored.
    let secret = b.cookie("hs_console").unwrap();
    let stored: Vec<u8> = api
        .owner
        .query_one(
            "SELECT session_hash FROM console_sessions WHERE user_id = $1",
            &[&user],
        )
        .await
        .unwrap()
        .get(0);
    assert_ne!(stored, secret.as_bytes());
    assert_eq!(stored.len(), 32);

    let dash = b.get("/console/").await;
    assert_eq!(dash.status, 200, "{}", dash.body);
    assert!(dash.body.contains("Cafe t1"));
    assert!(dash.body.contains("id=\"revenue-today\""));

    // Signed in, the sign-in page goes to the dashboard.
    assert_eq!(b.get("/console/signin").await.location(), "/console/");

    let csrf = dash.csrf();
    let out = b.post("/console/signout", &[("csrf", &csrf)]).await;
    assert_eq!((out.status, out.location()), (303, "/console/signin"));
    assert_eq!(sessions_of(&api, user).await, 0);
    // The old cookie opens nothing any more.
    let mut old = Browser::new(&api);
    old.cookies.push(("hs_console".into(), secret));
    assert_eq!(old.get("/console/").await.location(), "/console/signin");
}

#[tokio::test]
async fn an_enrolled_second_factor_is_asked_for_before_any_page() {
    let api = Api::new().await;
    let user = api.user(api.a, "mfa@a.test", &["support_agent"]).await;
    let seed = b"console-totp-seed-20";
    let sealed = SecretsKey::from_bytes(TEST_SECRETS_KEY).seal("users.mfa_secret", seed);
    api.owner
        .execute(
            "UPDATE users SET mfa_secret = $2, mfa_enabled = true WHERE id = $1",
            &[&user, &sealed],
        )
        .await
        .unwrap();
    let mut b = Browser::new(&api);
    let csrf = b.get("/console/signin").await.csrf();
    let step = b
        .post(
            "/console/signin",
            &[
                ("csrf", &csrf),
                ("email", "mfa@a.test"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        (step.status, step.location()),
        (303, "/console/signin/code")
    );
    let pending = b.cookie("hs_console").unwrap();
    // The half-signed-in session opens no page.
    let dash = b.get("/console/").await;
    assert_eq!(
        (dash.status, dash.location()),
        (303, "/console/signin/code")
    );

    let code_form = b.get("/console/signin/code").await;
    assert_eq!(code_form.status, 200);
    let csrf = code_form.csrf();
    let wrong = if totp::code_at(seed, now()) == "000000" {
        "111111"
    } else {
        "000000"
    };
    // A code that is one step off either way is still right: make the wrong one far off.
    let wrong = if [now() - 30, now(), now() + 30]
        .iter()
        .any(|t| totp::code_at(seed, *t) == wrong)
    {
        "999999"
    } else {
        wrong
    };
    let refused = b
        .post("/console/signin/code", &[("csrf", &csrf), ("code", wrong)])
        .await;
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("Wrong or expired code."));
    let code = totp::code_at(seed, now());
    let done = b
        .post("/console/signin/code", &[("csrf", &csrf), ("code", &code)])
        .await;
    assert_eq!((done.status, done.location()), (303, "/console/"));
    let full = b.cookie("hs_console").unwrap();
    assert_ne!(full, pending, "a completed sign-in gets a new session id");
    assert_eq!(sessions_of(&api, user).await, 1);
    let dash = b.get("/console/").await;
    assert_eq!(dash.status, 200);
    // A support agent sees money (the API's Finance set).
    assert!(dash.body.contains("id=\"revenue-today\""));
}

/// A 6-digit code that is none of `seed`'s codes within the step of drift the check allows.
fn wrong_code(seed: &[u8]) -> String {
    let t = now();
    let near: Vec<String> = [t - 60, t - 30, t, t + 30, t + 60]
        .iter()
        .map(|s| totp::code_at(seed, *s))
        .collect();
    ["000000", "111111", "999999", "123456"]
        .into_iter()
        .find(|c| !near.iter().any(|n| n == c))
        .unwrap()
        .to_owned()
}

/// `users.mfa_enabled` and the opened `users.mfa_secret` of `user`.
async fn second_factor(api: &Api, user: Uuid) -> (bool, Option<Vec<u8>>) {
    let row = api
        .owner
        .query_one(
            "SELECT coalesce(mfa_enabled, false), mfa_secret FROM users WHERE id = $1",
            &[&user],
        )
        .await
        .unwrap();
    let sealed: Option<String> = row.get(1);
    let seed = sealed.map(|s| {
        SecretsKey::from_bytes(TEST_SECRETS_KEY)
            .open("users.mfa_secret", &s)
            .unwrap()
    });
    (row.get(0), seed)
}

/// The text of the element with `id` (no nested elements).
fn element_text(body: &str, id: &str) -> String {
    let start = body
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {body}"));
    let rest = &body[start..];
    let open = rest.find('>').unwrap() + 1;
    let close = rest[open..].find('<').unwrap() + open;
    rest[open..close].to_owned()
}

#[tokio::test]
async fn the_account_page_enrols_a_second_factor_with_a_qr_code_and_turns_it_off() {
    let api = Api::new().await;
    // A read-only role: the account page is for every signed-in user.
    let user = api.user(api.a, "tech@a.test", &["field_tech"]).await;
    let mut b = Browser::new(&api);
    b.sign_in("tech@a.test").await;

    let dash = b.get("/console/").await;
    assert!(
        dash.body.contains("href=\"/console/account\""),
        "linked from the header"
    );
    let page = b.get("/console/account").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("tech@a.test") && page.body.contains("field_tech"));
    assert_eq!(element_text(&page.body, "mfa-state"), "Off");
    assert!(page.body.contains("id=\"mfa-start\"") && !page.body.contains("mfa-secret"));
    let csrf = page.csrf();

    // Nothing happens without the form's token; confirming or turning off what is not there
    // is refused.
    assert_eq!(b.post("/console/account/mfa", &[]).await.status, 403);
    assert_eq!(second_factor(&api, user).await, (false, None));
    let early = b
        .post(
            "/console/account/mfa/confirm",
            &[("csrf", &csrf), ("code", "123456")],
        )
        .await;
    assert_eq!(early.status, 409);
    assert!(early.body.contains("Start the setup first."));
    let early = b
        .post(
            "/console/account/mfa/disable",
            &[("csrf", &csrf), ("code", "123456")],
        )
        .await;
    assert_eq!(early.status, 409);
    assert!(early.body.contains("Two-step sign-in is not on."));
    assert_eq!(second_factor(&api, user).await, (false, None));

    // Started: a seed stored sealed, not yet enabled, shown as a QR code of its otpauth URI and
    // as base32 text.
    let started = b.post("/console/account/mfa", &[("csrf", &csrf)]).await;
    assert_eq!(
        (started.status, started.location()),
        (303, "/console/account")
    );
    let (enabled, seed) = second_factor(&api, user).await;
    let seed = seed.expect("a seed stored");
    assert!(!enabled);
    assert_eq!(seed.len(), 20);
    let page = b.get("/console/account").await;
    assert_eq!(page.status, 200);
    let shown = element_text(&page.body, "mfa-secret");
    assert_eq!(
        crate::operators::base32_decode(&shown.replace(' ', "")),
        seed
    );
    let uri = format!(
        "otpauth://totp/Hotspot:tech@a.test?secret={}&issuer=Hotspot&digits=6&period=30",
        totp::base32(&seed)
    );
    let label = console::i18n::lookup(console::i18n::Lang::En, "acct.qr").unwrap();
    let qr = console::qr::svg(&uri, 200, label).unwrap();
    assert!(page.body.contains(&qr), "the QR code of {uri}");
    // Still off: sign-in asks no code yet.
    let mut other = Browser::new(&api);
    other.sign_in("tech@a.test").await;

    // A wrong code: a clear error, nothing enabled, the same seed still shown.
    let wrong = wrong_code(&seed);
    let refused = b
        .post(
            "/console/account/mfa/confirm",
            &[("csrf", &csrf), ("code", &wrong)],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused
            .body
            .contains("Wrong or expired code: nothing was changed.")
    );
    assert!(refused.body.contains(&qr));
    assert_eq!(second_factor(&api, user).await, (false, Some(seed.clone())));
    let refused = b
        .post(
            "/console/account/mfa/confirm",
            &[("csrf", &csrf), ("code", "")],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(second_factor(&api, user).await, (false, Some(seed.clone())));

    // The right code turns it on; the page says so and no longer shows the seed.
    let code = totp::code_at(&seed, now());
    let on = b
        .post(
            "/console/account/mfa/confirm",
            &[("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert_eq!(on.status, 200, "{}", on.body);
    assert_eq!(second_factor(&api, user).await, (true, Some(seed.clone())));
    // Its ten recovery codes are shown on that answer only.
    assert_eq!(recovery_codes(&on.body).len(), 10);
    assert!(
        !b.get("/console/account")
            .await
            .body
            .contains("recovery-codes")
    );
    let page = on;
    assert!(
        page.body
            .contains("Two-step sign-in is on: signing in now asks for a code.")
    );
    assert_eq!(element_text(&page.body, "mfa-state"), "On");
    assert!(!page.body.contains("mfa-secret") && !page.body.contains("<svg"));
    assert!(!page.body.contains(&totp::base32(&seed)[..8]));
    assert!(page.body.contains("id=\"mfa-disable\"") && !page.body.contains("id=\"mfa-start\""));

    // Enrolling again while it is on is refused (409, as the API), the seed kept.
    let again = b.post("/console/account/mfa", &[("csrf", &csrf)]).await;
    assert_eq!(again.status, 409);
    assert!(again.body.contains("Two-step sign-in is already on."));
    assert_eq!(second_factor(&api, user).await, (true, Some(seed.clone())));

    // Signing in now takes the code.
    let mut fresh = Browser::new(&api);
    let form = fresh.get("/console/signin").await.csrf();
    let step = fresh
        .post(
            "/console/signin",
            &[
                ("csrf", &form),
                ("email", "tech@a.test"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(step.location(), "/console/signin/code");
    let form = fresh.get("/console/signin/code").await.csrf();
    let done = fresh
        .post(
            "/console/signin/code",
            &[("csrf", &form), ("code", &totp::code_at(&seed, now()))],
        )
        .await;
    assert_eq!(done.location(), "/console/");

    // Turning it off takes a current code: a wrong one changes nothing.
    let refused = b
        .post(
            "/console/account/mfa/disable",
            &[("csrf", &csrf), ("code", &wrong)],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused
            .body
            .contains("Wrong or expired code: nothing was changed.")
    );
    assert_eq!(second_factor(&api, user).await, (true, Some(seed.clone())));
    let code = totp::code_at(&seed, now());
    let off = b
        .post(
            "/console/account/mfa/disable",
            &[("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert_eq!(
        (off.status, off.location()),
        (303, "/console/account?m=off")
    );
    assert_eq!(second_factor(&api, user).await, (false, None));
    let page = b.get("/console/account?m=off").await;
    assert!(page.body.contains("Two-step sign-in is off."));
    assert!(page.body.contains("id=\"mfa-start\""));
    // And sign-in takes the password alone again.
    Browser::new(&api).sign_in("tech@a.test").await;
}

/// The recovery codes a page shows (`#recovery-codes`), in order.
fn recovery_codes(body: &str) -> Vec<String> {
    let Some(start) = body.find("id=\"recovery-codes\"") else {
        return Vec::new();
    };
    let list = &body[start..];
    let list = &list[..list.find("</ol>").unwrap()];
    list.split("<li>")
        .skip(1)
        .map(|li| li.split("</li>").next().unwrap().to_owned())
        .collect()
}

/// A browser at the code step of `email`'s sign-in (the password taken).
async fn at_code_step(api: &Api, email: &str) -> (Browser, String) {
    let mut b = Browser::new(api);
    let csrf = b.get("/console/signin").await.csrf();
    let step = b
        .post(
            "/console/signin",
            &[("csrf", &csrf), ("email", email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(step.location(), "/console/signin/code");
    let csrf = b.get("/console/signin/code").await.csrf();
    (b, csrf)
}

async fn codes_left(api: &Api, user: Uuid) -> i64 {
    api.owner
        .query_one(
            "SELECT count(*) FROM user_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
            &[&user],
        )
        .await
        .unwrap()
        .get(0)
}

/// Turns on `user`'s second factor through the account page of `b` (signed in as them):
/// its seed and the recovery codes shown.
async fn enrol(api: &Api, b: &mut Browser, user: Uuid) -> (Vec<u8>, Vec<String>) {
    let csrf = b.get("/console/account").await.csrf();
    b.post("/console/account/mfa", &[("csrf", &csrf)]).await;
    let (_, seed) = second_factor(api, user).await;
    let seed = seed.unwrap();
    let on = b
        .post(
            "/console/account/mfa/confirm",
            &[("csrf", &csrf), ("code", &totp::code_at(&seed, now()))],
        )
        .await;
    assert_eq!(on.status, 200);
    assert!(on.body.contains("id=\"codes-left\""));
    (seed, recovery_codes(&on.body))
}

#[tokio::test]
async fn wrong_recovery_codes_count_against_the_sign_in_throttle() {
    let api = Api::new().await;
    let user = api.user(api.a, "guess@a.test", &["field_tech"]).await;
    let mut b = Browser::new(&api);
    b.sign_in("guess@a.test").await;
    let (_, codes) = enrol(&api, &mut b, user).await;
    let (mut at, csrf) = at_code_step(&api, "guess@a.test").await;
    for _ in 0..hotspot_cloud::api::auth::LoginThrottle::MAX_FAILURES {
        let page = at
            .post(
                "/console/signin/code",
                &[("csrf", &csrf), ("code", "AAAA-BBBB-CCCC-DDDD")],
            )
            .await;
        assert_eq!(page.status, 401);
        assert!(page.body.contains("Wrong"), "{}", page.body);
    }
    // Closed: even a good code is refused, and not spent.
    let throttled = at
        .post(
            "/console/signin/code",
            &[("csrf", &csrf), ("code", &codes[0])],
        )
        .await;
    assert_eq!(throttled.status, 429, "{}", throttled.body);
    assert_eq!(codes_left(&api, user).await, 10);
    assert_eq!(at.get("/console/").await.location(), "/console/signin/code");
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_and_an_administrator_resets_a_lost_second_factor() {
    let api = Api::new().await;
    let user = api.user(api.a, "lost@a.test", &["support_agent"]).await;
    api.user(api.a, "boss@a.test", &["tenant_admin"]).await;
    api.user(api.a, "noc@a.test", &["noc_engineer"]).await;
    api.user(api.b, "boss@b.test", &["tenant_admin"]).await;
    let mut b = Browser::new(&api);
    b.sign_in("lost@a.test").await;
    let (seed, codes) = enrol(&api, &mut b, user).await;
    assert_eq!(codes.len(), 10);
    assert_eq!(
        codes.iter().collect::<std::collections::HashSet<_>>().len(),
        10
    );
    // Only their argon2 hashes are stored.
    let stored: Vec<String> = api
        .owner
        .query(
            "SELECT code_hash FROM user_recovery_codes WHERE user_id = $1",
            &[&user],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(stored.len(), 10);
    assert!(stored.iter().all(|h| h.starts_with("$argon2")));
    assert!(
        codes
            .iter()
            .all(|c| !stored.iter().any(|h| h.contains(&c.replace('-', ""))))
    );

    // A recovery code (typed in lower case, without dashes) signs in once, and not twice.
    let (mut first, csrf1) = at_code_step(&api, "lost@a.test").await;
    let typed = codes[0].replace('-', "").to_lowercase();
    let done = first
        .post(
            "/console/signin/code",
            &[("csrf", &csrf1), ("code", &typed)],
        )
        .await;
    assert_eq!(done.location(), "/console/", "{}", done.body);
    assert_eq!(first.get("/console/").await.status, 200);
    assert_eq!(codes_left(&api, user).await, 9);
    let (mut second, csrf2) = at_code_step(&api, "lost@a.test").await;
    let again = second
        .post(
            "/console/signin/code",
            &[("csrf", &csrf2), ("code", &codes[0])],
        )
        .await;
    assert_eq!(again.status, 401, "a spent code");
    assert_eq!(
        second.get("/console/").await.location(),
        "/console/signin/code"
    );
    // The API's sign-in takes one too, once.
    let login = |code: &str| {
        api.call(
            reqwest::Method::POST,
            "/api/v1/auth/login",
            None,
            Some(serde_json::json!({"email": "lost@a.test", "password": PASSWORD, "totp": code})),
        )
    };
    assert_eq!(login(&codes[1]).await.0, 200);
    assert_eq!(login(&codes[1]).await.0, 401);
    assert_eq!(codes_left(&api, user).await, 8);

    // New codes from the account page take a current code; the old ones stop working.
    let csrf = first.get("/console/account").await.csrf();
    let refused = first
        .post(
            "/console/account/mfa/recovery",
            &[("csrf", &csrf), ("code", &wrong_code(&seed))],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(codes_left(&api, user).await, 8);
    let fresh = first
        .post(
            "/console/account/mfa/recovery",
            &[("csrf", &csrf), ("code", &totp::code_at(&seed, now()))],
        )
        .await;
    assert_eq!(fresh.status, 200);
    let new_codes = recovery_codes(&fresh.body);
    assert_eq!(new_codes.len(), 10);
    assert_eq!(codes_left(&api, user).await, 10);
    assert_eq!(login(&codes[3]).await.0, 401, "an old code");
    assert_eq!(login(&new_codes[0]).await.0, 200);

    // Another tenant's administrator cannot reset it (404), nor a NOC engineer (403).
    let mut other = Browser::new(&api);
    other.sign_in("boss@b.test").await;
    let c = other.get("/console/settings").await.csrf();
    let path = format!("/console/settings/users/{user}/mfa-reset");
    assert_eq!(other.post(&path, &[("csrf", &c)]).await.status, 404);
    let mut noc = Browser::new(&api);
    noc.sign_in("noc@a.test").await;
    let c = noc.get("/console/").await.csrf();
    assert_eq!(noc.post(&path, &[("csrf", &c)]).await.status, 403);
    assert!(second_factor(&api, user).await.0);
    assert!(sessions_of(&api, user).await > 0);

    // The administrator resets it: no seed, no codes, signed out everywhere; the password
    // alone signs in again.
    let mut boss = Browser::new(&api);
    boss.sign_in("boss@a.test").await;
    let settings = boss.get("/console/settings").await;
    assert!(settings.body.contains(&format!("action=\"{path}\"")));
    let c = settings.csrf();
    let own = boss
        .post(
            &format!(
                "/console/settings/users/{}/mfa-reset",
                api.owner
                    .query_one("SELECT id FROM users WHERE email = 'boss@a.test'", &[])
                    .await
                    .unwrap()
                    .get::<_, Uuid>(0)
            ),
            &[("csrf", &c)],
        )
        .await;
    assert_eq!(own.status, 422, "not one's own");
    let reset = boss.post(&path, &[("csrf", &c)]).await;
    assert_eq!((reset.status, reset.location()), (303, "/console/settings"));
    assert_eq!(second_factor(&api, user).await, (false, None));
    assert_eq!(codes_left(&api, user).await, 0);
    assert_eq!(sessions_of(&api, user).await, 0);
    assert_eq!(first.get("/console/").await.location(), "/console/signin");
    let tokens: i64 = api
        .owner
        .query_one(
            "SELECT count(*) FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL",
            &[&user],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tokens, 0, "its API tokens revoked");
    Browser::new(&api).sign_in("lost@a.test").await;
}

#[tokio::test]
async fn forms_without_their_token_or_from_another_site_change_nothing() {
    let api = Api::new().await;
    let user = api.user(api.a, "csrf@a.test", &["tenant_admin"]).await;
    let mut b = Browser::new(&api);
    let csrf = b.get("/console/signin").await.csrf();
    let creds = [("email", "csrf@a.test"), ("password", PASSWORD)];

    // Sign-in: each of these is refused with 403, and no session is made.
    let forged = [("csrf", "forged"), creds[0], creds[1]];
    let right = [("csrf", csrf.as_str()), creds[0], creds[1]];
    type Fields<'a> = &'a [(&'a str, &'a str)];
    let cases: [(&str, Fields<'_>, Fields<'_>, bool); 5] = [
        ("no token", &creds, &[], false),
        ("a made-up token", &forged, &[], false),
        ("a token without its cookie", &right, &[], true),
        (
            "another origin",
            &right,
            &[("origin", "https://evil.test")],
            false,
        ),
        (
            "a cross-site fetch",
            &right,
            &[("sec-fetch-site", "cross-site")],
            false,
        ),
    ];
    for (what, form, headers, stranger) in cases {
        let refused = if stranger {
            Browser::new(&api)
                .post_with("/console/signin", form, headers)
                .await
        } else {
            b.post_with("/console/signin", form, headers).await
        };
        assert_eq!(refused.status, 403, "{what}");
        assert!(
            refused.body.contains("did not come from this console"),
            "{what}"
        );
    }
    assert_eq!(
        sessions_of(&api, user).await,
        0,
        "no refused sign-in made a session"
    );

    // Signed in: sign out everywhere without the token, or with the pre-session's token, or
    // from another origin, ends nothing.
    b.sign_in("csrf@a.test").await;
    let token = api.login("csrf@a.test").await;
    let session_csrf = b.get("/console/").await.csrf();
    assert_ne!(session_csrf, csrf);
    for (form, headers) in [
        (vec![], vec![]),
        (vec![("csrf", "x")], vec![]),
        (
            vec![("csrf", session_csrf.as_str())],
            vec![("origin", "http://evil.test")],
        ),
    ] {
        let refused = b
            .post_with("/console/signout-everywhere", &form, &headers)
            .await;
        assert_eq!(refused.status, 403);
    }
    assert_eq!(sessions_of(&api, user).await, 1);
    assert_eq!(b.get("/console/").await.status, 200);
    let (status, _) = api.get("/api/v1/auth/me", &token).await;
    assert_eq!(status, 200);

    // With its token and our own origin, it works: every console session and API token ends.
    let mut second = Browser::new(&api);
    second.sign_in("csrf@a.test").await;
    assert_eq!(sessions_of(&api, user).await, 2);
    let host = api.app.url("");
    let out = b
        .post_with(
            "/console/signout-everywhere",
            &[("csrf", &session_csrf)],
            &[("origin", host.trim_end_matches('/'))],
        )
        .await;
    assert_eq!((out.status, out.location()), (303, "/console/signin"));
    assert_eq!(sessions_of(&api, user).await, 0);
    assert_eq!(second.get("/console/").await.location(), "/console/signin");
    let (status, _) = api.get("/api/v1/auth/me", &token).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn every_console_route_carries_the_security_headers() {
    let api = Api::new().await;
    api.user(api.a, "h@a.test", &["tenant_admin"]).await;
    let mut signed_in = Browser::new(&api);
    signed_in.sign_in("h@a.test").await;
    let css = console::assets::url("console");
    let mut checked = 0;
    for (method, route) in console::ROUTES.iter().copied().chain([
        ("GET", "/console/no-such-page"),
        ("GET", "/console/assets/old.css"),
    ]) {
        let path = route
            .replace("/console/assets/{name}", &css)
            .replace("{id}", &Uuid::new_v4().to_string());
        assert!(
            !path.contains('{'),
            "{path}: a parameter the test does not fill"
        );
        for b in [&mut Browser::new(&api), &mut signed_in] {
            let page = if method == "GET" {
                b.get(&path).await
            } else {
                b.post(&path, &[]).await
            };
            let h = |name: &str| {
                page.headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned()
            };
            assert_eq!(
                h("content-security-policy"),
                console::CSP,
                "{method} {path}"
            );
            assert!(console::CSP.contains("script-src 'self'"));
            assert!(console::CSP.contains("frame-ancestors 'none'"));
            assert!(!console::CSP.contains("unsafe"));
            assert_eq!(h("x-content-type-options"), "nosniff", "{method} {path}");
            assert_eq!(h("x-frame-options"), "DENY", "{method} {path}");
            assert_eq!(h("referrer-policy"), "same-origin", "{method} {path}");
            if path == css {
                assert_eq!(page.status, 200);
                assert_eq!(h("cache-control"), "public, max-age=31536000, immutable");
                assert!(h("content-type").starts_with("text/css"));
            } else {
                assert_eq!(h("cache-control"), "no-store", "{method} {path}");
            }
            checked += 1;
        }
        if signed_in.cookie("hs_console").is_none() {
            // The sign-out routes end the session: sign in again for the next route.
            signed_in.sign_in("h@a.test").await;
        }
    }
    assert_eq!(checked, (console::ROUTES.len() + 2) * 2);
    // An asset under any other name (an old build's hash) is not served.
    assert_eq!(
        Browser::new(&api)
            .get("/console/assets/old.css")
            .await
            .status,
        404
    );
}

/// No template has an inline script, an inline style, an event handler attribute or a
/// `javascript:` URL: the Content-Security-Policy would block them, so none may be relied on.
#[test]
fn templates_have_no_inline_script_or_style() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/console");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap().to_lowercase();
        let name = path.display().to_string();
        files += 1;
        for piece in text.split("<script").skip(1) {
            let (tag, rest) = piece.split_once('>').expect("a closed script tag");
            assert!(tag.contains(" src="), "{name}: a script without src");
            assert!(
                rest.trim_start().starts_with("</script>"),
                "{name}: a script with inline content"
            );
        }
        assert!(!text.contains("<style"), "{name}: a style element");
        assert!(!text.contains(" style="), "{name}: a style attribute");
        assert!(!text.contains("javascript:"), "{name}: a javascript: URL");
        assert!(!text.contains("hx-on"), "{name}: an htmx inline handler");
        for word in text.split(|c: char| c.is_whitespace() || c == '<') {
            let attr = word.split('=').next().unwrap_or("");
            assert!(
                !(attr.starts_with("on")
                    && word.contains('=')
                    && attr.len() > 2
                    && attr[2..].chars().all(|c| c.is_ascii_lowercase())),
                "{name}: an event handler attribute {word}"
            );
        }
    }
    assert!(files >= 4);
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_business_and_roles_limit_what_shows() {
    let api = Api::new().await;
    api.user(api.a, "a@a.test", &["tenant_admin"]).await;
    api.user(api.b, "b@b.test", &["field_tech"]).await;
    api.user(api.a, "root@a.test", &["platform_admin"]).await;
    let mut a = Browser::new(&api);
    a.sign_in("a@a.test").await;
    let dash = a.get("/console/").await;
    assert!(dash.body.contains("Cafe t1") && !dash.body.contains("Cafe t2"));

    // A field technician of B sees B's sites but no money.
    let mut b = Browser::new(&api);
    b.sign_in("b@b.test").await;
    let dash = b.get("/console/").await;
    assert_eq!(dash.status, 200);
    assert!(dash.body.contains("Cafe t2") && !dash.body.contains("Cafe t1"));
    assert!(!dash.body.contains("revenue-today") && !dash.body.contains("KES"));

    // A's session cookie is A's: swapping in B's session shows B's, never both.
    let mut swapped = Browser::new(&api);
    swapped
        .cookies
        .push(("hs_console".into(), b.cookie("hs_console").unwrap()));
    assert!(!swapped.get("/console/").await.body.contains("Cafe t1"));

    // The platform's administrator has no tenant staff role: the dashboard is refused.
    let mut root = Browser::new(&api);
    root.sign_in("root@a.test").await;
    let refused = root.get("/console/").await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("Your role does not allow this."));
}

#[tokio::test]
async fn the_language_follows_the_switcher_then_the_browser() {
    let api = Api::new().await;
    let mut b = Browser::new(&api);
    let page = b.get("/console/signin").await;
    assert!(page.body.contains("<html lang=\"en\">") && page.body.contains("Sign in"));
    let resp = b
        .http
        .get(api.app.url("/console/signin"))
        .header("accept-language", "sw-KE,sw;q=0.9,en;q=0.5")
        .send()
        .await
        .unwrap();
    let body = resp.text().await.unwrap();
    assert!(body.contains("<html lang=\"sw\">") && body.contains("Ingia"));
    let switched = b.get("/console/lang/sw?next=/console/signin").await;
    assert_eq!(
        (switched.status, switched.location()),
        (303, "/console/signin")
    );
    assert_eq!(b.cookie("hs_lang").as_deref(), Some("sw"));
    assert!(b.get("/console/signin").await.body.contains("Nenosiri"));
    // The switcher goes back only to the console.
    let away = b.get("/console/lang/en?next=https://evil.test/").await;
    assert_eq!(away.location(), "/console/");
}

pub(crate) async fn site_id(api: &Api, tenant: Uuid) -> Uuid {
    api.owner
        .query_one(
            "SELECT id FROM hotspots WHERE tenant_id = $1 ORDER BY created_at LIMIT 1",
            &[&tenant],
        )
        .await
        .unwrap()
        .get(0)
}

async fn claim_slots(api: &Api, site: Uuid) -> i64 {
    api.owner
        .query_one(
            "SELECT count(*) FROM hotspot_devices WHERE hotspot_id = $1 AND claim_code_hash IS NOT NULL",
            &[&site],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn sites_are_listed_created_with_a_claim_code_and_qr_and_kept_to_their_tenant() {
    let api = Api::new().await;
    api.user(api.a, "noc@a.test", &["noc_engineer"]).await;
    api.user(api.b, "noc@b.test", &["noc_engineer"]).await;
    let mut a = Browser::new(&api);
    a.sign_in("noc@a.test").await;
    let list = a.get("/console/sites").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("Cafe t1") && !list.body.contains("Cafe t2"));
    assert!(list.body.contains("id=\"new-site\""));
    let csrf = list.csrf();

    // Bad input: the form again with the reason, nothing stored.
    let before: i64 = api
        .owner
        .query_one("SELECT count(*) FROM hotspots", &[])
        .await
        .unwrap()
        .get(0);
    let refused = a
        .post(
            "/console/sites",
            &[
                ("csrf", &csrf),
                ("name", "Kiosk"),
                ("location", "Mombasa"),
                ("ssid", &"x".repeat(40)),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("ssid"));
    let made = a
        .post(
            "/console/sites",
            &[
                ("csrf", &csrf),
                ("name", "Kiosk <b>"),
                ("location", "Mombasa"),
                ("ssid", "Kiosk-WiFi"),
            ],
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    assert!(
        made.body.contains("Kiosk &") && !made.body.contains("Kiosk <b>"),
        "names are escaped"
    );
    let code = made
        .body
        .split("id=\"claim-code\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap()
        .to_owned();
    assert!(code.len() >= 8, "{code}");
    assert!(made.body.contains("<svg") && made.body.contains(&format!("aria-label=\"{code}\"")));
    let after: i64 = api
        .owner
        .query_one("SELECT count(*) FROM hotspots", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(after, before + 1);
    let new_site: Uuid = api
        .owner
        .query_one("SELECT id FROM hotspots WHERE name = 'Kiosk <b>'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(claim_slots(&api, new_site).await, 1);

    // Another claim code for A's site, by A: works. By B, with B's own valid token: 404, nothing made.
    let site_a = site_id(&api, api.a).await;
    let slots = claim_slots(&api, site_a).await;
    let again = a
        .post(
            &format!("/console/sites/{site_a}/claim-code"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(claim_slots(&api, site_a).await, slots + 1);
    let mut b = Browser::new(&api);
    b.sign_in("noc@b.test").await;
    let b_csrf = b.get("/console/sites").await.csrf();
    let foreign = b
        .post(
            &format!("/console/sites/{site_a}/claim-code"),
            &[("csrf", &b_csrf)],
        )
        .await;
    assert_eq!(foreign.status, 404);
    assert_eq!(claim_slots(&api, site_a).await, slots + 1);
    // And B's list never shows A's sites.
    let b_list = b.get("/console/sites").await;
    assert!(!b_list.body.contains("Kiosk") && !b_list.body.contains("Cafe t1"));
}

#[tokio::test]
async fn a_read_only_role_sees_no_site_actions_and_is_refused_them() {
    let api = Api::new().await;
    api.user(api.a, "tech@a.test", &["field_tech"]).await;
    let mut b = Browser::new(&api);
    b.sign_in("tech@a.test").await;
    let list = b.get("/console/sites").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("Cafe t1"));
    assert!(!list.body.contains("id=\"new-site\""));
    assert!(!list.body.contains("/claim-code"));
    assert!(!list.body.contains("<button class=\"secondary\""));
    let csrf = list.csrf();
    let site = site_id(&api, api.a).await;
    let slots = claim_slots(&api, site).await;
    let refused = b
        .post(
            &format!("/console/sites/{site}/claim-code"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(refused.status, 403);
    let refused = b
        .post(
            "/console/sites",
            &[
                ("csrf", &csrf),
                ("name", "Nope"),
                ("location", "X"),
                ("ssid", "Nope"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(claim_slots(&api, site).await, slots);
    let n: i64 = api
        .owner
        .query_one("SELECT count(*) FROM hotspots WHERE name = 'Nope'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn the_site_list_is_paged_by_keyset() {
    let api = Api::new().await;
    api.user(api.a, "pages@a.test", &["tenant_admin"]).await;
    for i in 0..60 {
        api.owner
            .execute(
                "INSERT INTO hotspots (tenant_id, name, location, ssid) VALUES ($1, $2, 'X', 'S')",
                &[&api.a, &format!("Site {i:03}")],
            )
            .await
            .unwrap();
    }
    let mut b = Browser::new(&api);
    b.sign_in("pages@a.test").await;
    let first = b.get("/console/sites").await;
    let next = first
        .body
        .split("href=\"/console/sites?after=")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a next link")
        .to_owned();
    let rows = |body: &str| body.matches("<td><a href=\"/console/sites/").count();
    assert_eq!(rows(&first.body), 50);
    let second = b.get(&format!("/console/sites?after={next}")).await;
    assert_eq!(second.status, 200);
    assert_eq!(rows(&second.body), 11);
    assert!(second.body.contains("Site 059") && !second.body.contains("Site 000<"));
    assert!(!second.body.contains("rel=\"next\""));
    assert_eq!(b.get("/console/sites?after=garbage").await.status, 404);
}

pub(crate) async fn count(api: &Api, sql: &str, id: Uuid) -> i64 {
    api.owner.query_one(sql, &[&id]).await.unwrap().get(0)
}

#[tokio::test]
async fn vouchers_are_made_in_batches_filtered_paged_and_printed_for_their_tenant_only() {
    let api = Api::new().await;
    api.user(api.a, "desk@a.test", &["support_agent"]).await;
    api.user(api.a, "tech@a.test", &["field_tech"]).await;
    api.user(api.b, "desk@b.test", &["support_agent"]).await;
    let package = hotspot_package(&api, api.a).await;
    let site = site_id(&api, api.a).await;
    let mut a = Browser::new(&api);
    a.sign_in("desk@a.test").await;
    let list = a.get("/console/vouchers").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("id=\"new-batch\""));
    assert!(list.body.contains("One hour"));
    let csrf = list.csrf();
    let (site_s, package_s) = (site.to_string(), package.to_string());

    let refused = a
        .post(
            "/console/vouchers",
            &[
                ("csrf", &csrf),
                ("hotspot_id", &site_s),
                ("package_id", &package_s),
                ("count", "0"),
            ],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("count"));
    let made = a
        .post(
            "/console/vouchers",
            &[
                ("csrf", &csrf),
                ("hotspot_id", &site_s),
                ("package_id", &package_s),
                ("count", "3"),
                ("valid_days", "30"),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let to = made.location().to_owned();
    let batch: Uuid = to
        .strip_prefix("/console/vouchers?batch_id=")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        count(
            &api,
            "SELECT count(*) FROM hotspot_vouchers WHERE batch_id = $1",
            batch
        )
        .await,
        3
    );
    let codes: Vec<String> = api
        .owner
        .query(
            "SELECT voucher_code FROM hotspot_vouchers WHERE batch_id = $1",
            &[&batch],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let listed = a.get(&to).await;
    assert_eq!(listed.status, 200);
    for c in &codes {
        assert!(listed.body.contains(c.as_str()));
    }
    assert_eq!(listed.body.matches("<td class=\"mono\">").count(), 3);

    let a4 = a
        .get(&format!(
            "/console/vouchers/print?batch_id={batch}&layout=a4"
        ))
        .await;
    assert_eq!(a4.status, 200);
    assert!(a4.body.contains("class=\"sheet\""));
    assert_eq!(a4.body.matches("<div class=\"voucher\">").count(), 3);
    assert_eq!(a4.body.matches("class=\"qr\"").count(), 3);
    for c in &codes {
        assert!(a4.body.contains(&format!("aria-label=\"{c}\"")));
    }
    let slips = a
        .get(&format!(
            "/console/vouchers/print?batch_id={batch}&layout=slip"
        ))
        .await;
    assert!(slips.body.contains("class=\"slips\""));
    assert_eq!(slips.body.matches("<div class=\"voucher\">").count(), 3);

    // Tenant B, by URL: A's batch lists and prints nothing; a batch on A's site is refused.
    let mut b = Browser::new(&api);
    b.sign_in("desk@b.test").await;
    let b_list = b.get(&to).await;
    assert_eq!(b_list.status, 200);
    assert!(codes.iter().all(|c| !b_list.body.contains(c.as_str())));
    let b_print = b
        .get(&format!(
            "/console/vouchers/print?batch_id={batch}&layout=a4"
        ))
        .await;
    assert_eq!(b_print.body.matches("<div class=\"voucher\">").count(), 0);
    let b_csrf = b_list.csrf();
    let foreign = b
        .post(
            "/console/vouchers",
            &[
                ("csrf", &b_csrf),
                ("hotspot_id", &site_s),
                ("package_id", &package_s),
                ("count", "2"),
            ],
        )
        .await;
    assert_eq!(foreign.status, 422);
    assert_eq!(
        count(
            &api,
            "SELECT count(*) FROM hotspot_vouchers WHERE hotspot_id = $1",
            site
        )
        .await,
        4,
        "the fixture's voucher and the batch of 3, nothing of B's"
    );

    // A field technician reads the list, sees no batch form or print links, and is refused both.
    let mut t = Browser::new(&api);
    t.sign_in("tech@a.test").await;
    let t_list = t.get("/console/vouchers").await;
    assert_eq!(t_list.status, 200);
    assert!(!t_list.body.contains("id=\"new-batch\"") && !t_list.body.contains("/print?"));
    let t_csrf = t_list.csrf();
    let refused = t
        .post(
            "/console/vouchers",
            &[
                ("csrf", &t_csrf),
                ("hotspot_id", &site_s),
                ("package_id", &package_s),
                ("count", "2"),
            ],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        t.get(&format!("/console/vouchers/print?batch_id={batch}"))
            .await
            .status,
        403
    );
    assert_eq!(
        count(
            &api,
            "SELECT count(*) FROM hotspot_vouchers WHERE hotspot_id = $1",
            site
        )
        .await,
        4
    );
}

#[tokio::test]
async fn the_voucher_list_is_paged_by_keyset_and_filtered_by_status() {
    let api = Api::new().await;
    api.user(api.a, "many@a.test", &["tenant_admin"]).await;
    let package = hotspot_package(&api, api.a).await;
    let site = site_id(&api, api.a).await;
    let mut b = Browser::new(&api);
    b.sign_in("many@a.test").await;
    let csrf = b.get("/console/vouchers").await.csrf();
    let made = b
        .post(
            "/console/vouchers",
            &[
                ("csrf", &csrf),
                ("hotspot_id", &site.to_string()),
                ("package_id", &package.to_string()),
                ("count", "70"),
            ],
        )
        .await;
    let to = made.location().to_owned();
    let first = b.get(&to).await;
    assert_eq!(first.body.matches("<td class=\"mono\">").count(), 50);
    let next = first
        .body
        .split("rel=\"next\"")
        .next()
        .and_then(|before| before.rsplit("href=\"").next())
        .and_then(|href| href.split('"').next())
        .unwrap()
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    let second = b.get(&next).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body.matches("<td class=\"mono\">").count(), 20);
    assert!(!second.body.contains("rel=\"next\""));
    let used = b.get(&format!("{to}&status=used")).await;
    assert_eq!(used.body.matches("<td class=\"mono\">").count(), 0);
    assert_eq!(b.get("/console/vouchers?status=bogus").await.status, 404);
}

#[tokio::test]
async fn live_sessions_are_extended_by_support_of_their_tenant_only() {
    let api = Api::new().await;
    api.user(api.a, "desk@a.test", &["support_agent"]).await;
    api.user(api.a, "tech@a.test", &["field_tech"]).await;
    api.user(api.b, "desk@b.test", &["support_agent"]).await;
    let session: Uuid = api
        .owner
        .query_one(
            "SELECT id FROM hotspot_sessions WHERE tenant_id = $1 AND session_status = 'active' LIMIT 1",
            &[&api.a],
        )
        .await
        .unwrap()
        .get(0);
    let path = format!("/console/sessions/{session}/extend");
    let added = || async {
        let r = api
            .owner
            .query_one(
                "SELECT added_minutes, added_data_mb,
                        (SELECT count(*) FROM hotspot_session_extensions WHERE session_id = $1)
                 FROM hotspot_sessions WHERE id = $1",
                &[&session],
            )
            .await
            .unwrap();
        (r.get::<_, i32>(0), r.get::<_, i32>(1), r.get::<_, i64>(2))
    };

    // Another tenant's support agent, by URL: 404. A read-only role: no form, 403.
    let mut b = Browser::new(&api);
    b.sign_in("desk@b.test").await;
    let b_csrf = b.get("/console/sessions").await.csrf();
    let foreign = b.post(&path, &[("csrf", &b_csrf), ("minutes", "30")]).await;
    assert_eq!(foreign.status, 404);
    let mut t = Browser::new(&api);
    t.sign_in("tech@a.test").await;
    let t_list = t.get("/console/sessions").await;
    assert!(!t_list.body.contains("/extend"));
    let refused = t
        .post(&path, &[("csrf", &t_list.csrf()), ("minutes", "30")])
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(added().await, (0, 0, 0));

    // Support of A: bad amounts are refused on the list with a reason, a good one is queued.
    let mut a = Browser::new(&api);
    a.sign_in("desk@a.test").await;
    let list = a.get("/console/sessions").await;
    assert!(list.body.contains(&format!("action=\"{path}\"")));
    assert!(list.body.contains("name=\"megabytes\""));
    let csrf = list.csrf();
    for (minutes, megabytes) in [
        ("", ""),
        ("abc", ""),
        ("0", ""),
        ("30", "-1"),
        ("99999", ""),
    ] {
        let bad = a
            .post(
                &path,
                &[
                    ("csrf", &csrf),
                    ("minutes", minutes),
                    ("megabytes", megabytes),
                ],
            )
            .await;
        assert_eq!(bad.status, 422, "{minutes:?} {megabytes:?}");
        assert!(
            bad.body.contains("Give minutes (1 to 10080)"),
            "{}",
            bad.body
        );
    }
    let no_token = a.post(&path, &[("minutes", "30")]).await;
    assert_eq!(no_token.status, 403);
    assert_eq!(added().await, (0, 0, 0));
    let extended = a
        .post(
            &path,
            &[("csrf", &csrf), ("minutes", " 30 "), ("megabytes", "250")],
        )
        .await;
    assert_eq!(
        (extended.status, extended.location()),
        (303, "/console/sessions")
    );
    assert_eq!(added().await, (30, 250, 1));
    // Once over, an extension is refused with a reason.
    api.owner
        .execute(
            "UPDATE hotspot_sessions SET session_status = 'ended', end_time = now() WHERE id = $1",
            &[&session],
        )
        .await
        .unwrap();
    let over = a.post(&path, &[("csrf", &csrf), ("minutes", "30")]).await;
    assert_eq!(over.status, 409);
    assert!(over.body.contains("cannot be extended"), "{}", over.body);
    assert_eq!(added().await, (30, 250, 1));
}

#[tokio::test]
async fn live_sessions_are_kicked_and_devices_blocked_by_support_of_their_tenant_only() {
    let api = Api::new().await;
    api.user(api.a, "desk@a.test", &["support_agent"]).await;
    api.user(api.a, "tech@a.test", &["field_tech"]).await;
    api.user(api.b, "desk@b.test", &["support_agent"]).await;
    let session: Uuid = api
        .owner
        .query_one(
            "SELECT id FROM hotspot_sessions WHERE tenant_id = $1 AND session_status = 'active' LIMIT 1",
            &[&api.a],
        )
        .await
        .unwrap()
        .get(0);
    let device: Uuid = api
        .owner
        .query_one(
            "SELECT id FROM client_hotspot_access WHERE tenant_id = $1 LIMIT 1",
            &[&api.a],
        )
        .await
        .unwrap()
        .get(0);
    let status = |id: Uuid| {
        let owner = &api.owner;
        async move {
            owner
                .query_one(
                    "SELECT session_status FROM hotspot_sessions WHERE id = $1",
                    &[&id],
                )
                .await
                .unwrap()
                .get::<_, String>(0)
        }
    };
    let blocked = |id: Uuid| {
        let owner = &api.owner;
        async move {
            let r = owner
                .query_one(
                    "SELECT is_blocked, blocked_reason FROM client_hotspot_access WHERE id = $1",
                    &[&id],
                )
                .await
                .unwrap();
            (r.get::<_, bool>(0), r.get::<_, Option<String>>(1))
        }
    };
    let kicks = || async {
        count(
            &api,
            "SELECT count(*) FROM hotspot_session_kicks WHERE session_id = $1",
            session,
        )
        .await
    };

    // Another tenant's support agent, by URL: 404, nothing changes.
    let mut b = Browser::new(&api);
    b.sign_in("desk@b.test").await;
    let b_list = b.get("/console/sessions").await;
    assert!(!b_list.body.contains(&session.to_string()));
    let b_csrf = b_list.csrf();
    let foreign = b
        .post(
            &format!("/console/sessions/{session}/kick"),
            &[("csrf", &b_csrf)],
        )
        .await;
    assert_eq!(foreign.status, 404);
    let foreign = b
        .post(
            &format!("/console/devices/{device}/block"),
            &[("csrf", &b_csrf), ("reason", "not yours")],
        )
        .await;
    assert_eq!(foreign.status, 404);
    assert_eq!(status(session).await, "active");
    assert_eq!(blocked(device).await, (false, None));

    // A read-only role: sees the lists, no action, 403 on each action.
    let mut t = Browser::new(&api);
    t.sign_in("tech@a.test").await;
    let t_list = t.get("/console/sessions").await;
    assert!(t_list.body.contains("id=\"sessions\""));
    assert!(!t_list.body.contains("/kick"));
    let t_devices = t.get("/console/devices").await;
    assert!(t_devices.body.contains("id=\"devices\""));
    assert!(
        !t_devices.body.contains("/block")
            && !t_devices.body.contains("<button class=\"secondary\"")
    );
    let t_csrf = t_list.csrf();
    for path in [
        format!("/console/sessions/{session}/kick"),
        format!("/console/devices/{device}/block"),
        format!("/console/devices/{device}/unblock"),
    ] {
        let refused = t.post(&path, &[("csrf", &t_csrf), ("reason", "x")]).await;
        assert_eq!(refused.status, 403, "{path}");
    }
    assert_eq!(status(session).await, "active");
    assert_eq!(kicks().await, 0);
    assert_eq!(blocked(device).await, (false, None));

    // Support of A: kicks (queued for the router) and blocks with a reason, then unblocks.
    let mut a = Browser::new(&api);
    a.sign_in("desk@a.test").await;
    let list = a.get("/console/sessions").await;
    assert!(
        list.body
            .contains(&format!("/console/sessions/{session}/kick"))
    );
    let csrf = list.csrf();
    let kicked = a
        .post(
            &format!("/console/sessions/{session}/kick"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        (kicked.status, kicked.location()),
        (303, "/console/sessions")
    );
    assert_eq!(status(session).await, "terminated");
    assert_eq!(kicks().await, 1);
    assert!(
        !a.get("/console/sessions")
            .await
            .body
            .contains(&session.to_string())
    );

    let no_reason = a
        .post(
            &format!("/console/devices/{device}/block"),
            &[("csrf", &csrf), ("reason", " ")],
        )
        .await;
    assert_eq!(no_reason.status, 422);
    assert_eq!(blocked(device).await, (false, None));
    let done = a
        .post(
            &format!("/console/devices/{device}/block"),
            &[("csrf", &csrf), ("reason", "abuse")],
        )
        .await;
    assert_eq!((done.status, done.location()), (303, "/console/devices"));
    assert_eq!(blocked(device).await, (true, Some("abuse".to_owned())));
    let devices = a.get("/console/devices").await;
    assert!(
        devices
            .body
            .contains(&format!("/console/devices/{device}/unblock"))
    );
    let done = a
        .post(
            &format!("/console/devices/{device}/unblock"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(blocked(device).await, (false, None));
}

#[tokio::test]
async fn voucher_cards_link_to_the_portal_and_vouchers_are_revoked_and_exported() {
    let api = Api::new().await;
    api.user(api.a, "boss@a.test", &["tenant_admin"]).await;
    api.user(api.a, "tech@a.test", &["field_tech"]).await;
    api.user(api.b, "desk@b.test", &["support_agent"]).await;
    let package = hotspot_package(&api, api.a).await;
    let mut a = Browser::new(&api);
    a.sign_in("boss@a.test").await;
    let csrf = a.get("/console/sites").await.csrf();

    // A site with its portal's address; a bad address makes no site.
    let sites_before = count(
        &api,
        "SELECT count(*) FROM hotspots WHERE tenant_id = $1",
        api.a,
    )
    .await;
    for bad in ["javascript:alert(1)", "http://x y/", "ftp://portal.test/"] {
        let refused = a
            .post(
                "/console/sites",
                &[
                    ("csrf", &csrf),
                    ("name", "Kibanda"),
                    ("location", "Kisumu"),
                    ("ssid", "Kibanda WiFi"),
                    ("portal_url", bad),
                ],
            )
            .await;
        assert_eq!(refused.status, 422, "{bad}");
        assert!(refused.body.contains("portal_url"));
    }
    assert_eq!(
        count(
            &api,
            "SELECT count(*) FROM hotspots WHERE tenant_id = $1",
            api.a
        )
        .await,
        sites_before
    );
    let made = a
        .post(
            "/console/sites",
            &[
                ("csrf", &csrf),
                ("name", "Kibanda"),
                ("location", "Kisumu"),
                ("ssid", "Kibanda WiFi"),
                ("portal_url", "https://wifi.a.test/portal/"),
            ],
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let site: Uuid = api
        .owner
        .query_one(
            "SELECT id FROM hotspots WHERE tenant_id = $1 AND name = 'Kibanda'
               AND portal_url = 'https://wifi.a.test/portal/'",
            &[&api.a],
        )
        .await
        .unwrap()
        .get(0);
    let made = a
        .post(
            "/console/vouchers",
            &[
                ("csrf", &csrf),
                ("hotspot_id", &site.to_string()),
                ("package_id", &package.to_string()),
                ("count", "3"),
            ],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let list_path = made.location().to_owned();
    let batch: Uuid = list_path
        .strip_prefix("/console/vouchers?batch_id=")
        .unwrap()
        .parse()
        .unwrap();
    let vouchers: Vec<(Uuid, String)> = api
        .owner
        .query(
            "SELECT id, voucher_code FROM hotspot_vouchers WHERE batch_id = $1 ORDER BY voucher_code",
            &[&batch],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();

    // Each printed card's QR code is the site's portal link with the code filled in.
    let a4 = a
        .get(&format!("/console/vouchers/print?batch_id={batch}"))
        .await;
    assert_eq!(a4.body.matches("class=\"qr\"").count(), 3);
    for (_, code) in &vouchers {
        let link = format!("https://wifi.a.test/portal/?code={code}");
        assert_eq!(
            console::vouchers::portal_link(Some("https://wifi.a.test/portal/"), code),
            link
        );
        let qr = console::qr::svg(&link, 96, code).unwrap();
        assert!(a4.body.contains(&qr), "the card of {code} holds {link}");
        let plain = console::qr::svg(code, 96, code).unwrap();
        assert!(!a4.body.contains(&plain));
    }

    // CSV of the batch: a header and its three vouchers; B's export of A's batch is empty.
    let csv = a
        .get(&format!("/console/vouchers/export.csv?batch_id={batch}"))
        .await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(csv.body.starts_with("voucher_code,status,"));
    assert_eq!(csv.body.lines().count(), 4);
    assert!(vouchers.iter().all(|(_, c)| csv.body.contains(c.as_str())));
    let mut b = Browser::new(&api);
    b.sign_in("desk@b.test").await;
    let b_csv = b
        .get(&format!("/console/vouchers/export.csv?batch_id={batch}"))
        .await;
    assert_eq!((b_csv.status, b_csv.body.lines().count()), (200, 1));

    // Revoke: the list shows a revoke form for each unused voucher.
    let listed = a.get(&list_path).await;
    assert_eq!(listed.body.matches("/revoke\" class=\"inline\"").count(), 3);
    let revoked = |id: Uuid| {
        let api = &api;
        async move {
            api.owner
                .query_one(
                    "SELECT revoked_at IS NOT NULL FROM hotspot_vouchers WHERE id = $1",
                    &[&id],
                )
                .await
                .unwrap()
                .get::<_, bool>(0)
        }
    };
    let (first, _) = vouchers[0].clone();
    let batch_s = batch.to_string();
    let path = format!("/console/vouchers/{first}/revoke");
    // Another tenant's support and a field technician are refused, and nothing changes.
    let b_csrf = b.get("/console/vouchers").await.csrf();
    let foreign = b.post(&path, &[("csrf", &b_csrf)]).await;
    assert_eq!(foreign.status, 404);
    let mut t = Browser::new(&api);
    t.sign_in("tech@a.test").await;
    let t_list = t.get(&list_path).await;
    assert!(!t_list.body.contains("/revoke\"") && !t_list.body.contains("export.csv"));
    let t_csrf = t_list.csrf();
    assert_eq!(t.post(&path, &[("csrf", &t_csrf)]).await.status, 403);
    assert_eq!(
        t.get(&format!("/console/vouchers/export.csv?batch_id={batch}"))
            .await
            .status,
        403
    );
    assert!(!revoked(first).await);
    let done = a
        .post(&path, &[("csrf", &csrf), ("batch_id", &batch_s)])
        .await;
    assert_eq!(
        (done.status, done.location()),
        (
            303,
            format!("/console/vouchers?hotspot_id=&batch_id={batch}&status=").as_str()
        )
    );
    assert!(revoked(first).await);
    let again = a
        .post(&path, &[("csrf", &csrf), ("batch_id", &batch_s)])
        .await;
    assert_eq!(again.status, 409);
    assert!(again.body.contains("no longer unused"));
    assert_eq!(
        count(
            &api,
            "SELECT count(*) FROM hotspot_vouchers WHERE batch_id = $1 AND revoked_at IS NOT NULL",
            batch
        )
        .await,
        1
    );
    // The revoked voucher prints no more (unused only by default).
    let a4 = a
        .get(&format!("/console/vouchers/print?batch_id={batch}"))
        .await;
    assert_eq!(a4.body.matches("class=\"qr\"").count(), 2);
}

/// Adds a paid purchase with `receipt` to the tenant's first site.
pub(crate) async fn paid_purchase(api: &Api, tenant: Uuid, receipt: &str, review: Option<&str>) {
    let site = site_id(api, tenant).await;
    api.owner
        .execute(
            "INSERT INTO hotspot_purchases (tenant_id, hotspot_id, request_id, package_name,
                 amount, phone_number, client_mac, status, mpesa_receipt_number,
                 callback_token_hash, review_reason, settled_at, settled_by, voucher_id)
             VALUES ($1, $2, gen_random_uuid(), 'One hour', 20, '254722000111',
                     'aa:bb:cc:00:00:09', 'paid', $3, digest($5, 'sha256'), $4, now(),
                     'callback', (SELECT id FROM hotspot_vouchers WHERE tenant_id = $1 LIMIT 1))",
            &[&tenant, &site, &receipt, &review, &receipt],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn payments_are_listed_filtered_and_kept_to_their_tenant_and_finance_roles() {
    let api = Api::new().await;
    api.user(api.a, "money@a.test", &["support_agent"]).await;
    api.user(api.a, "noc@a.test", &["noc_engineer"]).await;
    paid_purchase(&api, api.a, "RAA1111111", Some("amount 10, expected 20")).await;
    paid_purchase(&api, api.b, "RBB2222222", None).await;
    let mut a = Browser::new(&api);
    a.sign_in("money@a.test").await;
    let dash = a.get("/console/").await;
    assert!(dash.body.contains("href=\"/console/payments\""));
    let all = a.get("/console/payments").await;
    assert_eq!(all.status, 200);
    assert!(all.body.contains("RAA1111111") && !all.body.contains("RBB2222222"));
    assert!(all.body.contains("amount 10, expected 20"));
    // The fixture's failed purchase is there too; filters narrow the list.
    assert!(all.body.contains("254711000001"));
    let paid = a.get("/console/payments?status=paid").await;
    assert!(paid.body.contains("RAA1111111") && !paid.body.contains("254711000001"));
    let failed = a.get("/console/payments?status=failed&review=").await;
    assert!(!failed.body.contains("RAA1111111") && failed.body.contains("254711000001"));
    let review = a.get("/console/payments?review=1").await;
    assert!(review.body.contains("RAA1111111") && !review.body.contains("254711000001"));
    let future = a.get("/console/payments?from=2999-01-01").await;
    assert!(future.body.contains("No payments match"));
    let since = a
        .get("/console/payments?from=2000-01-01&to=2999-01-01")
        .await;
    assert!(since.body.contains("RAA1111111"));
    let b_site = site_id(&api, api.b).await;
    let other_site = a
        .get(&format!("/console/payments?hotspot_id={b_site}"))
        .await;
    assert_eq!(other_site.status, 200);
    assert!(!other_site.body.contains("RBB2222222"));
    for bad in [
        "/console/payments?from=1/1/2026",
        "/console/payments?status=stolen",
        "/console/payments?hotspot_id=x",
    ] {
        let page = a.get(bad).await;
        assert_eq!(page.status, 422, "{bad}");
        assert!(!page.body.contains("RAA1111111"));
    }
    assert_eq!(a.get("/console/payments?after=junk").await.status, 404);
    // A NOC engineer (not a Finance role) has no payments link and is refused the page.
    let mut noc = Browser::new(&api);
    noc.sign_in("noc@a.test").await;
    assert!(
        !noc.get("/console/")
            .await
            .body
            .contains("/console/payments")
    );
    assert_eq!(noc.get("/console/payments").await.status, 403);
}

#[tokio::test]
async fn payments_are_paged_by_keyset() {
    let api = Api::new().await;
    api.user(api.a, "money@a.test", &["tenant_admin"]).await;
    for i in 0..60 {
        paid_purchase(&api, api.a, &format!("RPG{i:07}"), None).await;
    }
    let mut a = Browser::new(&api);
    a.sign_in("money@a.test").await;
    let mut seen = std::collections::HashSet::new();
    let mut path = "/console/payments?status=paid".to_owned();
    for _ in 0..5 {
        let page = a.get(&path).await;
        assert_eq!(page.status, 200);
        for piece in page.body.split("<td class=\"mono\">RPG").skip(1) {
            assert!(
                seen.insert(piece[..7].to_owned()),
                "a row shown twice: {path}"
            );
        }
        if !page.body.contains("rel=\"next\"") {
            break;
        }
        let before = page.body.split("\" rel=\"next\"").next().unwrap();
        path = before
            .rsplit("href=\"")
            .next()
            .unwrap()
            .replace("&amp;", "&")
            .replace("&#38;", "&");
    }
    assert_eq!(seen.len(), 60);
}

#[tokio::test]
async fn expired_console_sessions_are_swept() {
    let api = Api::new().await;
    let user = api.user(api.a, "old@a.test", &["tenant_admin"]).await;
    for (n, expires) in [(1u8, "-3 days"), (2, "-2 hours"), (3, "+2 hours")] {
        api.owner
            .execute(
                "INSERT INTO console_sessions (tenant_id, user_id, session_hash, expires_at)
                 VALUES ($1, $2, digest($3, 'sha256'), now() + $4::text::interval)",
                &[&api.a, &user, &format!("s{n}"), &expires],
            )
            .await
            .unwrap();
    }
    let removed = console::sweep::sweep_once(&api.app.pool).await.unwrap();
    assert_eq!(removed, 1, "only the session expired more than a day ago");
    assert_eq!(sessions_of(&api, user).await, 2);
    assert_eq!(console::sweep::sweep_once(&api.app.pool).await.unwrap(), 0);
}

/// A digest of everything of `tenant`'s that a console route could change.
pub(crate) async fn fingerprint(api: &Api, tenant: Uuid) -> String {
    api.owner
        .query_one(
            "SELECT md5(string_agg(j, '|' ORDER BY j)) FROM (
                 SELECT row_to_json(x)::text AS j FROM hotspots x WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM hotspot_vouchers x WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM hotspot_sessions x WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM client_hotspot_access x
                           WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM hotspot_devices x WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM hotspot_purchases x WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM service_packages x WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM service_package_hotspots x
                           WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM hotspot_branding x
                           WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM portal_branding x
                           WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM console_sessions x WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM nas x WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM mpesa_settings x WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM users x WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM clients x WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM wallet_transactions x
                           WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM support_tickets x WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM mpesa_c2b_payments x
                           WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM ticket_comments x WHERE tenant_id = $1
                 UNION ALL SELECT row_to_json(x)::text FROM internal_messages x
                           WHERE tenant_id = $1) s",
            &[&tenant],
        )
        .await
        .unwrap()
        .get(0)
}

/// Every route of `console::ROUTES`, asked by tenant B's administrator with A's ids in the path,
/// in the query and in the form: nothing of A's shows, every id route answers 404, and nothing
/// of A's changes. A new route taking an id fails this test until it is given A's object.
#[tokio::test]
async fn every_console_route_keeps_another_tenants_objects_out_of_reach() {
    let api = Api::new().await;
    api.user(api.a, "boss@a.test", &["tenant_admin"]).await;
    api.user(api.b, "boss@b.test", &["tenant_admin"]).await;
    paid_purchase(&api, api.a, "RAA1111111", Some("amount 10, expected 20")).await;
    let mut a = Browser::new(&api);
    a.sign_in("boss@a.test").await;
    let one = |sql: &'static str| {
        let api = &api;
        async move {
            api.owner
                .query_one(sql, &[&api.a])
                .await
                .unwrap()
                .get::<_, Uuid>(0)
        }
    };
    let a_site = site_id(&api, api.a).await;
    let a_package = hotspot_package(&api, api.a).await;
    let a_voucher =
        one("SELECT id FROM hotspot_vouchers WHERE tenant_id = $1 AND NOT is_used LIMIT 1").await;
    api.owner
        .execute(
            "UPDATE hotspot_vouchers SET batch_id = gen_random_uuid() WHERE id = $1",
            &[&a_voucher],
        )
        .await
        .unwrap();
    let a_batch =
        one("SELECT batch_id FROM hotspot_vouchers WHERE tenant_id = $1 AND batch_id IS NOT NULL")
            .await;
    let a_session = one(
        "SELECT id FROM hotspot_sessions WHERE tenant_id = $1 AND session_status = 'active' LIMIT 1",
    )
    .await;
    let a_device = one("SELECT id FROM client_hotspot_access WHERE tenant_id = $1 LIMIT 1").await;
    let a_user = api.user(api.a, "clerk@a.test", &["support_agent"]).await;
    let a_nas: i32 = api
        .owner
        .query_one(
            "INSERT INTO nas (tenant_id, nasname, shortname, secret)
             VALUES ($1, '192.0.2.77', 'nas-of-a', 'secret-of-a') RETURNING id",
            &[&api.a],
        )
        .await
        .unwrap()
        .get(0);
    let a_client = one("SELECT id FROM clients WHERE tenant_id = $1 LIMIT 1").await;
    let a_ticket = one("SELECT id FROM support_tickets WHERE tenant_id = $1 LIMIT 1").await;
    let a_purchase = one("SELECT id FROM hotspot_purchases WHERE tenant_id = $1 LIMIT 1").await;
    let a_message: Uuid = api
        .owner
        .query_one(
            "INSERT INTO internal_messages (tenant_id, sender_id, recipient_id, subject, content)
             SELECT $1, s.id, $2, 'Message of A', 'Between two of A'
             FROM users s WHERE s.tenant_id = $1 AND s.email = 'boss@a.test' RETURNING id",
            &[&api.a, &a_user],
        )
        .await
        .unwrap()
        .get(0);
    let a_c2b: Uuid = api
        .owner
        .query_one(
            "INSERT INTO mpesa_c2b_payments (tenant_id, trans_id, amount, bill_ref_number,
                 applied_to)
             VALUES ($1, 'RCUNMATCHA', 10, 'NOBODY', 'unmatched') RETURNING id",
            &[&api.a],
        )
        .await
        .unwrap()
        .get(0);
    api.owner
        .execute(
            "UPDATE support_tickets SET title = 'Outage at A' WHERE id = $1",
            &[&a_ticket],
        )
        .await
        .unwrap();
    // What A's pages show of A's business, and B's must not.
    let markers = [
        "Cafe t1",
        "Vt1",
        "RAA1111111",
        "expected 20",
        "clerk@a.test",
        "nas-of-a",
        "Client t1",
        "Outage at A",
        "C2Bt1",
        "ACC-t1",
        "Message of A",
    ];
    let a_list = a.get("/console/vouchers").await;
    assert!(a_list.body.contains("Vt1") && a_list.body.contains("Cafe t1"));
    assert!(a.get("/console/payments").await.body.contains("RAA1111111"));
    assert!(a.get("/console/clients").await.body.contains("Client t1"));
    assert!(a.get("/console/tickets").await.body.contains("Outage at A"));
    assert!(
        a.get("/console/messages")
            .await
            .body
            .contains("Message of A")
    );
    let c2b = a.get("/console/payments/c2b").await.body;
    assert!(c2b.contains("C2Bt1") && c2b.contains("ACC-t1"));
    let before = fingerprint(&api, api.a).await;

    let mut b = Browser::new(&api);
    b.sign_in("boss@b.test").await;
    let (site_s, package_s, batch_s) = (
        a_site.to_string(),
        a_package.to_string(),
        a_batch.to_string(),
    );
    let query = format!("hotspot_id={a_site}&batch_id={a_batch}&status=");
    let css = console::assets::url("console");
    let mut id_routes = 0;
    for (method, route) in console::ROUTES.iter().copied() {
        let path = if route.contains("{id}") {
            id_routes += 1;
            let id = match route.split("/{id}").next().unwrap() {
                "/console/sites" => a_site.to_string(),
                "/console/packages" => a_package.to_string(),
                "/console/vouchers" => a_voucher.to_string(),
                "/console/sessions" => a_session.to_string(),
                "/console/devices" => a_device.to_string(),
                "/console/settings/users" => a_user.to_string(),
                "/console/settings/nas" => a_nas.to_string(),
                "/console/clients" => a_client.to_string(),
                "/console/tickets" => a_ticket.to_string(),
                "/console/messages" => a_message.to_string(),
                "/console/payments" => a_purchase.to_string(),
                "/console/payments/c2b" => a_c2b.to_string(),
                other => panic!("{route}: the test knows no object of A's for {other}"),
            };
            route.replace("{id}", &id)
        } else {
            route.replace("/console/assets/{name}", &css)
        };
        let page = if method == "GET" {
            let sep = if path.contains('?') { '&' } else { '?' };
            b.get(&format!("{path}{sep}{query}")).await
        } else {
            let csrf = b.get("/console/sites").await.csrf();
            b.post(
                &path,
                &[
                    ("csrf", &csrf),
                    ("hotspot_id", &site_s),
                    ("package_id", &package_s),
                    ("site", &site_s),
                    ("batch_id", &batch_s),
                    ("count", "1"),
                    ("name", "Site of B"),
                    ("location", "Mombasa"),
                    ("ssid", "B-WiFi"),
                    ("reason", "by URL"),
                    ("role", "field_tech"),
                    ("minutes", "30"),
                    ("megabytes", "100"),
                    ("amount", "100"),
                    ("receipt", "RBYURL0001"),
                    ("content", "by URL"),
                    ("status", "closed"),
                ],
            )
            .await
        };
        assert!(page.status < 500, "{method} {path}: {}", page.status);
        for m in markers {
            assert!(
                !page.body.contains(m),
                "{method} {path} shows A's {m}: {}",
                page.body
            );
        }
        if route.contains("{id}") {
            assert_eq!(page.status, 404, "{method} {path}");
        }
        if route == "/console/vouchers" && method == "POST" {
            assert_eq!(page.status, 422, "a batch on A's site");
        }
        if b.cookie("hs_console").is_none() {
            // The sign-out routes end the session: sign in again for the next route.
            b.sign_in("boss@b.test").await;
        }
    }
    assert!(id_routes >= 5, "every id-taking route was tried");
    assert_eq!(
        fingerprint(&api, api.a).await,
        before,
        "nothing of A's changed"
    );
    // A still sees its own (the markers are real).
    assert!(a.get("/console/payments").await.body.contains("RAA1111111"));
}
