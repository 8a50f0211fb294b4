//! Headless Chromium driven through chromedriver's WebDriver API (W3C, JSON over HTTP/1.1 on
//! loopback), the way a guest's phone browser meets the portal: real HTML, real forms, the
//! `Refresh` header honoured, no JavaScript needed by the pages.
//!
//! [`Browser::start`] returns `None`, after printing why, when chromium or chromedriver is not
//! installed, so the tests that use it skip cleanly on a machine without them (the test command
//! installs both).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The element reference key of the W3C WebDriver protocol.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process with one browser session; both end on drop.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    /// The browser profile, removed after the browser has stopped.
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a phone-sized window (360×740).
    pub fn start() -> Option<Self> {
        let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let driver_bin = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let (Some(chromium), Some(driver_bin)) = (chromium, driver_bin) else {
            eprintln!("SKIPPED: chromium and chromedriver are not installed");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .ok()?;
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let profile = tempfile::tempdir().ok()?;
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--no-first-run", "--window-size=360,740",
                    format!("--user-data-dir={}", browser._profile.path().display()),
                ],
            },
        }}});
        let answer = browser.call("POST", "/session", Some(&caps));
        browser.session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {answer}"))
            .to_owned();
        Some(browser)
    }

    /// One WebDriver command; panics on a WebDriver error, with its message.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("chromedriver");
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )
        .unwrap();
        // chromedriver keeps the connection open: read the head, then Content-Length bytes.
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        let head_end = loop {
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = s.read(&mut buf).expect("chromedriver answers");
            assert!(n > 0, "chromedriver closed the connection");
            raw.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("chromedriver sends Content-Length");
        while raw.len() < head_end + length {
            let n = s.read(&mut buf).expect("chromedriver answers");
            assert!(n > 0, "chromedriver closed the connection");
            raw.extend_from_slice(&buf[..n]);
        }
        let body = String::from_utf8_lossy(&raw[head_end..head_end + length]).into_owned();
        let v: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}: {body}"));
        if let Some(err) = v["value"].get("error") {
            panic!(
                "WebDriver {method} {path}: {err}: {}",
                v["value"]["message"]
            );
        }
        v.get("value").cloned().unwrap_or(v)
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub fn goto(&self, url: &str) {
        self.call(
            "POST",
            &self.session_path("/url"),
            Some(&json!({"url": url})),
        );
    }

    pub fn url(&self) -> String {
        self.call("GET", &self.session_path("/url"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Resizes the browser window (CSS pixels).
    pub fn set_size(&self, width: u32, height: u32) {
        self.call(
            "POST",
            &self.session_path("/window/rect"),
            Some(&json!({"width": width, "height": height})),
        );
    }

    /// Saves a PNG of the viewport to `path` (a test artifact).
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let b64 = self.call("GET", &self.session_path("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// The page's HTML as the browser has it now.
    pub fn source(&self) -> String {
        self.call("GET", &self.session_path("/source"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The visible text of the page.
    pub fn text(&self) -> String {
        self.script("return document.body ? document.body.innerText : ''")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs `script` in the page (used by the test to measure the layout, not by the pages).
    pub fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            &self.session_path("/execute/sync"),
            Some(&json!({"script": script, "args": []})),
        )
    }

    /// The first element matching the CSS `selector`.
    pub fn find(&self, selector: &str) -> String {
        let v = self.call(
            "POST",
            &self.session_path("/element"),
            Some(&json!({"using": "css selector", "value": selector})),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {selector}: {v}"))
            .to_owned()
    }

    /// A PNG of each element matching the CSS `selector`, as drawn on the page now.
    pub fn element_screenshots(&self, selector: &str) -> Vec<Vec<u8>> {
        use base64::Engine;
        let found = self.call(
            "POST",
            &self.session_path("/elements"),
            Some(&json!({"using": "css selector", "value": selector})),
        );
        found
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT].as_str())
            .map(|el| {
                let b64 = self.call(
                    "GET",
                    &self.session_path(&format!("/element/{el}/screenshot")),
                    None,
                );
                base64::engine::general_purpose::STANDARD
                    .decode(b64.as_str().unwrap_or_default())
                    .expect("a base64 screenshot")
            })
            .collect()
    }

    pub fn type_into(&self, selector: &str, text: &str) {
        let el = self.find(selector);
        self.call(
            "POST",
            &self.session_path(&format!("/element/{el}/value")),
            Some(&json!({"text": text})),
        );
    }

    /// Presses and releases `key` (a WebDriver key code, e.g. `"\u{E004}"` for Tab) `times`
    /// times in a row on whatever has the focus, in one WebDriver command.
    pub fn press_key(&self, key: &str, times: usize) {
        let strokes: Vec<Value> = (0..times)
            .flat_map(|_| {
                [
                    json!({"type": "keyDown", "value": key}),
                    json!({"type": "keyUp", "value": key}),
                ]
            })
            .collect();
        self.call(
            "POST",
            &self.session_path("/actions"),
            Some(&json!({"actions": [{"type": "key", "id": "keyboard", "actions": strokes}]})),
        );
        self.call("DELETE", &self.session_path("/actions"), None);
    }

    pub fn click(&self, selector: &str) {
        let el = self.find(selector);
        self.call(
            "POST",
            &self.session_path(&format!("/element/{el}/click")),
            Some(&json!({})),
        );
    }

    /// Waits up to `timeout` for the page text to contain `needle`; returns the text seen last.
    pub fn wait_for_text(&self, needle: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.text();
            if text.contains(needle) {
                return Ok(text);
            }
            if Instant::now() >= deadline {
                return Err(text);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = self.session_path("");
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.call("DELETE", &path, None)
            }));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
