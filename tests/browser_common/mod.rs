//! A small Chrome DevTools Protocol client for tests that need a real browser.
//!
//! `open_page(path)` starts headless Chromium, loads a local file through its `file://` URL and
//! hands back a `Page` to drive: `eval` runs JavaScript and returns its value as JSON, `click` and
//! `hover` move the real mouse, `key` types, `screenshot` writes a PNG, `console_errors` lists
//! what the page reported as errors. Any test can use it on any page:
//!
//! ```ignore
//! let Some(mut page) = browser_common::open_page(&path, "my_test") else { return };
//! let rows = page.eval("document.querySelectorAll('tr').length").unwrap();
//! ```
//!
//! Without Chromium (`chromium`, `chromium-browser`, `google-chrome` on PATH, or `DE2EN_CHROMIUM`)
//! `open_page` prints a SKIPPED line on the terminal — past the test harness's capture, so it is
//! seen — and returns `None`; with `DE2EN_REQUIRE_BROWSER=1` that is a failure instead
//! (`scripts/test.sh` sets it once it has installed Chromium). The protocol is spoken over one
//! WebSocket per page (`tungstenite`, synchronous): commands are JSON objects with an id, and the
//! events that arrive in between are kept to wait for (page loads) and to collect console errors.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How long the browser may take to start, and a page to load.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Where screenshots go: git-ignored, kept by CI as artifacts.
pub fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("DE2EN_BROWSER_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts"));
    std::fs::create_dir_all(&dir).expect("create the browser artifacts folder");
    dir
}

/// The Chromium binary to run, if there is one.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("DE2EN_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|candidate| candidate.is_file())
}

/// Says on the terminal that `test` did not run and why — or fails it when a browser is required.
pub fn skip(test: &str, reason: &str) {
    if std::env::var("DE2EN_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!("{test}: a browser is required (DE2EN_REQUIRE_BROWSER=1) but {reason}");
    }
    // Straight to the terminal: the harness captures println!/eprintln! of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {reason} (install it with `apt-get install chromium`, or name one with \
         DE2EN_CHROMIUM; DE2EN_REQUIRE_BROWSER=1 turns this into a failure)"
    );
}

/// A headless Chromium with its own temporary profile; killed when dropped.
pub struct Browser {
    child: Child,
    /// `127.0.0.1:PORT` of its DevTools endpoint.
    address: String,
    browser_socket: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn launch() -> Result<Browser, String> {
        let binary = find_chromium().ok_or("no Chromium was found")?;
        let profile = tempfile::tempdir().map_err(|e| format!("no temporary profile: {e}"))?;
        let mut command = Command::new(&binary);
        command
            .arg("--headless")
            .arg("--remote-debugging-port=0")
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args([
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-extensions",
                "--hide-scrollbars",
                "--window-size=1280,900",
            ]);
        // Chromium's sandbox refuses to run as root.
        if unsafe { libc::geteuid() } == 0 {
            command.arg("--no-sandbox");
        }
        command
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| format!("{} could not be started: {e}", binary.display()))?;
        // Chromium prints "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID" on
        // stderr; the rest of stderr is drained so that it never blocks on a full pipe.
        let stderr = child.stderr.take().expect("piped stderr");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sender = Some(sender);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ")
                    && let Some(sender) = sender.take()
                {
                    let _ = sender.send(url.trim().to_owned());
                }
            }
        });
        let browser_socket = match receiver.recv_timeout(TIMEOUT) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                return Err(format!(
                    "{} did not open its DevTools endpoint ({status})",
                    binary.display()
                ));
            }
        };
        let address = browser_socket
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .ok_or_else(|| format!("unexpected DevTools address {browser_socket}"))?
            .to_owned();
        Ok(Browser {
            child,
            address,
            browser_socket,
            _profile: profile,
        })
    }

    /// A new tab, driven through its own connection.
    pub fn new_page(&self) -> Result<Page, String> {
        let mut browser = Connection::open(&self.browser_socket)?;
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}))?;
        let id = target["targetId"]
            .as_str()
            .ok_or("Target.createTarget gave no targetId")?;
        let connection = Connection::open(&format!("ws://{}/devtools/page/{id}", self.address))?;
        let mut page = Page { connection };
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            page.call(domain, json!({}))?;
        }
        Ok(page)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The file:// URL of a local file.
