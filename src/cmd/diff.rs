//! `declaro diff OUT_A OUT_B`: what changed between two runs of the same inputs, typically two
//! `--dry-run`s over one ledger, one with a changed policy (issue 18). It reads the two runs'
//! `remittance.csv` and `rejections.csv`, pairs the lines by (file, record), and gives the
//! totals per product and layer and the lines per reason, each with its delta, the number of
//! lines whose outcome changed and the largest changes. Only the outputs are read: no personal
//! data beyond what they hold (member numbers are not printed).

use crate::model::Cents;
use crate::output::table::Table;
use crate::Error;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// How many of the largest changes are listed.
const LARGEST: usize = 10;

/// One line's outcome in one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Outcome {
    line_id: String,
    paid_basic: i64,
    paid_supplementary: i64,
    member_pays: i64,
    products: String,
    /// The remittance row's reasons, or the rejection's reason.
    reasons: String,
    rejected: bool,
}

impl Outcome {
    fn paid(&self) -> i64 {
        self.paid_basic + self.paid_supplementary
    }
    fn shown(&self) -> String {
        if self.rejected {
            format!("rejected {}", self.reasons)
        } else if self.reasons.is_empty() {
            format!("paid {}", Cents(self.paid()))
        } else {
            format!("paid {} ({})", Cents(self.paid()), self.reasons)
        }
    }
}

type Key = (String, u64);

/// A signed amount in cents as the outputs write it (`-26.59`).
fn cents(s: &str) -> Result<i64, String> {
    Cents::parse_signed(s.as_bytes())
        .map(|c| c.0)
        .map_err(|e| format!("amount {s:?}: {e}"))
}

/// Reads one run's outputs into its lines.
fn read_run(out: &Path) -> Result<BTreeMap<Key, Outcome>, Error> {
    let mut lines = BTreeMap::new();
    for (name, rejected) in [("remittance.csv", false), ("rejections.csv", true)] {
        let path = out.join(name);
        let mut t = Table::open(&path)?;
        let bad =
            |what: &dyn std::fmt::Display| Error::Usage(format!("{}: {what}", path.display()));
        let columns: Vec<usize> = [
            "file",
            "record",
            "line_id",
            if rejected { "reason" } else { "reasons" },
        ]
        .iter()
        .map(|c| t.column(c))
        .collect::<Result<_, _>>()?;
        let amounts: Vec<usize> = if rejected {
            Vec::new()
        } else {
            [
                "paid_basic",
                "paid_supplementary",
                "member_pays",
                "products",
            ]
            .iter()
            .map(|c| t.column(c))
            .collect::<Result<_, _>>()?
        };
        let (file, record, line_id, reasons) = (columns[0], columns[1], columns[2], columns[3]);
        for row in t.rows() {
            let row = row?;
            let field = |i: usize| row.get(i).unwrap_or("");
            let record: u64 = field(record)
                .parse()
                .map_err(|_| bad(&format!("record {:?} is not a number", field(record))))?;
            let outcome = if rejected {
                Outcome {
                    line_id: field(line_id).into(),
                    reasons: field(reasons).into(),
                    rejected: true,
                    ..Outcome::default()
                }
            } else {
                let amount = |i: usize| cents(field(amounts[i])).map_err(|e| bad(&e));
                Outcome {
                    line_id: field(line_id).into(),
                    paid_basic: amount(0)?,
                    paid_supplementary: amount(1)?,
                    member_pays: amount(2)?,
                    products: field(amounts[3]).into(),
                    reasons: field(reasons).into(),
                    rejected: false,
                }
            };
            if lines
                .insert((field(file).to_string(), record), outcome)
                .is_some()
            {
                return Err(bad(&format!(
                    "line {} record {record} appears twice",
                    field(file)
                )));
            }
        }
    }
    Ok(lines)
}

/// An amount of run A, of run B and their difference, as text.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    pub a: String,
    pub b: String,
    pub delta: String,
}

impl Delta {
    fn of_cents(a: i64, b: i64) -> Delta {
        Delta {
            a: Cents(a).to_string(),
            b: Cents(b).to_string(),
            delta: Cents(b - a).to_string(),
        }
    }
    fn of_counts(a: i64, b: i64) -> Delta {
        Delta {
            a: a.to_string(),
            b: b.to_string(),
            delta: format!("{:+}", b - a),
        }
    }
}

/// One changed line.
#[derive(Serialize, Debug, Clone)]
pub struct Change {
    pub file: String,
    pub record: u64,
    pub line_id: String,
    pub a: String,
    pub b: String,
    /// B's paid amount less A's.
    pub paid_delta: String,
}

