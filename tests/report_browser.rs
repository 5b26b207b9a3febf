//! `report.html` and the `diff --html` page in a real headless browser, Debian's `chromium`
//! (installed by `.ci/run`): the screenshot is drawn and not blank, the figures of the page as
//! the browser parsed it equal `summary.json`'s, and the page makes no network request.
//!
//! Requests are observed two ways at once, and a control page with one image on
//! `http://example.invalid/` shows that both see it:
//! - chromium's own net log (`--log-net-log`) lists every URL request with its initiator: the
//!   page's requests are initiated by the page (`file://`), chromium's own (component updater,
//!   network time, account list; the `--disable-*` flags do not silence them all in chromium
//!   156) by no origin. The page must have none.
//! - every connection goes through a proxy that the test runs (`--proxy-server`, loopback
//!   included), so nothing reaches the network; each request it receives must be for a host
//!   that the net log names as chromium's own, so nothing got past the net log unseen.
//!
//! Without `chromium` the tests say SKIPPED and pass; with `DECLARO_REQUIRE_ALL_TESTS` set
//! they fail instead.

#[path = "util/runs.rs"]
mod runs;
mod util;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use util::*;

/// Longer than chromium ever takes here (about 1.5 s a page), short enough not to hang CI.
const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);

/// The flags of every start: headless as root in a container, a fresh profile (added per
/// start), and as little of chromium's own networking as its flags allow.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-features=NetworkTimeServiceQuerying",
    "--proxy-bypass-list=<-loopback>",
];

/// Whether `chromium` runs here; when it does not, says SKIPPED (or fails when every test must
/// run).
fn have_chromium() -> bool {
    let ok = std::process::Command::new("chromium")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("DECLARO_REQUIRE_ALL_TESTS").is_none(),
            "`chromium` is needed for this test (apt-get install chromium)"
        );
        eprintln!("SKIPPED: no `chromium` to render the page in");
    }
    ok
}

/// A proxy on loopback that answers every request 502 and records its first line.
struct Proxy {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    accepting: JoinHandle<()>,
}

impl Proxy {
    fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let accepting = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut answering = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let seen = seen.clone();
                            answering.push(std::thread::spawn(move || answer(s, &seen)));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(e) => panic!("proxy accept: {e}"),
                    }
                }
                for a in answering {
                    a.join().unwrap();
                }
            })
        };
        Proxy {
            port,
            seen,
            stop,
            accepting,
        }
    }

    /// Stops accepting and gives the first line of every request received.
    fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        self.accepting.join().unwrap();
        let seen = self.seen.lock().unwrap();
        seen.clone()
    }
}

fn answer(mut s: TcpStream, seen: &Mutex<Vec<String>>) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(2).any(|w| w == b"\r\n") && got.len() < 16 << 10 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got);
    let line = text.lines().next().unwrap_or("").to_string();
    seen.lock().unwrap().push(line);
    let _ =
        s.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

/// The host of a URL (`https://host:443/path` gives `host`).
fn host_of_url(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', ':', '?']).unwrap_or(rest.len());
    &rest[..end]
}

/// The host a proxy request line asks for: `CONNECT host:443 HTTP/1.1`, `GET http://host/x ...`.
fn host_of_request(line: &str) -> &str {
    let target = line.split(' ').nth(1).unwrap_or("");
    if line.starts_with("CONNECT ") {
        target.split(':').next().unwrap_or("")
    } else {
        host_of_url(target)
    }
}

/// What one start of chromium on one page did.
struct Load {
    /// Its stdout (the DOM with `--dump-dom`).
    stdout: String,
    /// The URLs the page requested, from the net log.
    page_requests: Vec<String>,
    /// The URLs chromium requested on its own, from the net log.
    own_requests: Vec<String>,
    /// The first line of every request the proxy received.
    proxied: Vec<String>,
}

impl Load {
    /// The proxied requests that are not for a host of chromium's own requests.
    fn unexplained(&self) -> Vec<&String> {
        let own: BTreeSet<&str> = self.own_requests.iter().map(|u| host_of_url(u)).collect();
        self.proxied
            .iter()
            // A connection that sent nothing asked for no URL (chromium may open one and drop
            // it when it exits); the net log would still show what it was for.
            .filter(|l| !l.is_empty() && !own.contains(host_of_request(l)))
            .collect()
    }

    fn assert_no_network_request(&self, what: &str) {
        assert!(
            self.page_requests.is_empty(),
            "{what} requested {:?}",
            self.page_requests
        );
        assert!(
            self.unexplained().is_empty(),
            "{what}: the proxy received {:?}, chromium's own requests were {:?}",
            self.unexplained(),
            self.own_requests
        );
    }
}

