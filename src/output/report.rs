//! `report.html`: the night for a person to look at in a browser (issue 18). One
//! self-contained file: inline CSS and inline SVG bars, no script, no network. It shows the
//! totals and the reconciliation, what each product paid per layer, the rejections per reason
//! with their Vektis code, the providers with the highest rejection share, how the claimed and
//! paid amounts are spread, and the refused files. Like `summary.json` it holds no personal
//! data (no BSN, member number, name or birth date) and no timing, so two identical runs write
//! the same bytes.

use crate::model::{Cents, Reason, Total};
use crate::night::{Night, Outcome};
use crate::output::summary::Summary;
use crate::policy::PolicySet;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The upper bounds (in euros) of the amount bands of the distribution; the last is open.
const BANDS: [i64; 7] = [10, 25, 50, 100, 250, 500, 1000];

/// The providers listed with their rejection share.
const PROVIDERS_SHOWN: usize = 10;

/// What the report counts from the night's lines, beyond the summary.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// Paid per layer and product: ("basic" | "supplementary", product ids joined by `+`).
    pub paid: BTreeMap<(&'static str, String), (u64, Total)>,
    /// Per provider AGB: lines, rejected lines.
    pub providers: BTreeMap<u32, (u64, u64)>,
    /// Debit lines per band of the claimed amount, and paid lines per band of the paid amount.
    pub claimed_bands: [u64; BANDS.len() + 1],
    pub paid_bands: [u64; BANDS.len() + 1],
}

fn band(c: Cents) -> usize {
    BANDS
        .iter()
        .position(|&euros| c.0 < euros * 100)
        .unwrap_or(BANDS.len())
}

impl Figures {
    /// Counts the night's adjudicated lines (a refused file's lines are not among them), in
    /// chunks on every core.
    pub fn of(night: &Night, policies: &PolicySet) -> Figures {
        use rayon::prelude::*;
        const CHUNK: usize = 1 << 16;
        night
            .lines
            .par_chunks(CHUNK)
            .zip(night.outcomes.par_chunks(CHUNK))
            .map(|(lines, outcomes)| Figures::of_lines(lines, outcomes, policies))
            .reduce(Figures::default, Figures::merge)
    }

    /// The figures as JSON, for a shard's `summary.json` (`process --shard`), so that
    /// `declaro merge` can add the shards' up and draw the night's report.
    pub fn to_json(&self) -> serde_json::Value {
        let paid: Vec<serde_json::Value> = self
            .paid
            .iter()
            .map(|((layer, products), (n, t))| {
                serde_json::json!([layer, products, n, t.0.to_string()])
            })
            .collect();
        let providers: Vec<[u64; 3]> = self
            .providers
            .iter()
            .map(|(&agb, &(lines, rejected))| [u64::from(agb), lines, rejected])
            .collect();
        serde_json::json!({
            "paid": paid,
            "providers": providers,
            "claimed_bands": self.claimed_bands,
            "paid_bands": self.paid_bands,
        })
    }

    /// The figures [`Figures::to_json`] wrote.
    pub fn from_json(v: &serde_json::Value) -> Option<Figures> {
        let mut f = Figures::default();
        for p in v["paid"].as_array()? {
            let layer = match p[0].as_str()? {
                "basic" => "basic",
                "supplementary" => "supplementary",
                _ => return None,
            };
            let cents: i128 = p[3].as_str()?.parse().ok()?;
            f.paid.insert(
                (layer, p[1].as_str()?.to_string()),
                (p[2].as_u64()?, Total(cents)),
            );
        }
        for p in v["providers"].as_array()? {
            let agb = u32::try_from(p[0].as_u64()?).ok()?;
            f.providers.insert(agb, (p[1].as_u64()?, p[2].as_u64()?));
        }
        for (key, bands) in [
            ("claimed_bands", &mut f.claimed_bands),
            ("paid_bands", &mut f.paid_bands),
        ] {
            let got = v[key].as_array()?;
            if got.len() != bands.len() {
                return None;
            }
            for (b, g) in bands.iter_mut().zip(got) {
                *b = g.as_u64()?;
            }
        }
        Some(f)
    }