/// What `diff` found.
#[derive(Serialize, Debug, Clone)]
pub struct Diff {
    pub lines: u64,
    pub changed_lines: u64,
    /// Lines of one run that the other does not have (runs of other inputs).
    pub only_in_a: u64,
    pub only_in_b: u64,
    pub totals: BTreeMap<&'static str, Delta>,
    /// Paid per `layer product` (`basic zvw`, `supplementary dsw-2009-av-top`).
    pub paid_per_product: BTreeMap<String, Delta>,
    /// Paid per `product benefit` (`dsw-2009-av-standaard fysiotherapie`), from each run's
    /// `summary.json`; what credits took back is under `product (credits)`.
    pub paid_per_benefit: BTreeMap<String, Delta>,
    /// Lines per reason (a remittance row's reductions and a rejection's reason).
    pub lines_per_reason: BTreeMap<String, Delta>,
    pub largest_changes: Vec<Change>,
}

/// Adds a line's paid amounts to its products: `paid_basic` to the first product when it is
/// not zero (the basic product is listed first), `paid_supplementary` to the others.
fn add_paid(to: &mut BTreeMap<String, i64>, o: &Outcome) {
    if o.rejected {
        return;
    }
    let mut products = o.products.split('+').filter(|p| !p.is_empty());
    if o.paid_basic != 0 {
        if let Some(b) = products.next() {
            *to.entry(format!("basic {b}")).or_default() += o.paid_basic;
        }
    }
    let rest: Vec<&str> = products.collect();
    if o.paid_supplementary != 0 && !rest.is_empty() {
        *to.entry(format!("supplementary {}", rest.join("+")))
            .or_default() += o.paid_supplementary;
    }
}

fn add_reasons(to: &mut BTreeMap<String, i64>, o: &Outcome) {
    for r in o.reasons.split(';').filter(|r| !r.is_empty()) {
        *to.entry(r.to_string()).or_default() += 1;
    }
}

/// What a run's `summary.json` says each product's benefits paid, by `product benefit`.
fn read_benefits(out: &Path) -> Result<BTreeMap<String, i64>, Error> {
    let path = out.join("summary.json");
    let bad = |e: &dyn std::fmt::Display| Error::Usage(format!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(&path).map_err(|e| bad(&e))?;
    let summary: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(&e))?;
    let rows: Vec<crate::output::summary::BenefitPaid> =
        serde_json::from_value(summary["paid_per_benefit"].clone()).map_err(|_| {
            bad(&"no paid_per_benefit (written by an older declaro): cannot compare benefits")
        })?;
    let mut paid = BTreeMap::new();
    for r in rows {
        *paid
            .entry(format!("{} {}", r.product, r.benefit))
            .or_default() += cents(&r.paid).map_err(|e| bad(&e))?;
    }
    Ok(paid)
}

