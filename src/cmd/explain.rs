//! `declaro explain --ledger FILE AGB/LINE_ID`: why a line of a run was paid what it was paid,
//! step by step (issue 18).
//!
//! The trace is re-derived, not stored: the run's `summary.json` records what it read (policy
//! files, registers and inputs, by absolute path and sha256) and the ledger state it started
//! from. `explain` checks that those files are unchanged, replays the run's read, screen and
//! group stages against a read-only snapshot of the ledger as it stood then, and adjudicates
//! the line's member with a tracer ([`crate::pipeline::replay`]). The result must equal the
//! line's row in the run's `remittance.csv` or `rejections.csv`; if it does not, `explain`
//! says so and fails. No member number, BSN, name or birth date is printed.

use crate::adjudicate::Step;
use crate::error::Error;
use crate::ledger::Location;
use crate::model::{Date, Reason};
use crate::night::{Outcome, Payment};
use crate::output::summary::Setup;
use crate::output::table::Table;
use crate::pipeline::replay::{self, Replayed, Stage};
use crate::pipeline::{rerun, Settings};
use crate::policy::{self, PolicySet};
use crate::registers::{self, Providers};
use crate::shard::Shard;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What `declaro explain` was asked.
#[derive(Debug, Clone)]
pub struct Request {
    pub ledger: Location,
    /// The output directory of the run (needed for a dry run; otherwise found in the ledger).
    pub out: Option<PathBuf>,
    /// Only this committed run.
    pub run: Option<i64>,
    /// `PROVIDER_AGB/LINE_ID`.
    pub line: String,
}

/// A row of the run's outputs, by column name.
#[derive(Debug, Clone)]
struct Row {
    /// `remittance.csv` or `rejections.csv`.
    output: &'static str,
    fields: HashMap<String, String>,
}

impl Row {
    fn get(&self, column: &str) -> &str {
        self.fields.get(column).map_or("", String::as_str)
    }
}

/// The line, as its row and the replay show it.
#[derive(Debug, Serialize)]
pub struct LineFacts {
    pub provider_agb: String,
    pub line_id: String,
    pub file: String,
    pub record: u32,
    /// As the output row has them: a line rejected while reading may have no valid date,
    /// code or amount.
    pub service_date: String,
    pub code: String,
    pub claimed: String,
    /// Only for a line that was read (`None` when its record was not valid).
    pub quantity: Option<u16>,
    pub credit: bool,
}

/// What the line came to.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Verdict {
    Paid {
        paid_basic: String,
        deductible: String,
        paid_supplementary: String,
        member_pays: String,
        products: String,
        reasons: String,
    },
    Rejected {
        reason: String,
        vektis: String,
        message: String,
    },
}

/// A line's trace.
#[derive(Debug, Serialize)]
pub struct Explanation {
    /// The committed run (`None`: a dry run).
    pub run: Option<i64>,
    pub out: String,
    pub line: LineFacts,
    /// `read`, `screen` or `adjudicate`.
    pub decided_in: &'static str,
    pub steps: Vec<Step>,
    pub result: Verdict,
    /// The output row the replay was checked against.
    pub agrees_with: String,
}

