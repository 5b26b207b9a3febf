use clap::Parser;
use declaro::cli::{Cli, Command, GenFormat, LedgerCommand, LogFormat};
use declaro::{cmd, Error, ExitStatus};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

fn init_logging(quiet: bool, format: LogFormat) {
    let default = if quiet { "warn" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Prints a failure and gives its exit code: the one place that turns errors into codes.
fn fail(e: Error) -> ExitStatus {
    eprintln!("declaro: {e}");
    e.exit_status()
}

/// What `process` says to the operator on stderr besides its log: plain lines, or with
/// `--log-format json` log events, so that every line on stderr is one JSON object.
struct Say {
    json: bool,
}

impl Say {
    fn info(&self, text: &str) {
        for line in text.lines() {
            match self.json {
                true => tracing::info!("{line}"),
                false => eprintln!("{line}"),
            }
        }
    }

    fn fail(&self, e: Error) -> ExitStatus {
        match self.json {
            true => tracing::error!(exit_code = e.exit_status() as u8, "{e}"),
            false => eprintln!("declaro: {e}"),
        }
        e.exit_status()
    }
}

/// Big allocations straight from the kernel and back to it when freed. glibc otherwise raises
/// its mmap threshold after the first big free, and the chunks that the parallel readers build
/// and hand over then stay resident after they are freed: 640 MB instead of 430 MB peak for a
/// 2M-line night (measured, BENCHMARKS.md).
fn allocate_big_blocks_directly() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// A file size limit (`ulimit -f`) makes writes fail (and the run clean up and exit 1) rather
/// than kill the process with SIGXFSZ, which would leave its temporary files behind.
fn fail_writes_over_the_file_size_limit() {
    #[cfg(unix)]
    // SAFETY: setting a signal to be ignored is async-signal-safe and runs before any thread.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

fn main() -> std::process::ExitCode {
    allocate_big_blocks_directly();
    fail_writes_over_the_file_size_limit();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                ExitStatus::Usage as u8
            } else {
                0
            };
            let _ = e.print();
            return std::process::ExitCode::from(code);
        }
    };
    let status = match cli.command {
        Command::Process(args) => {
            init_logging(args.quiet, args.log_format);
            let say = Say {
                json: args.log_format == LogFormat::Json,
            };
            match args.settings().and_then(|s| cmd::process::run(&s)) {
                Ok(report) => {
                    if let (Some(summary), false) = (&report.summary, args.quiet) {
                        say.info(&summary.closing(report.run_id, &args.out));
                    }
                    if report.refused_files > 0 {
                        let note = format!(
                            "{} input file(s) refused; see summary.json",
                            report.refused_files
                        );
                        match say.json {
                            true => tracing::warn!("{note}"),
                            false => eprintln!("declaro: {note}"),
                        }
                        ExitStatus::FilesRefused
                    } else {
                        ExitStatus::Success
                    }
                }
                Err(f) => say.fail(f),
            }
        }
        Command::Generate {
            lines,
            members,
            seed,
            night,
            format,
            out,
        } => {
            let s = cmd::generate::Settings {
                lines,
                members,
                seed,
                night,
                xml: format == GenFormat::Xml,
                out,
            };
            match cmd::generate::run(&s) {
                Ok(msg) => {
                    eprint!("{msg}");
                    ExitStatus::Success
                }
                Err(f) => fail(f),
            }
        }
        Command::Ledger { ledger, command } => {
            let result = match ledger {
                None => Err(Error::Usage(
                    "--ledger FILE or --ledger postgres://... is required".into(),
                )),
                Some(path) => {
                    let ledger = declaro::ledger::Location::parse(path.as_os_str());
                    match command {
                        LedgerCommand::Show { member, year } => {
                            cmd::ledger::show(&ledger, &member, year)
                        }
                        LedgerCommand::Runs => cmd::ledger::runs(&ledger),
                    }
                }
            };
            match result {
                Ok(out) => {
                    print!("{out}");
                    ExitStatus::Success
                }
                Err(f) => fail(f),
            }
        }
        Command::Diff { a, b, json, html } => match cmd::diff::diff(&a, &b) {
            Ok(d) => {
                // The page first: when it cannot be written, the command fails before it
                // printed anything that looks like success.
                if let Some(Err(e)) = html.map(|f| d.write_html(&a, &b, &f)) {
                    return fail(e).into();
                }
                if json {
                    println!("{}", serde_json::to_string_pretty(&d).unwrap_or_default());
                } else {
                    print!("{}", d.text(&a, &b));
                }
                ExitStatus::Success
            }
            Err(f) => fail(f),
        },
        Command::Merge { out, shards } => {
            let req = cmd::merge::Request {
                out: out.clone(),
                shards,
            };
            match cmd::merge::merge(&req) {
                Ok(summary) => {
                    let refused = summary
                        .input_files
                        .iter()
                        .filter(|f| f.refused.is_some())
                        .count();
                    eprintln!(
                        "declaro: merged {} shards into {}: {} lines, {} paid, {} rejected",
                        summary.merged_from.len(),
                        out.display(),
                        summary.lines,
                        summary.outcomes.get("paid").copied().unwrap_or(0),
                        summary.outcomes.get("rejected").copied().unwrap_or(0)
                    );
                    if refused > 0 {
                        eprintln!("declaro: {refused} input file(s) refused; see summary.json");
                        ExitStatus::FilesRefused
                    } else {
                        ExitStatus::Success
                    }
                }
                Err(f) => fail(f),
            }
        }
        Command::CheckPolicy { paths } => match cmd::check_policy::run(&paths) {
            Ok(out) => {
                print!("{out}");
                ExitStatus::Success
            }
            Err(f) => fail(f),
        },
        Command::Explain {
            ledger,
            out,
            run,
            line,
            json,
        } => {
            let req = cmd::explain::Request {
                ledger: declaro::ledger::Location::parse(ledger.as_os_str()),
                out,
                run,
                line,
            };
            match cmd::explain::explain(&req) {
                Ok(e) if json => {
                    println!("{}", serde_json::to_string_pretty(&e).unwrap_or_default());
                    ExitStatus::Success
                }
                Ok(e) => {
                    print!("{}", e.text());
                    ExitStatus::Success
                }
                Err(f) => fail(f),
            }
        }
    };
    status.into()
}