    /// Adds the counts of `other`.
    pub fn merge(mut self, other: Figures) -> Figures {
        for (k, (n, t)) in other.paid {
            let e = self.paid.entry(k).or_default();
            e.0 += n;
            e.1 .0 += t.0;
        }
        for (agb, (lines, rejected)) in other.providers {
            let e = self.providers.entry(agb).or_default();
            e.0 += lines;
            e.1 += rejected;
        }
        for (a, b) in self.claimed_bands.iter_mut().zip(other.claimed_bands) {
            *a += b;
        }
        for (a, b) in self.paid_bands.iter_mut().zip(other.paid_bands) {
            *a += b;
        }
        self
    }

    fn of_lines(
        lines: &[crate::night::Line],
        outcomes: &[Outcome],
        policies: &PolicySet,
    ) -> Figures {
        let mut f = Figures::default();
        for (line, outcome) in lines.iter().zip(outcomes) {
            if *outcome == Outcome::OtherShard {
                continue;
            }
            // A line whose AGB could not be read names no provider (AGB 0).
            let mut none = (0, 0);
            let p = match line.provider_agb {
                0 => &mut none,
                agb => f.providers.entry(agb).or_default(),
            };
            p.0 += 1;
            if !line.credit() {
                f.claimed_bands[band(line.amount)] += 1;
            }
            match outcome {
                Outcome::Rejected(..) => p.1 += 1,
                Outcome::Paid(pay) => {
                    let products: Vec<_> =
                        pay.products.iter().map(|i| &policies.products[i]).collect();
                    let basic = products.iter().find(|p| p.basic).map(|p| p.id.as_str());
                    let supplementary: Vec<&str> = products
                        .iter()
                        .filter(|p| !p.basic)
                        .map(|p| p.id.as_str())
                        .collect();
                    if let (Some(b), false) = (basic, pay.paid_basic.is_zero()) {
                        let e = f.paid.entry(("basic", b.to_string())).or_default();
                        e.0 += 1;
                        e.1.add(pay.paid_basic);
                    }
                    if !supplementary.is_empty() && !pay.paid_supplementary.is_zero() {
                        let key = ("supplementary", supplementary.join("+"));
                        let e = f.paid.entry(key).or_default();
                        e.0 += 1;
                        e.1.add(pay.paid_supplementary);
                    }
                    if !line.credit() {
                        f.paid_bands[band(pay.paid_basic + pay.paid_supplementary)] += 1;
                    }
                }
                Outcome::Pending | Outcome::OtherShard => {}
            }
        }
        f
    }
}

/// Text for HTML: `&`, `<`, `>`, `"` escaped.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// An inline SVG bar of `value` out of `max`, 200 wide. It carries its numbers as `data-value`
/// and `data-max`, so that a test (or a person with the browser's inspector) can check what a
/// bar stands for without measuring it.
pub(crate) fn bar(value: u64, max: u64) -> String {
    let width = (value.saturating_mul(200))
        .checked_div(max)
        .unwrap_or(0)
        .min(200);
    format!(
        "<svg width=\"200\" height=\"12\" role=\"img\" data-value=\"{value}\" data-max=\"{max}\">\
         <rect width=\"{width}\" height=\"12\" fill=\"#3b6ea5\"/></svg>"
    )
}