/// Opens `url` in headless chromium with `extra` flags, through a fresh proxy and with a net
/// log; kills it (its whole process group) when it takes longer than [`CHROMIUM_TIMEOUT`].
fn load(url: &str, extra: &[&str]) -> Load {
    use std::os::unix::process::CommandExt;
    let tmp = tempfile::tempdir().unwrap();
    let (netlog, out, err) = (
        tmp.path().join("netlog.json"),
        tmp.path().join("stdout"),
        tmp.path().join("stderr"),
    );
    let proxy = Proxy::start();
    let mut child = std::process::Command::new("chromium")
        .args(FLAGS)
        .arg(format!(
            "--user-data-dir={}",
            tmp.path().join("profile").display()
        ))
        .arg(format!("--proxy-server=http://127.0.0.1:{}", proxy.port))
        .arg(format!("--log-net-log={}", netlog.display()))
        .args(extra)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHROMIUM_TIMEOUT {
            // SAFETY: kill(2) on the process group of the child this test started.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            panic!(
                "chromium on {url} did not finish within {CHROMIUM_TIMEOUT:?}; stderr:\n{}",
                read(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let proxied = proxy.finish();
    assert!(
        status.success(),
        "chromium on {url}: {status}\n{}",
        read(&err)
    );
    let log: Value = serde_json::from_str(&read(&netlog))
        .unwrap_or_else(|e| panic!("chromium's net log is not JSON: {e}"));
    let start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
        .as_u64()
        .expect("the net log names URL_REQUEST_START_JOB");
    let (mut page_requests, mut own_requests) = (Vec::new(), Vec::new());
    for e in log["events"].as_array().expect("net log events") {
        let p = &e["params"];
        let (Some(url), true) = (p["url"].as_str(), e["type"].as_u64() == Some(start_job)) else {
            continue;
        };
        // Chromium's own requests have no initiating origin and are isolated under no site
        // or its own; the page's are initiated by the page and isolated under `file://`.
        let nik = p["network_isolation_key"].as_str().unwrap_or("");
        if p["initiator"].as_str() == Some("not an origin") && !nik.contains("file://") {
            own_requests.push(url.to_string());
        } else {
            page_requests.push(url.to_string());
        }
    }
    Load {
        stdout: read(&out),
        page_requests,
        own_requests,
        proxied,
    }
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.canonicalize().unwrap().display())
}

/// A page with one image on the network: both observers must see its request, else the check
/// that the report makes none proves nothing.
fn assert_a_request_is_seen(dir: &Path) {
    let page = dir.join("control.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><p>control</p><img src=\"http://example.invalid/x.png\"></body></html>\n",
    )
    .unwrap();
    let l = load(&file_url(&page), &["--dump-dom"]);
    assert!(
        l.page_requests
            .iter()
            .any(|u| u == "http://example.invalid/x.png"),
        "the net log shows the control page's request: {:?} (own: {:?})",
        l.page_requests,
        l.own_requests
    );
    assert!(
        l.proxied
            .iter()
            .any(|r| r == "GET http://example.invalid/x.png HTTP/1.1"),
        "the proxy received the control page's request: {:?}",
        l.proxied
    );
    assert!(!l.unexplained().is_empty(), "{:?}", l.proxied);
}

/// Takes a 1280x2400 screenshot of `page` (checking that it fetches nothing meanwhile) and
/// asserts that it is drawn: many colours, a good share of non-background pixels, and the
/// bars' blue.
fn assert_drawn(page: &Path, dir: &Path, what: &str) {
    let png = dir.join(format!("{what}.png"));
    let l = load(
        &file_url(page),
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,2400",
        ],
    );
    l.assert_no_network_request(&format!("{what} (screenshot)"));
    let mut decoder = png::Decoder::new(std::fs::File::open(&png).expect("the screenshot"));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(
        channels >= 3,
        "{what}: a colour screenshot, not {:?}",
        info.color_type
    );
    assert_eq!((info.width, info.height), (1280, 2400), "{what}");
    let pixels: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    let background = pixels[0];
    let drawn = pixels.iter().filter(|&&p| p != background).count();
    let colours: BTreeSet<[u8; 3]> = pixels.iter().copied().collect();
    let blue = pixels
        .iter()
        .filter(|p| {
            p.iter()
                .zip([0x3b, 0x6e, 0xa5])
                .all(|(&c, want): (&u8, u8)| c.abs_diff(want) <= 8)
        })
        .count();
    let share = drawn as f64 / pixels.len() as f64;
    eprintln!(
        "{what}: {} colours, {:.1}% drawn, {blue} pixels of bar blue",
        colours.len(),
        share * 100.0
    );
    assert!(colours.len() >= 32, "{what}: {} colours", colours.len());
    assert!(
        share >= 0.02,
        "{what}: {:.2}% of the pixels drawn",
        share * 100.0
    );
    assert!(blue >= 12 * 100, "{what}: {blue} pixels of the bars' blue");
}