pub fn file_url(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    let mut url = String::from("file://");
    for byte in path.to_string_lossy().bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            url.push(byte as char);
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}

/// A browser with `path` loaded, or `None` (after saying so, see `skip`) without Chromium.
pub fn open_page(path: &Path, test: &str) -> Option<(Browser, Page)> {
    let browser = match Browser::launch() {
        Ok(browser) => browser,
        Err(reason) => {
            skip(test, &reason);
            return None;
        }
    };
    let mut page = browser.new_page().expect("a new tab");
    page.goto(&file_url(path)).expect("the page loads");
    Some((browser, page))
}

/// One DevTools WebSocket: commands, their answers, and the events in between.
struct Connection {
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    events: Vec<Value>,
}

impl Connection {
    fn open(url: &str) -> Result<Connection, String> {
        let (socket, _) =
            tungstenite::connect(url).map_err(|e| format!("could not connect to {url}: {e}"))?;
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream
                .set_read_timeout(Some(TIMEOUT))
                .map_err(|e| format!("socket timeout: {e}"))?;
        }
        Ok(Connection {
            socket,
            next_id: 1,
            events: Vec::new(),
        })
    }

    fn read(&mut self) -> Result<Value, String> {
        loop {
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    return serde_json::from_str(text.as_str())
                        .map_err(|e| format!("bad DevTools message: {e}"));
                }
                Ok(_) => continue,
                Err(e) => return Err(format!("DevTools connection: {e}")),
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({"id": id, "method": method, "params": params});
        self.socket
            .send(Message::text(message.to_string()))
            .map_err(|e| format!("{method}: {e}"))?;
        loop {
            let message = self.read()?;
            if message["id"].as_u64() == Some(id) {
                if let Some(error) = message.get("error") {
                    return Err(format!("{method}: {error}"));
                }
                return Ok(message["result"].clone());
            }
            if message.get("method").is_some() {
                self.events.push(message);
            }
        }
    }

    /// Waits for an event named `method` (one already received counts), and removes it.
    fn wait_for(&mut self, method: &str) -> Result<Value, String> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(at) = self.events.iter().position(|e| e["method"] == method) {
                return Ok(self.events.remove(at));
            }
            if Instant::now() > deadline {
                return Err(format!("no {method} within {TIMEOUT:?}"));
            }
            let message = self.read()?;
            if message.get("method").is_some() {
                self.events.push(message);
            }
        }
    }
}

/// One tab.
pub struct Page {
    connection: Connection,
}