/// Compares the runs whose outputs are in `a` and `b`.
pub fn diff(a: &Path, b: &Path) -> Result<Diff, Error> {
    let (ra, rb) = (read_run(a)?, read_run(b)?);
    let (ba, bb) = (read_benefits(a)?, read_benefits(b)?);
    let (mut pa, mut pb) = (BTreeMap::new(), BTreeMap::new());
    let (mut qa, mut qb) = (BTreeMap::new(), BTreeMap::new());
    let mut sums = [[0i64; 2]; 4];
    for (runs, side) in [(&ra, 0), (&rb, 1)] {
        for o in runs.values() {
            let (p, q) = if side == 0 {
                (&mut pa, &mut qa)
            } else {
                (&mut pb, &mut qb)
            };
            add_paid(p, o);
            add_reasons(q, o);
            sums[0][side] += o.paid_basic;
            sums[1][side] += o.paid_supplementary;
            sums[2][side] += o.member_pays;
            sums[3][side] += i64::from(o.rejected);
        }
    }
    let mut changes: Vec<(i64, Change)> = Vec::new();
    for (key, oa) in &ra {
        let Some(ob) = rb.get(key) else { continue };
        if oa != ob {
            let d = ob.paid() - oa.paid();
            changes.push((
                d,
                Change {
                    file: key.0.clone(),
                    record: key.1,
                    line_id: oa.line_id.clone(),
                    a: oa.shown(),
                    b: ob.shown(),
                    paid_delta: Cents(d).to_string(),
                },
            ));
        }
    }
    let changed_lines = changes.len() as u64;
    // Largest first; ties in input order (the sort is stable).
    changes.sort_by_key(|(d, _)| std::cmp::Reverse(d.unsigned_abs()));
    let merge = |a: &BTreeMap<String, i64>, b: &BTreeMap<String, i64>, cents: bool| {
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        keys.into_iter()
            .map(|k| {
                let (x, y) = (
                    a.get(k).copied().unwrap_or(0),
                    b.get(k).copied().unwrap_or(0),
                );
                let d = if cents {
                    Delta::of_cents(x, y)
                } else {
                    Delta::of_counts(x, y)
                };
                (k.clone(), d)
            })
            .collect::<BTreeMap<_, _>>()
    };
    Ok(Diff {
        lines: ra.len().max(rb.len()) as u64,
        changed_lines,
        only_in_a: ra.keys().filter(|k| !rb.contains_key(*k)).count() as u64,
        only_in_b: rb.keys().filter(|k| !ra.contains_key(*k)).count() as u64,
        totals: [
            ("paid_basic", Delta::of_cents(sums[0][0], sums[0][1])),
            (
                "paid_supplementary",
                Delta::of_cents(sums[1][0], sums[1][1]),
            ),
            ("member_pays", Delta::of_cents(sums[2][0], sums[2][1])),
            ("rejected_lines", Delta::of_counts(sums[3][0], sums[3][1])),
        ]
        .into_iter()
        .collect(),
        paid_per_product: merge(&pa, &pb, true),
        paid_per_benefit: merge(&ba, &bb, true),
        lines_per_reason: merge(&qa, &qb, false),
        largest_changes: changes.into_iter().take(LARGEST).map(|(_, c)| c).collect(),
    })
}

impl Diff {
    /// The comparison as text for a terminal.
    pub fn text(&self, a: &Path, b: &Path) -> String {
        use std::fmt::Write as _;
        let mut t = String::new();
        let _ = writeln!(t, "A = {}\nB = {}", a.display(), b.display());
        let _ = writeln!(
            t,
            "{} lines, {} with another outcome in B",
            self.lines, self.changed_lines
        );
        if self.only_in_a + self.only_in_b > 0 {
            let _ = writeln!(
                t,
                "not the same inputs: {} lines only in A, {} only in B",
                self.only_in_a, self.only_in_b
            );
        }
        let table =
            |t: &mut String, title: &str, rows: &mut dyn Iterator<Item = (&str, &Delta)>| {
                let _ = writeln!(t, "\n{title:<48} {:>14} {:>14} {:>14}", "A", "B", "B - A");
                for (k, d) in rows {
                    let _ = writeln!(t, "{k:<48} {:>14} {:>14} {:>14}", d.a, d.b, d.delta);
                }
            };
        table(
            &mut t,
            "totals",
            &mut self.totals.iter().map(|(k, d)| (*k, d)),
        );
        table(
            &mut t,
            "paid per product",
            &mut self.paid_per_product.iter().map(|(k, d)| (k.as_str(), d)),
        );
        table(
            &mut t,
            "paid per benefit",
            &mut self.paid_per_benefit.iter().map(|(k, d)| (k.as_str(), d)),
        );
        table(
            &mut t,
            "lines per reason",
            &mut self.lines_per_reason.iter().map(|(k, d)| (k.as_str(), d)),
        );
        if !self.largest_changes.is_empty() {
            let _ = writeln!(t, "\nlargest changes");
            for c in &self.largest_changes {
                let _ = writeln!(
                    t,
                    "{} record {} (line {}): {} -> {} ({})",
                    c.file, c.record, c.line_id, c.a, c.b, c.paid_delta
                );
            }
        }
        t
    }
}

/// The size of an amount or count as `Delta` writes it (`-3.41`, `+2`, `17`), for a bar.
fn magnitude(s: &str) -> u64 {
    let s = s.strip_prefix('+').unwrap_or(s);
    match s.contains('.') {
        true => cents(s).map(i64::unsigned_abs).unwrap_or(0),
        false => s.parse::<i64>().map(i64::unsigned_abs).unwrap_or(0),
    }
}