/// The text after the start tag that holds `at`, up to the next tag.
fn text_after(dom: &str, at: usize) -> &str {
    let start = at + dom[at..].find('>').unwrap() + 1;
    &dom[start..start + dom[start..].find('<').unwrap()]
}

/// The start tag that holds `at`.
fn tag_at(dom: &str, at: usize) -> &str {
    let start = dom[..at].rfind('<').unwrap();
    &dom[start..at + dom[at..].find('>').unwrap()]
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let pat = format!(" {name}=\"");
    let from = tag.find(&pat)? + pat.len();
    Some(&tag[from..from + tag[from..].find('"')?])
}

/// The texts of a table row's cells.
fn cells(row: &str) -> Vec<&str> {
    row.match_indices("<td")
        .map(|(i, _)| text_after(row, i))
        .collect()
}

/// Cents of an amount as the outputs write it (`-12.50`).
fn cents(s: &str) -> i64 {
    declaro::model::Cents::parse_signed(s.as_bytes())
        .unwrap_or_else(|e| panic!("amount {s}: {e}"))
        .0
}

/// Every bar draws the number it carries: its width is `data-value` of `data-max` of 200.
fn assert_bars_draw_their_numbers(dom: &str, what: &str) -> usize {
    let mut bars = 0;
    for (at, _) in dom.match_indices("<svg ") {
        let tag = tag_at(dom, at + 1);
        let value: u64 = attr(tag, "data-value").unwrap().parse().unwrap();
        let max: u64 = attr(tag, "data-max").unwrap().parse().unwrap();
        let svg = &dom[at..at + dom[at..].find("</svg>").unwrap()];
        let rect = tag_at(svg, svg.find("<rect ").unwrap() + 1);
        let width: u64 = attr(rect, "width").unwrap().parse().unwrap();
        assert_eq!(
            width,
            (value * 200).checked_div(max).unwrap_or(0),
            "{what}: {svg}"
        );
        bars += 1;
    }
    bars
}

