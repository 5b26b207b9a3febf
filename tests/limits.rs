//! Memory stays bounded on garbage input (issue 8): a 64 MB file without line ends, in each
//! format, is read with a peak resident set far below its size. Each file is read in a child
//! process (this test binary again, running only `child_reads_the_file`), which reports its own
//! peak (`VmHWM` in `/proc/self/status`), so the parent's memory does not count. Where
//! `/usr/bin/time` exists, the whole `declaro process` run on the CSV file is measured too.

mod util;

use std::io::Write;
use std::path::Path;
use std::process::Command;

const SIZE: usize = 64 << 20;
const CHILD_ENV: &str = "DECLARO_LIMITS_CHILD_FILE";

/// Peak RSS (VmHWM) of this process in kB.
fn vm_hwm_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Runs only in the child: reads the file named by CHILD_ENV and prints the peak RSS.
#[test]
fn child_reads_the_file() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let before = vm_hwm_kb();
    let read =
        declaro::input::read_file(Path::new(&path), "garbage", 0, &declaro::input::no_progress);
    let outcome = match read.refusal {
        None => format!("read {} records", read.records),
        Some(r) => format!("refused: {r}"),
    };
    println!("OUTCOME {outcome}");
    println!("VMHWM_BEFORE {before}");
    println!("VMHWM {}", vm_hwm_kb());
}

/// Reads `path` in a child process; returns its peak RSS in kB and what it read.
fn peak_of_reading(path: &Path) -> (u64, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_reads_the_file",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, path)
        .output()
        .expect("run the child");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "child failed: {text}");
    let value = |key: &str| {
        // The harness prints "test NAME ... " before the child's first line.
        text.lines()
            .find_map(|l| l.split_once(key).map(|(_, v)| v))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {key} in {text}"))
    };
    let kb = value("VMHWM ").parse().unwrap();
    (kb, value("OUTCOME "))
}

/// Pseudo-random bytes without line ends (xorshift; no `\n`, no `\r`).
fn garbage(w: &mut impl Write, mut n: usize) {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut chunk = vec![0u8; 1 << 16];
    while n > 0 {
        for b in chunk.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = match (x >> 32) as u8 {
                b'\n' | b'\r' => b'x',
                c => c,
            };
        }
        let k = n.min(chunk.len());
        w.write_all(&chunk[..k]).unwrap();
        n -= k;
    }
}

fn write_file(
    dir: &Path,
    name: &str,
    head: &[u8],
    fill: impl FnOnce(&mut dyn Write),
) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    f.write_all(head).unwrap();
    fill(&mut f);
    f.flush().unwrap();
    path
}

#[test]
fn a_64_mb_file_without_line_ends_is_read_in_bounded_memory() {
    let dir = util::Dir::new("limits");
    let header = format!("{}\nC1,C-1,45678901,M050,,", util::claims::ALL);
    let files = [
        (
            write_file(dir.path(), "garbage.csv", header.as_bytes(), |w| {
                garbage(&mut WriteRef(w), SIZE)
            }),
            "read 1 records",
        ),
        (
            // Random bytes from the first byte: the header itself is the over-long record.
            write_file(dir.path(), "random.csv", b"", |w| {
                garbage(&mut WriteRef(w), SIZE)
            }),
            "refused",
        ),
        (
            write_file(
                dir.path(),
                "garbage.xml",
                b"<declaration xmlns=\"urn:declaro:declaration:1\"><insured><line code=\"",
                // No '>' and no quote: quick-xml would hold the whole tag.
                |w| {
                    for _ in 0..SIZE >> 16 {
                        w.write_all(&[b'9'; 1 << 16]).unwrap();
                    }
                },
            ),
            "refused: garbage byte 56 <insured>: an element, text or comment longer than 1048576",
        ),
        (
            write_file(dir.path(), "garbage.dat", b"01107", |w| {
                garbage(&mut WriteRef(w), SIZE)
            }),
            "refused",
        ),
    ];
    let limit_kb = (SIZE / 1024 / 4) as u64;
    for (path, outcome) in &files {
        let (kb, got) = peak_of_reading(path);
        eprintln!("{}: peak RSS {kb} kB ({got})", path.display());
        assert!(got.starts_with(outcome), "{}: {got}", path.display());
        assert!(
            kb > 0 && kb < limit_kb,
            "{}: peak RSS {kb} kB for a {} kB file",
            path.display(),
            SIZE / 1024
        );
    }

    // The whole run on the CSV file, measured from outside where GNU time is installed.
    if Path::new("/usr/bin/time").exists() {
        let out = dir.join("out");
        let run = util::Process::new(&out).no_providers().input(&files[0].0);
        let o = run.wrapped("/usr/bin/time", &["-v"]).ok();
        let kb: u64 = util::stderr(&o)
            .lines()
            .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
            .and_then(|v| v.trim().parse().ok())
            .expect("GNU time reports the maximum resident set size");
        eprintln!(
            "declaro process on a {} kB garbage file: peak RSS {kb} kB",
            SIZE / 1024
        );
        assert!(kb < limit_kb, "declaro process: peak RSS {kb} kB");
        let rejections = util::read(out.join("rejections.csv"));
        assert!(rejections.contains("over the limit of 65536 (raw holds its first 65536 bytes)"));
    }
}

/// Lets the `&mut dyn Write` of `write_file` be passed where `impl Write` is wanted.
struct WriteRef<'a>(&'a mut dyn Write);

impl Write for WriteRef<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.write(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