/// The start of a page up to its `<h1>`: the doctype, the title and the inline style that
/// `report.html` and `diff --html` share (no script, no stylesheet or font fetched).
pub(crate) fn page_start(title: &str) -> String {
    let title = esc(title);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n<style>\n\
         body {{ font-family: sans-serif; margin: 2em; color: #222; }}\n\
         table {{ border-collapse: collapse; margin-bottom: 1.5em; }}\n\
         th, td {{ border-bottom: 1px solid #ddd; padding: 0.25em 0.75em; text-align: left; }}\n\
         td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}\n\
         .bad {{ color: #a00; font-weight: bold; }} .good {{ color: #060; font-weight: bold; }}\n\
         </style>\n</head>\n<body>\n"
    )
}

/// The end of a page started with [`page_start`].
pub(crate) const PAGE_END: &str = "</body>\n</html>\n";

fn band_label(i: usize) -> String {
    match i {
        0 => format!("under {}", BANDS[0]),
        i if i == BANDS.len() => format!("{} and more", BANDS[i - 1]),
        i => format!("{} to {}", BANDS[i - 1], BANDS[i]),
    }
}

/// Renders the report of a night whose summary is `summary`.
pub fn render(summary: &Summary, figures: &Figures) -> String {
    let mut h = page_start(&format!("declaro run report {}", summary.run_date));
    h.reserve(16 << 10);
    let _ = write!(
        h,
        "<h1>declaro run report</h1>\n\
         <p>Run date {run_date}{dry}. {lines} lines read from {files} input file(s).</p>\n",
        run_date = esc(&summary.run_date),
        dry = if summary.dry_run {
            " (dry run: nothing committed to the ledger)"
        } else {
            ""
        },
        lines = summary.lines,
        files = summary.input_files.len(),
    );

    // Totals and the reconciliation. Each figure that `summary.json` has names its field as a
    // JSON pointer in `data-summary`, so the page can be checked against the summary.
    let t = &summary.totals;
    let r = &summary.reconciliation;
    let count = |k: &str| summary.outcomes.get(k).copied().unwrap_or(0);
    let _ = write!(
        h,
        "<h2>Totals</h2>\n<table>\n\
         <tr><th>lines paid</th><td class=\"n\" data-summary=\"/outcomes/paid\">{}</td></tr>\n\
         <tr><th>lines rejected</th><td class=\"n\" data-summary=\"/outcomes/rejected\">{}</td></tr>\n\
         <tr><th>claimed (paid lines)</th><td class=\"n\" data-summary=\"/totals/claimed\">{}</td></tr>\n\
         <tr><th>paid by basic insurance</th><td class=\"n\" data-summary=\"/totals/paid_basic\">{}</td></tr>\n\
         <tr><th>of which deductible charged to members</th><td class=\"n\" data-summary=\"/totals/deductible\">{}</td></tr>\n\
         <tr><th>paid by supplementary insurance</th><td class=\"n\" data-summary=\"/totals/paid_supplementary\">{}</td></tr>\n\
         <tr><th>left to members</th><td class=\"n\" data-summary=\"/totals/member_pays\">{}</td></tr>\n\
         <tr><th>claimed (rejected lines)</th><td class=\"n\" data-summary=\"/totals/rejected_claimed\">{}</td></tr>\n</table>\n\
         <h2>Reconciliation</h2>\n<p class=\"{}\" data-summary=\"/reconciliation/balanced\" \
         data-value=\"{}\">{}: <span data-summary=\"/reconciliation/lines_read\">{}</span> lines \
         read, <span data-summary=\"/reconciliation/lines_out\">{}</span> lines in remittance.csv \
         and rejections.csv; <span data-summary=\"/reconciliation/claimed_read\">{}</span> claimed \
         read, <span data-summary=\"/reconciliation/claimed_out\">{}</span> claimed out.</p>\n",
        count("paid"),
        count("rejected"),
        esc(&t.claimed),
        esc(&t.paid_basic),
        esc(&t.deductible),
        esc(&t.paid_supplementary),
        esc(&t.member_pays),
        esc(&t.rejected_claimed),
        if r.balanced { "good" } else { "bad" },
        r.balanced,
        if r.balanced {
            "Balanced"
        } else {
            "NOT balanced"
        },
        r.lines_read,
        r.lines_out,
        esc(&r.claimed_read),
        esc(&r.claimed_out),
    );

    // Paid per product and layer.
    h.push_str("<h2>Paid per product and layer</h2>\n<table>\n<tr><th>layer</th><th>product</th><th>lines</th><th>paid</th></tr>\n");
    for ((layer, product), (n, total)) in &figures.paid {
        let _ = writeln!(
            h,
            "<tr><td>{layer}</td><td>{product}</td><td class=\"n\">{n}</td><td class=\"n\" \
             data-layer=\"{layer}\" data-product=\"{product}\">{}</td></tr>",
            total,
            product = esc(product),
        );
    }
    h.push_str("</table>\n");

    // Rejections per reason.
    h.push_str("<h2>Rejections per reason</h2>\n<table>\n<tr><th>reason</th><th>Vektis</th><th>lines</th><th></th></tr>\n");
    let max = summary
        .rejected_by_reason
        .values()
        .copied()
        .max()
        .unwrap_or(0);
    let mut reasons: Vec<(&&str, &u64)> = summary.rejected_by_reason.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (code, n) in reasons {
        let vektis = Reason::ALL
            .iter()
            .find(|r| r.code() == *code)
            .and_then(|r| r.vektis())
            .unwrap_or("");
        let _ = writeln!(
            h,
            "<tr><td>{code}</td><td>{vektis}</td><td class=\"n\" \
             data-summary=\"/rejected_by_reason/{code}\">{n}</td><td>{}</td></tr>",
            bar(*n, max),
            code = esc(code),
        );
    }
    h.push_str("</table>\n");

    // Providers with the highest rejection share.
    let mut providers: Vec<(u32, u64, u64)> = figures
        .providers
        .iter()
        .filter(|(_, (_, rejected))| *rejected > 0)
        .map(|(&agb, &(lines, rejected))| (agb, lines, rejected))
        .collect();
    // Highest share first (compared as fractions, exactly), then more lines, then the AGB.
    providers.sort_by(|a, b| {
        (u128::from(b.2) * u128::from(a.1))
            .cmp(&(u128::from(a.2) * u128::from(b.1)))
            .then(b.1.cmp(&a.1))
            .then(a.0.cmp(&b.0))
    });
    let _ = writeln!(
        h,
        "<h2>Providers with the highest rejection share</h2>\n<p>Lines whose AGB code could not be \
         read are not counted.</p>\n<table>\n<tr><th>provider AGB</th><th>lines</th><th>rejected</th><th>share</th><th></th></tr>"
    );
    for &(agb, lines, rejected) in providers.iter().take(PROVIDERS_SHOWN) {
        let per_mille = rejected * 1000 / lines.max(1);
        let _ = writeln!(
            h,
            "<tr><td>{agb:08}</td><td class=\"n\">{lines}</td><td class=\"n\">{rejected}</td>\
             <td class=\"n\">{}.{}%</td><td>{}</td></tr>",
            per_mille / 10,
            per_mille % 10,
            bar(rejected, lines)
        );
    }
    h.push_str("</table>\n");

    // Distribution of the amounts.
    h.push_str("<h2>Distribution of claimed and paid amounts (euros per line)</h2>\n<table>\n<tr><th>amount</th><th>debit lines claimed</th><th></th><th>lines paid</th><th></th></tr>\n");
    let max = figures
        .claimed_bands
        .iter()
        .chain(&figures.paid_bands)
        .copied()
        .max()
        .unwrap_or(0);
    for i in 0..=BANDS.len() {
        let (c, p) = (figures.claimed_bands[i], figures.paid_bands[i]);
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"n\">{c}</td><td>{}</td><td class=\"n\">{p}</td><td>{}</td></tr>",
            band_label(i),
            bar(c, max),
            bar(p, max)
        );
    }
    h.push_str("</table>\n");

    // Refused files.
    h.push_str("<h2>Refused files</h2>\n");
    let refused: Vec<_> = summary
        .input_files
        .iter()
        .filter(|f| f.refused.is_some())
        .collect();
    if refused.is_empty() {
        h.push_str("<p>None.</p>\n");
    } else {
        h.push_str(
            "<table>\n<tr><th>file</th><th>reason</th><th>Vektis</th><th>where and why</th></tr>\n",
        );
        for f in refused {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&f.file),
                f.reason.unwrap_or(""),
                f.vektis_code.unwrap_or(""),
                esc(f.refused.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</table>\n");
    }
    if !summary.warnings.is_empty() {
        h.push_str("<h2>Warnings</h2>\n<ul>\n");
        for w in &summary.warnings {
            let _ = writeln!(h, "<li>{}</li>", esc(w));
        }
        h.push_str("</ul>\n");
    }
    h.push_str(PAGE_END);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_fall_in_their_band_and_text_is_escaped() {
        assert_eq!(band(Cents(999)), 0);
        assert_eq!(band(Cents(1000)), 1);
        assert_eq!(band(Cents(99_999)), 6);
        assert_eq!(band(Cents(100_000)), 7);
        assert_eq!(band(Cents(-500)), 0);
        assert_eq!(esc("a<b>&\"c\""), "a&lt;b&gt;&amp;&quot;c&quot;");
        assert_eq!(band_label(0), "under 10");
        assert_eq!(band_label(7), "1000 and more");
        assert_eq!(band_label(3), "50 to 100");
    }
}
