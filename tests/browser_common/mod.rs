//! Loads a local, self-contained HTML report in headless Chromium and reports what it did.
//!
//! [`check_page`] starts Chromium with `--remote-debugging-pipe`: the DevTools protocol (CDP)
//! runs over two pipes, Chromium reading commands on fd 3 and writing replies and events on
//! fd 4, each message a JSON object followed by a NUL byte. No port, no websocket.
//! One call launches one browser in its own process group with its own temporary profile,
//! and always kills the group, reaps the browser and removes the profile before returning.
//!
//! What it reports ([`PageCheck`]): drawn marks per `<svg>`, console errors and warnings,
//! uncaught exceptions and error log entries, every network request, the title, the value of
//! one extra JS expression, and a full-page PNG screenshot.
//!
//! Every host name resolves to "not found" (`--host-resolver-rules`), so a page that reaches
//! out is recorded in `requests` (and usually in `console_errors` as a failed load), but
//! nothing leaves the machine and nothing waits on DNS.
//!
//! Tests should skip, not fail, when [`find_chromium`] returns `None`.
//! Unix only (fd passing via `pre_exec`).
#![allow(dead_code)]

use std::fs::File;
use std::io::Read;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// Bound on one whole [`check_page`] call, launch to screenshot.
const TIMEOUT: Duration = Duration::from_secs(60);
/// Time given to the page after its load event (timers, late rendering) before checking.
const SETTLE: Duration = Duration::from_millis(300);
/// Viewport height before the full-page resize, and the cap on the screenshot's height.
const VIEW_HEIGHT: u32 = 800;
const MAX_SHOT_HEIGHT: u32 = 16_384;

/// What a page drew, said and fetched.
#[derive(Debug, Clone)]
pub struct PageCheck {
    /// For each `<svg>` element in document order (nested ones included): its id attribute
    /// (or "") and the number of drawn marks inside it: elements among path, line, polyline,
    /// polygon, rect, circle, ellipse, text whose `getBBox()` has nonzero width or height.
    /// Marks inside defs/clipPath/mask/marker/pattern/symbol are not counted, and marks of an
    /// svg that is not rendered (e.g. `display:none`, a hidden tab) have an empty box: 0.
    pub svgs: Vec<(String, usize)>,
    /// console.error / console.warn / failed console.assert calls, uncaught exceptions
    /// (Runtime.exceptionThrown) and Log.entryAdded entries of level "error" (this includes
    /// "Failed to load resource" for blocked requests), each as a readable string.
    pub console_errors: Vec<String>,
    /// URLs of every request the page made (Network.requestWillBeSent), except the page's
    /// own file:// URL and data: URLs.
    pub requests: Vec<String>,
    /// `document.title`.
    pub title: String,
    /// The value of the `extra_js` expression (`Value::Null` when it was empty).
    pub extra: Value,
}

/// Finds the browser: `$TESSERA_CHROMIUM` if set and non-empty, else the first of
/// `chromium`, `chromium-browser`, `google-chrome` that is an executable file on `PATH`.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TESSERA_CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let cand = dir.join(name);
            let exec = std::fs::metadata(&cand).map(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            });
            if exec.unwrap_or(false) {
                return Some(cand);
            }
        }
    }
    None
}

/// Loads `html` (a local file) at viewport `width` (CSS px; below 600 it is emulated as a
/// mobile device), waits for the load event plus a short settle, runs the checks, evaluates
/// `extra_js` (an expression; promises are awaited; result returned by value) and writes a
/// full-page PNG to `screenshot`. Errors (launch failure, protocol error, a throwing
/// `extra_js`, timeout after 60 s) come back as `Err` with the browser's stderr tail.
pub fn check_page(
    browser: &Path,
    html: &Path,
    screenshot: &Path,
    width: u32,
    extra_js: &str,
) -> Result<PageCheck, String> {
    let abs = html
        .canonicalize()
        .map_err(|e| format!("{}: {e}", html.display()))?;
    let url = file_url(&abs);
    let mut guard = Cleanup {
        child: None,
        dir: make_temp_dir()?,
    };
    let (to_browser, from_browser) = launch(browser, &mut guard)?;
    let mut cdp = Cdp {
        out: to_browser,
        rx: spawn_reader(from_browser),
        next_id: 0,
        session: None,
        deadline: Instant::now() + TIMEOUT,
        page_url: url.clone(),
        ev: Events::default(),
    };
    let result = run(&mut cdp, &url, screenshot, width.max(1), extra_js);

    // Ask politely so the browser lets go of its profile; the guard kills whatever is left.
    cdp.session = None;
    if cdp.send("Browser.close", json!({})).is_ok() {
        let until = Instant::now() + Duration::from_secs(3);
        while cdp
            .rx
            .recv_timeout(until.saturating_duration_since(Instant::now()))
            .is_ok()
        {}
    }
    let log = guard.dir.join("stderr.log");
    let result = result.map_err(|e| format!("{e}\n--- chromium stderr (tail) ---\n{}", tail(&log)));
    drop(guard);
    result
}