/// Explains one line.
pub fn explain(req: &Request) -> Result<Explanation, Error> {
    let (agb, line_id) = parse_key(&req.line)?;
    let (run, out, row) = locate(req, agb, line_id)?;
    let summary = read_summary(&out)?;
    let setup: Setup = serde_json::from_value(summary["setup"].clone()).map_err(|_| {
        Error::Usage(format!(
            "{}/summary.json records no setup (written by an older declaro): the run cannot be \
             replayed",
            out.display()
        ))
    })?;
    let files = summary["input_files"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let file = files
        .iter()
        .position(|f| f["file"].as_str() == Some(row.get("file")))
        .ok_or_else(|| {
            Error::Usage(format!(
                "{} of {} names file {:?}, which summary.json does not list",
                row.output,
                out.display(),
                row.get("file")
            ))
        })?;
    unchanged(&setup)?;
    // The inputs and the member register are checked by the replay as it reads them.
    let sha256: Vec<String> = files
        .iter()
        .map(|f| f["sha256"].as_str().unwrap_or("").to_string())
        .collect();
    // A shard's run is replayed as that shard: its inputs processed per shard.
    let shard = match &summary["shard"] {
        serde_json::Value::Null => Shard::ALL,
        v => v["index"]
            .as_u64()
            .zip(v["count"].as_u64())
            .and_then(|(i, n)| Shard::new(i as u32, n as u32))
            .ok_or_else(|| Error::Usage(format!("{}/summary.json: a bad shard", out.display())))?,
    };
    let run_date = Date::parse(summary["run_date"].as_str().unwrap_or(""))
        .ok_or_else(|| Error::Usage(format!("{}/summary.json: no run_date", out.display())))?;
    let s = Settings {
        policies: setup
            .policies
            .iter()
            .map(|f| PathBuf::from(&f.path))
            .collect(),
        members: PathBuf::from(&setup.members.path),
        providers: setup.providers.as_ref().map(|f| PathBuf::from(&f.path)),
        ledger: req.ledger.clone(),
        out: out.clone(),
        threads: 1,
        run_date,
        progress: false,
        inputs: setup.inputs.iter().map(PathBuf::from).collect(),
        ei_return: None,
        dry_run: true,
        shard,
    };
    let policies = policy::load(&s.policies)?;
    let providers = match &s.providers {
        Some(p) => registers::load_providers(p, &policies)?,
        None => Providers::default(),
    };
    let mut ledger = req.ledger.snapshot(setup.ledger_after_run, shard)?;
    let record: u32 = row
        .get("record")
        .parse()
        .map_err(|_| Error::Usage(format!("record {:?} is not a number", row.get("record"))))?;
    let at = replay::At {
        file,
        record,
        sha256: &sha256,
        members_sha256: &setup.members.sha256,
    };
    let replayed = replay::replay(&s, &policies, &providers, &mut *ledger, &at)?;
    let result = result_of(&replayed, &policies, &row);
    let expected = expected(&row);
    if !agrees(&result, &expected) {
        return Err(Error::Internal(format!(
            "the replay of {} does not agree with its row in {} of {}: replayed {result:?}, \
             written {expected:?}",
            req.line,
            row.output,
            out.display()
        )));
    }
    let l = &replayed.line;
    let read = replayed.stage != Stage::Read;
    Ok(Explanation {
        run,
        out: out.display().to_string(),
        line: LineFacts {
            provider_agb: agb.to_string(),
            line_id: row.get("line_id").into(),
            file: row.get("file").into(),
            record,
            service_date: row.get("service_date").into(),
            code: row.get("code").into(),
            claimed: row.get("claimed").into(),
            quantity: read.then_some(l.quantity),
            credit: read && l.credit(),
        },
        decided_in: match replayed.stage {
            Stage::Read => "read",
            Stage::Screen => "screen",
            Stage::Adjudicate => "adjudicate",
        },
        steps: replayed.steps,
        result,
        agrees_with: format!("{} record {record} of {}", row.output, row.get("file")),
    })
}

/// `AGB/LINE_ID`: the AGB a number, the line id the rest (it may hold `/`).
fn parse_key(key: &str) -> Result<(u32, &str), Error> {
    key.split_once('/')
        .and_then(|(agb, id)| Some((agb.parse().ok()?, id)))
        .filter(|(_, id)| !id.is_empty())
        .ok_or_else(|| {
            Error::Usage(format!(
                "{key:?}: give the line as PROVIDER_AGB/LINE_ID, e.g. 12345678/L0001"
            ))
        })
}

/// The run and its row for the line: with `--out`, in that directory; else in the output
/// directories of the ledger's runs, newest first, the newest that paid it, else the newest
/// that rejected it.
fn locate(req: &Request, agb: u32, line_id: &str) -> Result<(Option<i64>, PathBuf, Row), Error> {
    if let Some(file) = req.ledger.file().filter(|f| !f.exists()) {
        let shown = file.display();
        return Err(Error::Usage(format!("ledger {shown} does not exist")));
    }
    let runs = req.ledger.snapshot(i64::MAX, Shard::ALL)?.runs()?;
    if let Some(want) = req.run.filter(|w| !runs.iter().any(|(r, _)| r == w)) {
        let ids: Vec<String> = runs.iter().map(|(r, _)| r.to_string()).collect();
        return Err(Error::Usage(format!(
            "ledger {} has no run {want} (its runs: {})",
            req.ledger.shown(),
            if ids.is_empty() {
                "none".into()
            } else {
                ids.join(", ")
            }
        )));
    }
    let dirs: Vec<(Option<i64>, PathBuf)> = match &req.out {
        Some(out) => {
            let abs = std::path::absolute(out).unwrap_or_else(|_| out.clone());
            let dry = read_summary(out)?["dry_run"].as_bool().unwrap_or(false);
            let run = (!dry)
                .then(|| {
                    runs.iter()
                        .find(|(_, d)| Path::new(d) == abs)
                        .map(|(r, _)| *r)
                })
                .flatten();
            vec![(run, out.clone())]
        }
        None => runs
            .iter()
            .rev()
            .filter(|(r, _)| req.run.is_none_or(|want| want == *r))
            .map(|(r, d)| (Some(*r), PathBuf::from(d)))
            .collect(),
    };
    let mut rejected = None;
    for (run, dir) in &dirs {
        if let Some(row) = find_row(dir, "remittance.csv", agb, line_id)? {
            return Ok((*run, dir.clone(), row));
        }
        if rejected.is_none() {
            if let Some(row) = find_row(dir, "rejections.csv", agb, line_id)? {
                rejected = Some((*run, dir.clone(), row));
            }
        }
    }
    rejected.ok_or_else(|| {
        let looked: Vec<String> = dirs.iter().map(|(_, d)| d.display().to_string()).collect();
        Error::Usage(format!(
            "line {agb}/{line_id} is in no remittance.csv or rejections.csv of {}",
            if looked.is_empty() {
                "the ledger's runs (it has none)".to_string()
            } else {
                looked.join(", ")
            }
        ))
    })
}

/// The row of one output file for the line, if any (the last, should there be several).
fn find_row(
    dir: &Path,
    output: &'static str,
    agb: u32,
    line_id: &str,
) -> Result<Option<Row>, Error> {
    let path = dir.join(output);
    if !path.exists() {
        return Ok(None);
    }
    let mut t = Table::open(&path)?;
    let (agb_col, id_col) = (t.column("provider_agb")?, t.column("line_id")?);
    let headers = t.headers().clone();
    let agb = agb.to_string();
    let mut found = None;
    for row in t.rows() {
        let row = row?;
        if row.get(agb_col) == Some(agb.as_str()) && row.get(id_col) == Some(line_id) {
            found = Some(Row {
                output,
                fields: headers
                    .iter()
                    .zip(row.iter())
                    .map(|(h, v)| (h.to_string(), v.to_string()))
                    .collect(),
            });
        }
    }
    Ok(found)
}

fn read_summary(out: &Path) -> Result<serde_json::Value, Error> {
    let path = out.join("summary.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))
}

/// Refuses a replay when a policy file or the provider register the run read has changed
/// since: the trace would not be the run's. (The inputs and the member register are checked
/// as the replay reads them.)
fn unchanged(setup: &Setup) -> Result<(), Error> {
    let recorded = setup.policies.iter().chain(setup.providers.as_ref());
    for f in recorded {
        let now = rerun::sha256_of(Path::new(&f.path));
        if now != f.sha256 {
            return Err(replay::changed(&f.path, &f.sha256, &now));
        }
    }
    Ok(())
}

/// The replay's outcome in the output's terms.
fn result_of(r: &Replayed, policies: &PolicySet, row: &Row) -> Verdict {
    match r.outcome {
        Outcome::Paid(p) => paid(&p, r.line.signed_amount(), policies),
        Outcome::Rejected(reason, _) => rejected(reason, row.get("message")),
        Outcome::Pending | Outcome::OtherShard => Verdict::Rejected {
            reason: "(undecided)".into(),
            vektis: String::new(),
            message: String::new(),
        },
    }
}

fn paid(p: &Payment, claimed: crate::model::Cents, policies: &PolicySet) -> Verdict {
    let products: Vec<&str> = p
        .products
        .iter()
        .map(|i| policies.products[i].id.as_str())
        .collect();
    Verdict::Paid {
        paid_basic: p.paid_basic.to_string(),
        deductible: p.deductible.to_string(),
        paid_supplementary: p.paid_supplementary.to_string(),
        member_pays: p.member_pays(claimed).to_string(),
        products: products.join("+"),
        reasons: p.reasons.joined(),
    }
}

/// A rejection; the message is the row's (the replay decides the reason, the row words it).
fn rejected(reason: Reason, message: &str) -> Verdict {
    Verdict::Rejected {
        reason: reason.code().into(),
        vektis: reason.vektis().unwrap_or("").into(),
        message: message.into(),
    }
}

/// What the row says.
fn expected(row: &Row) -> Verdict {
    if row.output == "remittance.csv" {
        Verdict::Paid {
            paid_basic: row.get("paid_basic").into(),
            deductible: row.get("deductible").into(),
            paid_supplementary: row.get("paid_supplementary").into(),
            member_pays: row.get("member_pays").into(),
            products: row.get("products").into(),
            reasons: row.get("reasons").into(),
        }
    } else {
        Verdict::Rejected {
            reason: row.get("reason").into(),
            vektis: String::new(),
            message: row.get("message").into(),
        }
    }
}

/// Whether the replay's result is the row's (a rejection by its reason).
fn agrees(replayed: &Verdict, written: &Verdict) -> bool {
    match (replayed, written) {
        (Verdict::Rejected { reason: a, .. }, Verdict::Rejected { reason: b, .. }) => a == b,
        (a, b) => a == b,
    }
}

impl Explanation {
    /// The trace as text for a person.
    pub fn text(&self) -> String {
        let mut t = String::new();
        let l = &self.line;
        let run = match self.run {
            Some(r) => format!("run {r}"),
            None => "a dry run".into(),
        };
        let _ = writeln!(
            t,
            "line {}/{} ({} record {}), {run} in {}",
            l.provider_agb, l.line_id, l.file, l.record, self.out
        );
        let quantity = l
            .quantity
            .map_or(String::new(), |q| format!(", quantity {q}"));
        let _ = writeln!(
            t,
            "  service date {}, code {}{quantity}, claimed {}{}",
            l.service_date,
            l.code,
            l.claimed,
            if l.credit { " (credit)" } else { "" }
        );
        match self.decided_in {
            "read" => t.push_str("decided while reading its file: the record was not valid\n"),
            "screen" => t.push_str("decided by screening, before adjudication\n"),
            _ => {}
        }
        for step in &self.steps {
            t.push_str(&step_text(step));
        }
        match &self.result {
            Verdict::Paid {
                paid_basic,
                deductible,
                paid_supplementary,
                member_pays,
                products,
                reasons,
            } => {
                let _ = writeln!(
                    t,
                    "result: paid basic {paid_basic} (of which deductible {deductible}), \
                     supplementary {paid_supplementary}; the member pays {member_pays}; \
                     products {products}; reasons {}",
                    if reasons.is_empty() { "none" } else { reasons }
                );
            }
            Verdict::Rejected {
                reason,
                vektis,
                message,
            } => {
                let _ = writeln!(t, "result: rejected {reason} (Vektis {vektis}): {message}");
            }
        }
        let _ = writeln!(t, "agrees with {}", self.agrees_with);
        t
    }
}

fn yes(applied: bool) -> &'static str {
    if applied {
        "applies"
    } else {
        "does not apply"
    }
}

/// One step as a line (or a few) of text.
fn step_text(step: &Step) -> String {
    match step {
        Step::Line { .. } => String::new(),
        Step::Credit { reverses, result } => {
            format!("credit of line {reverses}: {result}\n")
        }
        Step::Held { products } => {
            let mut t = "products held on the service date, in layer order:\n".to_string();
            for p in products {
                let _ = writeln!(
                    t,
                    "  {} ({}, insured since {})",
                    p.product, p.layer, p.since
                );
            }
            t
        }
        Step::NotInsured => "no product is held on the service date\n".into(),
        Step::UnknownCode { code } => format!("no product knows code {code}\n"),
        Step::YearNotConfigured { product, year } => {
            format!("{product} has no mandatory deductible for {year}\n")
        }
        Step::Layer {
            product,
            benefit: Some(b),
            benefit_name,
            ..
        } => format!(
            "{product}: benefit {b} ({})\n",
            benefit_name.as_deref().unwrap_or("")
        ),
        Step::Layer {
            product,
            no_benefit,
            ..
        } => format!(
            "{product}: no benefit matched: {}\n",
            no_benefit.unwrap_or("none covers the line")
        ),
        Step::NothingLeft { product } => {
            format!("  {product}: the earlier layers paid the whole line\n")
        }
        Step::Condition {
            check,
            passed,
            detail,
        } => format!(
            "  {check}: {} ({detail})\n",
            if *passed { "met" } else { "NOT met" }
        ),
        Step::Units {
            pool,
            window,
            max,
            used_before,
            quantity,
            allowed,
        } => format!(
            "  limit {pool} ({window}): {used_before} of {max} units used before; \
             {allowed} of {quantity} allowed\n"
        ),
        Step::AuthorizationFrom {
            from,
            used_before,
            allowed,
        } => format!(
            "  authorization needed from unit {from}: {used_before} used before, {allowed} \
             allowed without one\n"
        ),
        Step::Base {
            basis,
            amount,
            legal_copay,
            units_paid,
        } => {
            let mut t = format!("  base ({basis}): {amount}");
            if let Some(c) = legal_copay {
                let _ = write!(t, ", after the legal personal contribution {c}");
            }
            if let Some(u) = units_paid {
                let _ = write!(t, ", for {u} units");
            }
            t.push('\n');
            t
        }
        Step::Percentage { percent, amount } => format!("  percentage {percent}%: {amount}\n"),
        Step::TariffCap {
            per_unit,
            units,
            cap,
            applied,
            amount,
        } => format!(
            "  tariff cap {per_unit} x {units} = {cap}: {}, {amount}\n",
            yes(*applied)
        ),
        Step::MaxPerLine {
            cap,
            applied,
            amount,
        } => format!("  maximum per line {cap}: {}, {amount}\n", yes(*applied)),
        Step::Euros {
            pool,
            window,
            max,
            used_before,
            room,
            applied,
            amount,
        } => format!(
            "  limit {pool} ({window}): {used_before} of {max} used before, {room} left: {}, \
             {amount}\n",
            yes(*applied)
        ),
        Step::Rejected { reason } => format!("  rejected: {reason}\n"),
        Step::Paid {
            product,
            amount,
            counters,
        } => {
            let mut t = format!("  {product} pays {amount}\n");
            for c in counters {
                let _ = writeln!(
                    t,
                    "    {} ({}): units {} -> {}, euros {} -> {}",
                    c.pool, c.window, c.units_before, c.units_after, c.euros_before, c.euros_after
                );
            }
            t
        }
        Step::Deductible {
            year,
            mandatory,
            voluntary,
            used_before,
            charged,
            used_after,
        } => format!(
            "  deductible {year} (mandatory {mandatory} + voluntary {voluntary}): {used_before} \
             used before, {charged} charged, {used_after} after\n"
        ),
        Step::NoDeductible { why } => format!("  no deductible: {why}\n"),
    }
}