/// The report's figures in the DOM as chromium parsed it against `summary.json`: every figure
/// marked `data-summary` (the totals, the reconciliation, the lines per reason) equals the
/// summary's field, and each field is on the page once; each reason's Vektis code is the one
/// docs/CONTRACT.md gives it and its bar stands for its count; paid per product adds up to the
/// summary's total per layer; every refused file is listed.
fn assert_report_matches_summary(dom: &str, s: &Value) {
    let mut expected: BTreeSet<String> = ["/outcomes/paid", "/outcomes/rejected"]
        .map(String::from)
        .into();
    for section in ["totals", "reconciliation", "rejected_by_reason"] {
        for k in s[section].as_object().unwrap().keys() {
            expected.insert(format!("/{section}/{k}"));
        }
    }
    let mut found: BTreeMap<String, usize> = BTreeMap::new();
    for (at, _) in dom.match_indices(" data-summary=\"") {
        let tag = tag_at(dom, at);
        let pointer = attr(tag, "data-summary").unwrap();
        let want = match s.pointer(pointer) {
            Some(Value::String(v)) => v.clone(),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
            other => panic!("{pointer} in summary.json: {other:?}"),
        };
        let shown = attr(tag, "data-value").unwrap_or_else(|| text_after(dom, at));
        assert_eq!(shown, want, "{pointer}: {tag}");
        *found.entry(pointer.to_string()).or_default() += 1;
    }
    assert_eq!(found.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(found.values().all(|&n| n == 1), "{found:?}");
    let balanced = s["reconciliation"]["balanced"].as_bool().unwrap();
    assert!(dom.contains(if balanced {
        "\">Balanced: "
    } else {
        "\">NOT balanced: "
    }));

    // Lines per reason: Vektis code and bar.
    let contract = read(root().join("docs/CONTRACT.md"));
    let by_reason = s["rejected_by_reason"].as_object().unwrap();
    assert!(by_reason.len() > 5, "the night rejects for many reasons");
    let max = by_reason
        .values()
        .map(|n| n.as_u64().unwrap())
        .max()
        .unwrap();
    let mut rows = 0;
    for row in dom
        .split("<tr>")
        .filter(|r| r.contains("data-summary=\"/rejected_by_reason/"))
    {
        let c = cells(row);
        let (reason, vektis, n) = (c[0], c[1], by_reason[c[0]].as_u64().unwrap());
        assert_eq!(c[2], n.to_string(), "{row}");
        let in_contract = contract
            .lines()
            .find_map(|l| l.strip_prefix(&format!("| `{reason}` | ")))
            .and_then(|l| l.split(" |").next())
            .unwrap_or_else(|| panic!("{reason} in the contract's table"));
        assert!(
            in_contract == vektis
                || (vektis.len() == 4 && in_contract.contains(vektis))
                || (vektis.is_empty() && in_contract == "none"),
            "{reason}: Vektis {vektis:?} on the page, {in_contract:?} in the contract"
        );
        let svg = tag_at(row, row.find("<svg ").unwrap() + 1);
        assert_eq!(
            attr(svg, "data-value"),
            Some(n.to_string().as_str()),
            "{row}"
        );
        assert_eq!(
            attr(svg, "data-max"),
            Some(max.to_string().as_str()),
            "{row}"
        );
        rows += 1;
    }
    assert_eq!(rows, by_reason.len());

    // Paid per product and layer adds up to the summary's paid per layer.
    let mut per_layer: BTreeMap<&str, i64> = BTreeMap::new();
    for (at, _) in dom.match_indices(" data-layer=\"") {
        let tag = tag_at(dom, at);
        assert!(
            attr(tag, "data-product").is_some_and(|p| !p.is_empty()),
            "{tag}"
        );
        *per_layer
            .entry(attr(tag, "data-layer").unwrap())
            .or_default() += cents(text_after(dom, at));
    }
    for (layer, total) in [
        ("basic", "paid_basic"),
        ("supplementary", "paid_supplementary"),
    ] {
        assert_eq!(
            per_layer.get(layer).copied(),
            Some(cents(s["totals"][total].as_str().unwrap())),
            "{layer}"
        );
    }

    // The refused files.
    let refused: Vec<&Value> = s["input_files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !f["refused"].is_null())
        .collect();
    assert!(!refused.is_empty(), "the night refuses a file");
    for f in refused {
        let row = format!(
            "<tr><td>{}</td><td>{}</td>",
            f["file"].as_str().unwrap(),
            f["reason"].as_str().unwrap()
        );
        assert!(dom.contains(&row), "{row}");
    }
    assert!(assert_bars_draw_their_numbers(dom, "report.html") > by_reason.len());
}

/// The fixture night with a truncated XML file (refused whole) into a fresh ledger: some lines
/// are rejected, one file is refused. `report.html` in chromium is drawn, shows `summary.json`'s
/// figures, and fetches nothing.
#[test]
fn the_report_in_chromium_is_drawn_shows_the_summary_and_fetches_nothing() {
    if !have_chromium() {
        return;
    }
    let dir = Dir::new("report-browser");
    let out = dir.join("out");
    let night = dir.process().quiet().inputs(runs::fixture_claims());
    // A file is refused.
    night.input("tests/corpus/truncated.xml").assert_exit(2);
    let s = summary(&out);
    assert!(s["outcomes"]["rejected"].as_u64().unwrap() > 0);

    assert_a_request_is_seen(dir.path());
    let report = out.join("report.html");
    assert_drawn(&report, dir.path(), "report.html");
    let l = load(&file_url(&report), &["--dump-dom"]);
    l.assert_no_network_request("report.html (DOM)");
    assert!(
        l.stdout.contains("<h1>declaro run report</h1>"),
        "{}",
        l.stdout
    );
    assert_report_matches_summary(&l.stdout, &s);
}

/// `diff --html` of two dry runs, the second with one maximum raised: the page in chromium is
/// drawn, fetches nothing, and shows the deltas of `diff --json`.
#[test]
fn the_diff_page_in_chromium_is_drawn_and_fetches_nothing() {
    if !have_chromium() {
        return;
    }
    let dir = Dir::new("report-browser");
    let (a, b) = runs::two_dry_runs_with_a_raised_maximum(&dir);
    let page = dir.join("diff.html");
    let d: Value = serde_json::from_str(&runs::diff_html(&a, &b, &page, true)).unwrap();

    assert_a_request_is_seen(dir.path());
    assert_drawn(&page, dir.path(), "diff.html");
    let l = load(&file_url(&page), &["--dump-dom"]);
    l.assert_no_network_request("diff.html (DOM)");
    let dom = &l.stdout;
    let mut rows = 0;
    for section in ["totals", "paid_per_product", "lines_per_reason"] {
        for (k, v) in d[section].as_object().unwrap() {
            let at = dom
                .find(&format!("<tr data-key=\"{section}/{k}\">"))
                .unwrap_or_else(|| panic!("{section}/{k}"));
            let row = &dom[at..at + dom[at..].find("</tr>").unwrap()];
            let c = cells(row);
            assert_eq!(
                [c[1], c[3], c[5]],
                [&v["a"], &v["b"], &v["delta"]].map(|x| x.as_str().unwrap()),
                "{row}"
            );
            rows += 1;
        }
    }
    assert!(rows > 10);
    assert!(dom.contains(&format!(
        "<span data-key=\"changed_lines\">{}</span>",
        d["changed_lines"]
    )));
    assert!(assert_bars_draw_their_numbers(dom, "diff.html") >= 2 * rows);
}