/// The protocol conversation proper.
fn run(
    cdp: &mut Cdp,
    url: &str,
    screenshot: &Path,
    width: u32,
    extra_js: &str,
) -> Result<PageCheck, String> {
    // Attach to the page target Chromium opened for about:blank (or make one).
    let targets = cdp.call("Target.getTargets", json!({}))?;
    let found = targets["targetInfos"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["type"] == "page"))
        .and_then(|t| t["targetId"].as_str())
        .map(str::to_owned);
    let target = match found {
        Some(t) => t,
        None => str_field(
            &cdp.call("Target.createTarget", json!({"url": "about:blank"}))?,
            "targetId",
        )?,
    };
    let attached = cdp.call(
        "Target.attachToTarget",
        json!({"targetId": target, "flatten": true}),
    )?;
    cdp.session = Some(str_field(&attached, "sessionId")?);

    for domain in ["Page", "Runtime", "Log", "Network"] {
        cdp.call(&format!("{domain}.enable"), json!({}))?;
    }
    set_metrics(cdp, width, VIEW_HEIGHT)?;
    cdp.ev.loaded = false;
    let nav = cdp.call("Page.navigate", json!({"url": url}))?;
    if let Some(e) = nav["errorText"].as_str() {
        return Err(format!("navigating to {url} failed: {e}"));
    }
    while !cdp.ev.loaded {
        let msg = cdp.next("Page.loadEventFired")?;
        cdp.on_event(&msg);
    }
    cdp.pump_for(SETTLE)?;

    let checks = eval(cdp, CHECKS_JS)?;
    let mut svgs = Vec::new();
    for s in checks["svgs"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let id = s[0].as_str().unwrap_or("").to_owned();
        svgs.push((id, s[1].as_u64().unwrap_or(0) as usize));
    }
    let title = checks["title"].as_str().unwrap_or("").to_owned();
    let extra = if extra_js.trim().is_empty() {
        Value::Null
    } else {
        eval(cdp, extra_js)?
    };

    // Full page: grow the viewport to the content height, then capture.
    let metrics = cdp.call("Page.getLayoutMetrics", json!({}))?;
    let h = metrics["cssContentSize"]["height"]
        .as_f64()
        .unwrap_or(VIEW_HEIGHT as f64);
    set_metrics(cdp, width, (h.ceil() as u32).clamp(1, MAX_SHOT_HEIGHT))?;
    let shot = cdp.call(
        "Page.captureScreenshot",
        json!({"format": "png", "captureBeyondViewport": true}),
    )?;
    let png = base64::engine::general_purpose::STANDARD
        .decode(str_field(&shot, "data")?)
        .map_err(|e| format!("screenshot is not base64: {e}"))?;
    std::fs::write(screenshot, png).map_err(|e| format!("{}: {e}", screenshot.display()))?;

    let ev = std::mem::take(&mut cdp.ev);
    Ok(PageCheck {
        svgs,
        console_errors: ev.console,
        requests: ev.requests,
        title,
        extra,
    })
}

/// Counts drawn marks per svg and reads the title; evaluated in the page.
const CHECKS_JS: &str = r#"(() => {
  const MARKS = 'path,line,polyline,polygon,rect,circle,ellipse,text';
  const NOT_DRAWN = 'defs,clipPath,mask,marker,pattern,symbol';
  const svgs = Array.from(document.querySelectorAll('svg')).map(svg => {
    let n = 0;
    for (const el of svg.querySelectorAll(MARKS)) {
      if (el.closest(NOT_DRAWN)) continue;
      try { const b = el.getBBox(); if (b.width > 0 || b.height > 0) n++; } catch (e) {}
    }
    return [svg.getAttribute('id') || '', n];
  });
  return { svgs, title: document.title };
})()"#;

fn set_metrics(cdp: &mut Cdp, width: u32, height: u32) -> Result<(), String> {
    let p =
        json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600});
    cdp.call("Emulation.setDeviceMetricsOverride", p).map(drop)
}