impl Page {
    /// Any DevTools command; its `result`.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.connection.call(method, params)
    }

    /// Loads `url` and waits for its load event.
    pub fn goto(&mut self, url: &str) -> Result<(), String> {
        self.connection
            .events
            .retain(|e| e["method"] != "Page.loadEventFired");
        let result = self.call("Page.navigate", json!({"url": url}))?;
        if let Some(error) = result.get("errorText") {
            return Err(format!("{url}: {error}"));
        }
        self.connection.wait_for("Page.loadEventFired").map(drop)
    }

    /// Waits for the next page load (after a click on a link).
    pub fn wait_for_load(&mut self) -> Result<(), String> {
        self.connection.wait_for("Page.loadEventFired").map(drop)
    }

    /// Evaluates a JavaScript expression in the page; its value as JSON (`null` for undefined).
    pub fn eval(&mut self, expression: &str) -> Result<Value, String> {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        )?;
        if let Some(details) = result.get("exceptionDetails") {
            return Err(format!(
                "{expression}: {}",
                details["exception"]["description"]
                    .as_str()
                    .unwrap_or(&details.to_string())
            ));
        }
        Ok(result["result"]["value"].clone())
    }

    /// The centre of the first element matching `selector`, scrolled into view; of its first line
    /// where it wraps (the centre of a wrapped link's box can lie beside its text).
    fn centre_of(&mut self, selector: &str) -> Result<(f64, f64), String> {
        let selector_js = serde_json::to_string(selector).expect("a string");
        let point = self.eval(&format!(
            "(() => {{ const e = document.querySelector({selector_js}); if (!e) return null; \
             e.scrollIntoView({{block: 'center'}}); \
             const r = e.getClientRects()[0] || e.getBoundingClientRect(); \
             return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
        ))?;
        match (point[0].as_f64(), point[1].as_f64()) {
            (Some(x), Some(y)) => Ok((x, y)),
            _ => Err(format!("no element matches {selector}")),
        }
    }

    /// Moves the mouse over the element matching `selector`.
    pub fn hover(&mut self, selector: &str) -> Result<(), String> {
        let (x, y) = self.centre_of(selector)?;
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseMoved", "x": x, "y": y}),
        )
        .map(drop)
    }

    /// A real left click (move, press, release) on the element matching `selector`.
    pub fn click(&mut self, selector: &str) -> Result<(), String> {
        let (x, y) = self.centre_of(selector)?;
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseMoved", "x": x, "y": y}),
        )?;
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )?;
        }
        Ok(())
    }

    /// Types one printable key (a letter) as the keyboard would.
    pub fn key(&mut self, key: char) -> Result<(), String> {
        let upper = key.to_ascii_uppercase();
        let common = json!({
            "key": key.to_string(),
            "code": format!("Key{upper}"),
            "windowsVirtualKeyCode": upper as u32,
        });
        let mut down = common.clone();
        down["type"] = json!("keyDown");
        down["text"] = json!(key.to_string());
        self.call("Input.dispatchKeyEvent", down)?;
        let mut up = common;
        up["type"] = json!("keyUp");
        self.call("Input.dispatchKeyEvent", up).map(drop)
    }

    /// Sets the viewport size (CSS pixels).
    pub fn set_viewport(&mut self, width: u32, height: u32) -> Result<(), String> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        )
        .map(drop)
    }

    /// Writes a PNG of the viewport to `artifacts_dir()/name`; returns its path.
    pub fn screenshot(&mut self, name: &str) -> Result<PathBuf, String> {
        let result = self.call("Page.captureScreenshot", json!({"format": "png"}))?;
        let data = result["data"].as_str().ok_or("no screenshot data")?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| format!("screenshot: {e}"))?;
        let path = artifacts_dir().join(name);
        std::fs::write(&path, png).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    }

    /// Errors the page reported so far: uncaught exceptions, `console.error`/`console.assert`,
    /// and the browser's own error log entries (a resource that failed to load, a CSP refusal).
    pub fn console_errors(&mut self) -> Vec<String> {
        // A round trip collects the events that are on their way.
        let _ = self.eval("0");
        self.connection
            .events
            .iter()
            .filter_map(|event| {
                let params = &event["params"];
                match event["method"].as_str()? {
                    "Runtime.exceptionThrown" => Some(params["exceptionDetails"].to_string()),
                    "Runtime.consoleAPICalled"
                        if matches!(params["type"].as_str(), Some("error" | "assert")) =>
                    {
                        Some(params["args"].to_string())
                    }
                    "Log.entryAdded" if params["entry"]["level"] == "error" => {
                        Some(params["entry"].to_string())
                    }
                    _ => None,
                }
            })
            .collect()
    }
}

/// `page.eval(js)`, failing the test with the browser's message.
pub fn eval(page: &mut Page, js: &str) -> Value {
    page.eval(js).unwrap_or_else(|e| panic!("{e}"))
}