impl Diff {
    /// The comparison as a page like `report.html` (its style and bars): self-contained, no
    /// script, nothing fetched, no personal data (the outputs' member numbers are not read
    /// into a `Diff`) and no timing, so the same two runs give the same bytes.
    pub fn html(&self, a: &Path, b: &Path) -> String {
        use crate::output::report::{bar, esc, page_start, PAGE_END};
        use std::fmt::Write as _;
        let mut h = page_start("declaro diff");
        let _ = writeln!(
            h,
            "<h1>declaro diff</h1>\n<p>A = {}<br>\nB = {}</p>\n\
             <p><span data-key=\"lines\">{}</span> lines, <span data-key=\"changed_lines\">{}</span> \
             with another outcome in B.</p>",
            esc(&a.display().to_string()),
            esc(&b.display().to_string()),
            self.lines,
            self.changed_lines
        );
        if self.only_in_a + self.only_in_b > 0 {
            let _ = writeln!(
                h,
                "<p class=\"bad\">Not the same inputs: <span data-key=\"only_in_a\">{}</span> \
                 lines only in A, <span data-key=\"only_in_b\">{}</span> only in B.</p>",
                self.only_in_a, self.only_in_b
            );
        }
        // One table per comparison: A and B with a bar each, B - A. The bars of a table share
        // one scale per unit (amounts, counts: the totals have both). Every row names its key
        // as `data-key="section/key"`.
        let table = |h: &mut String,
                     section: &str,
                     title: &str,
                     rows: &mut dyn Iterator<Item = (&str, &Delta)>| {
            let rows: Vec<(&str, &Delta)> = rows.collect();
            let amount = |d: &Delta| d.a.contains('.');
            let max = |amounts: bool| {
                rows.iter()
                    .filter(|(_, d)| amount(d) == amounts)
                    .flat_map(|(_, d)| [magnitude(&d.a), magnitude(&d.b)])
                    .max()
                    .unwrap_or(0)
            };
            let (max_amount, max_count) = (max(true), max(false));
            let _ = writeln!(
                h,
                "<h2>{title}</h2>\n<table>\n<tr><th></th><th>A</th><th></th><th>B</th><th></th>\
                 <th>B - A</th></tr>"
            );
            for &(k, d) in &rows {
                let max = if amount(d) { max_amount } else { max_count };
                let _ = writeln!(
                    h,
                    "<tr data-key=\"{section}/{k}\"><td>{k}</td><td class=\"n\">{}</td><td>{}</td>\
                     <td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                    esc(&d.a),
                    bar(magnitude(&d.a), max),
                    esc(&d.b),
                    bar(magnitude(&d.b), max),
                    esc(&d.delta),
                    k = esc(k),
                );
            }
            h.push_str("</table>\n");
        };
        table(
            &mut h,
            "totals",
            "Totals",
            &mut self.totals.iter().map(|(k, d)| (*k, d)),
        );
        table(
            &mut h,
            "paid_per_product",
            "Paid per layer and product",
            &mut self.paid_per_product.iter().map(|(k, d)| (k.as_str(), d)),
        );
        table(
            &mut h,
            "paid_per_benefit",
            "Paid per product and benefit",
            &mut self.paid_per_benefit.iter().map(|(k, d)| (k.as_str(), d)),
        );
        table(
            &mut h,
            "lines_per_reason",
            "Lines per reason",
            &mut self.lines_per_reason.iter().map(|(k, d)| (k.as_str(), d)),
        );
        h.push_str("<h2>Largest changes of the paid amount</h2>\n");
        if self.largest_changes.is_empty() {
            h.push_str("<p>None.</p>\n");
        } else {
            h.push_str(
                "<table>\n<tr><th>file</th><th>record</th><th>line</th><th>A</th><th>B</th>\
                 <th>paid B - A</th></tr>\n",
            );
            for c in &self.largest_changes {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td>\
                     <td class=\"n\">{}</td></tr>",
                    esc(&c.file),
                    c.record,
                    esc(&c.line_id),
                    esc(&c.a),
                    esc(&c.b),
                    esc(&c.paid_delta)
                );
            }
            h.push_str("</table>\n");
        }
        h.push_str(PAGE_END);
        h
    }

    /// Writes [`Diff::html`] to `dest` (mode 0640): written under a temporary name beside it
    /// and renamed into place, so a link at `dest` is replaced, never followed, and a reader
    /// never sees half a page.
    pub fn write_html(&self, a: &Path, b: &Path, dest: &Path) -> Result<(), Error> {
        use crate::output::Staged;
        use std::io::Write as _;
        let what = format!("writing {}", dest.display());
        let (staged, mut w) = Staged::create(dest).map_err(|e| Error::io(&what, e))?;
        w.write_all(self.html(a, b).as_bytes())
            .map_err(|e| Error::io(&what, e))?;
        staged.finish(w).map_err(|e| Error::io(&what, e))?;
        staged.commit().map_err(|e| Error::io(&what, e))
    }
}