/// Evaluates `expr` in the page, awaiting promises, and returns its JSON value.
fn eval(cdp: &mut Cdp, expr: &str) -> Result<Value, String> {
    let p = json!({"expression": expr, "returnByValue": true, "awaitPromise": true});
    let r = cdp.call("Runtime.evaluate", p)?;
    if let Some(d) = r.get("exceptionDetails") {
        let what = d["exception"]["description"]
            .as_str()
            .or(d["text"].as_str())
            .unwrap_or("?");
        return Err(format!("evaluating `{expr}` threw: {what}"));
    }
    Ok(r["result"]["value"].clone())
}

fn str_field(v: &Value, key: &str) -> Result<String, String> {
    v[key]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("reply lacks `{key}`: {v}"))
}

/// Events collected while waiting for replies.
#[derive(Default)]
struct Events {
    console: Vec<String>,
    requests: Vec<String>,
    loaded: bool,
}

/// One DevTools connection: commands out, replies and events in, all under one deadline.
struct Cdp {
    out: File,
    rx: Receiver<Result<Value, String>>,
    next_id: u64,
    /// Attached page session; commands without one go to the browser.
    session: Option<String>,
    deadline: Instant,
    page_url: String,
    ev: Events,
}

impl Cdp {
    fn send(&mut self, method: &str, params: Value) -> Result<u64, String> {
        self.next_id += 1;
        let mut msg = json!({"id": self.next_id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        self.out
            .write_all(&bytes)
            .map_err(|e| format!("sending {method} to the browser: {e}"))?;
        Ok(self.next_id)
    }

    /// Sends a command and waits for its reply, collecting events meanwhile.
    fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.send(method, params)?;
        loop {
            let msg = self.next(method)?;
            if msg["id"].as_u64() == Some(id) {
                if let Some(e) = msg.get("error") {
                    return Err(format!("{method} failed: {e}"));
                }
                return Ok(msg.get("result").cloned().unwrap_or(Value::Null));
            }
            self.on_event(&msg);
        }
    }

    /// The next message, or Err on timeout, a dead browser or garbage.
    fn next(&mut self, waiting_for: &str) -> Result<Value, String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(msg) => msg,
            Err(RecvTimeoutError::Timeout) => Err(format!(
                "timed out ({TIMEOUT:?} in all) waiting for {waiting_for}"
            )),
            Err(RecvTimeoutError::Disconnected) => Err(format!(
                "the browser went away while we waited for {waiting_for}"
            )),
        }
    }

    /// Collects events for `span` (less if the overall deadline comes first).
    fn pump_for(&mut self, span: Duration) -> Result<(), String> {
        let until = (Instant::now() + span).min(self.deadline);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(msg) => self.on_event(&msg?),
                Err(RecvTimeoutError::Timeout) => return Ok(()),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err("the browser went away while the page settled".into())
                }
            }
        }
    }

    fn on_event(&mut self, msg: &Value) {
        let p = &msg["params"];
        match msg["method"].as_str().unwrap_or("") {
            "Runtime.consoleAPICalled" => {
                let kind = match p["type"].as_str().unwrap_or("") {
                    "error" => "error",
                    "warning" => "warn",
                    "assert" => "assert",
                    _ => return,
                };
                let args: Vec<String> = p["args"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
                    .iter()
                    .map(show_remote)
                    .collect();
                self.ev
                    .console
                    .push(format!("console.{kind}: {}", args.join(" ")));
            }
            "Runtime.exceptionThrown" => {
                let d = &p["exceptionDetails"];
                let what = d["exception"]["description"]
                    .as_str()
                    .or(d["text"].as_str())
                    .unwrap_or("?");
                let at = format!(
                    "{}:{}:{}",
                    d["url"].as_str().unwrap_or(""),
                    d["lineNumber"],
                    d["columnNumber"]
                );
                self.ev
                    .console
                    .push(format!("uncaught exception: {what} (at {at})"));
            }
            "Log.entryAdded" if p["entry"]["level"] == "error" => {
                let e = &p["entry"];
                let (src, text) = (
                    e["source"].as_str().unwrap_or("?"),
                    e["text"].as_str().unwrap_or(""),
                );
                let url = e["url"]
                    .as_str()
                    .map(|u| format!(" ({u})"))
                    .unwrap_or_default();
                self.ev
                    .console
                    .push(format!("log error [{src}]: {text}{url}"));
            }
            "Network.requestWillBeSent" => {
                if let Some(u) = p["request"]["url"].as_str() {
                    let own = u.split('#').next() == self.page_url.split('#').next();
                    if !own && !u.starts_with("data:") {
                        self.ev.requests.push(u.to_owned());
                    }
                }
            }
            "Page.loadEventFired" => self.ev.loaded = true,
            _ => {}
        }
    }
}

/// A console argument as text: strings bare, other values as JSON, objects by description.
fn show_remote(o: &Value) -> String {
    match (
        o.get("value"),
        o["unserializableValue"].as_str(),
        o["description"].as_str(),
    ) {
        (Some(Value::String(s)), _, _) => s.clone(),
        (Some(v), _, _) => v.to_string(),
        (None, Some(u), _) => u.to_owned(),
        (None, None, Some(d)) => d.to_owned(),
        _ => o["type"].as_str().unwrap_or("?").to_owned(),
    }
}

/// Reads NUL-terminated JSON messages from the browser on a thread; the channel closes at EOF.
fn spawn_reader(mut from: File) -> Receiver<Result<Value, String>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut buf, mut chunk, mut scanned) = (Vec::new(), vec![0u8; 1 << 16], 0);
        loop {
            let n = match from.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return drop(tx.send(Err(format!("reading from the browser: {e}")))),
            };
            buf.extend_from_slice(&chunk[..n]);
            while let Some(i) = buf[scanned..].iter().position(|&b| b == 0) {
                let end = scanned + i;
                let msg = serde_json::from_slice(&buf[..end])
                    .map_err(|e| format!("unparsable message from the browser: {e}"));
                buf.drain(..=end);
                scanned = 0;
                if tx.send(msg).is_err() {
                    return;
                }
            }
            scanned = buf.len();
        }
    });
    rx
}

/// Starts the browser with the CDP pipes on fds 3 and 4; returns (our write end, our read end).
fn launch(browser: &Path, guard: &mut Cleanup) -> Result<(File, File), String> {
    let (cmd_r, cmd_w) = cloexec_pipe()?; // we write commands, Chromium reads fd 3
    let (ev_r, ev_w) = cloexec_pipe()?; // Chromium writes fd 4, we read
    let stderr =
        File::create(guard.dir.join("stderr.log")).map_err(|e| format!("stderr log: {e}"))?;
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--metrics-recording-only",
        "--hide-scrollbars",
        "--mute-audio",
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ])
    .arg(format!("--user-data-dir={}", guard.dir.display()))
    .args(["--remote-debugging-pipe", "about:blank"])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(stderr)
    .process_group(0);
    let (r, w) = (cmd_r.as_raw_fd(), ev_w.as_raw_fd());
    // SAFETY: only dup2 (async-signal-safe) runs between fork and exec. Both sources are >= 10,
    // so neither is clobbered, and dup2's new fds 3 and 4 are not close-on-exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("starting {}: {e}", browser.display()))?;
    guard.child = Some(child);
    // The child's ends close here, so we see EOF when the browser exits.
    drop((cmd_r, ev_w));
    Ok((File::from(cmd_w), File::from(ev_r)))
}

/// A pipe whose two ends are close-on-exec (other threads may spawn processes meanwhile)
/// and numbered >= 10 (so the child's dup2 onto 3 and 4 cannot overwrite either).
fn cloexec_pipe() -> Result<(OwnedFd, OwnedFd), String> {
    let mut fds = [0; 2];
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    let rc = unsafe { libc::pipe(fds.as_mut_ptr()) };
    if rc != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let high =
        |fd: &OwnedFd| match unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) } {
            n if n < 0 => Err(format!("fcntl: {}", std::io::Error::last_os_error())),
            // SAFETY: a fresh fd from F_DUPFD_CLOEXEC, owned by nobody else.
            n => Ok(unsafe { OwnedFd::from_raw_fd(n) }),
        };
    Ok((high(&a)?, high(&b)?))
}

/// Kills the browser's process group, reaps the browser and removes its profile, on every path.
struct Cleanup {
    child: Option<Child>,
    dir: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            // The group id is the browser's pid, which cannot be reused before we reap it below.
            if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                unsafe { libc::kill(-pid, libc::SIGKILL) };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        for _ in 0..10 {
            if std::fs::remove_dir_all(&self.dir).is_ok() || !self.dir.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn make_temp_dir() -> Result<PathBuf, String> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "tessera-chromium-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// `file://` URL of an absolute path, percent-encoding all but unreserved bytes and '/'.
fn file_url(p: &Path) -> String {
    let mut s = String::from("file://");
    for &b in p.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// Last lines of the browser's stderr, for error messages, without the D-Bus noise
/// (no session bus in a test environment; harmless).
fn tail(path: &Path) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains(":ERROR:dbus/"))
        .collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
