//! `summary.json`: counts and euro totals of a run, and the proof that nothing was lost.
//! It holds no personal data: no BSN, no member number, no birth date.

use crate::model::{Cents, Reason, Sums, Total};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One input file as the run saw it.
#[derive(Serialize, Debug, Clone)]
pub struct FileSummary {
    pub file: String,
    pub format: String,
    pub records: u64,
    pub sha256: String,
    /// Set when the whole file was refused; none of its lines was applied.
    pub refused: Option<String>,
    /// Why it was refused: `MALFORMED_FILE`, `UNREADABLE_FILE`, `ALREADY_PROCESSED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// For a refused Vektis file: the specific retourcode (COD954), such as `0150`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vektis_code: Option<&'static str>,
    /// For a Vektis EI file: how its records ended (`CR LF` as the standard wants, `LF`,
    /// `mixed`), so that the sender can be told.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_ends: Option<&'static str>,
    /// For a Vektis EI file: whether its last record ends in a line end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_line_end: Option<bool>,
}

/// Euro totals as strings with two decimals.
#[derive(Serialize, Debug, Clone, Default)]
pub struct Totals {
    pub claimed: String,
    pub paid_basic: String,
    pub deductible: String,
    pub paid_supplementary: String,
    pub member_pays: String,
    pub rejected_claimed: String,
}

/// The reconciliation the run checked before it committed.
#[derive(Serialize, Debug, Clone, Default)]
pub struct Reconciliation {
    pub lines_read: u64,
    pub lines_out: u64,
    pub claimed_read: String,
    pub claimed_out: String,
    pub balanced: bool,
}

/// Time taken; the only part of the outputs that differs between identical runs.
#[derive(Serialize, Debug, Clone, Default)]
pub struct Timing {
    pub duration_seconds: String,
    pub lines_per_second: u64,
}

/// What one benefit of one product paid.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct BenefitPaid {
    pub product: String,
    /// The benefit's id; `(credits)` for what credit lines took back.
    pub benefit: String,
    /// Lines it paid (or credits).
    pub lines: u64,
    pub paid: String,
}

/// The tally as rows sorted by product and benefit id.
pub fn per_benefit(
    tally: &crate::adjudicate::PaidTally,
    policies: &crate::policy::PolicySet,
) -> Vec<BenefitPaid> {
    use crate::adjudicate::PaidTally;
    let mut rows: Vec<BenefitPaid> = tally
        .paid
        .iter()
        .map(|(&(product, benefit), &(lines, paid))| {
            let p = policies.products.get(usize::from(product));
            BenefitPaid {
                product: match p {
                    Some(p) => p.id.clone(),
                    None => "(several supplementary)".into(),
                },
                benefit: match (benefit, p) {
                    (PaidTally::CREDITS, _) | (_, None) => "(credits)".into(),
                    (b, Some(p)) => p
                        .benefits
                        .get(usize::from(b))
                        .map_or_else(|| format!("#{b}"), |b| b.id.clone()),
                },
                lines,
                paid: paid.to_string(),
            }
        })
        .collect();
    rows.sort_by(|a, b| (&a.product, &a.benefit).cmp(&(&b.product, &b.benefit)));
    rows
}

/// A file the run read, by its absolute path and its sha256.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct FileHash {
    pub path: String,
    pub sha256: String,
}

/// What the run read besides the ledger, and which ledger state: enough for `declaro explain`
/// to replay the run exactly, and to tell when a file has changed since.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Setup {
    /// The policy files, in the order they were loaded.
    pub policies: Vec<FileHash>,
    pub members: FileHash,
    pub providers: Option<FileHash>,
    /// The input files as opened, in command-line order (their sha256 is in `input_files`).
    pub inputs: Vec<String>,
    /// The newest run committed before this one (0: none): the run read the ledger as that
    /// run left it.
    pub ledger_after_run: i64,
}

/// The whole summary.
#[derive(Serialize, Debug, Clone, Default)]
pub struct Summary {
    pub run_date: String,
    /// A `--dry-run`: nothing of it was committed to the ledger.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    pub input_files: Vec<FileSummary>,
    /// The lines of this run: with `--shard`, those of its shard (`lines` and every count and
    /// total below are the shard's own).
    pub lines: u64,
    /// With `--shard I/N` (N > 1): which shard, and how the night's lines divide.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardSummary>,
    pub outcomes: BTreeMap<&'static str, u64>,
    /// Rejected lines per reason.
    pub rejected_by_reason: BTreeMap<&'static str, u64>,
    /// Remittance lines carrying each reduction reason.
    pub reductions_by_reason: BTreeMap<&'static str, u64>,
    pub totals: Totals,
    /// What each benefit of each product paid (credits apart).
    pub paid_per_benefit: Vec<BenefitPaid>,
    pub reconciliation: Reconciliation,
    /// What the run read, for `declaro explain`.
    pub setup: Setup,
    /// What the operator should look at (for example lines rejected for a year the policies
    /// lack); left out when there is nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Written by `declaro merge`: the shard runs it merged, in shard order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<MergedFrom>,
    pub timing: Timing,
}

/// A shard run's place in the night (`process --shard I/N`): `lines_of_night` =
/// `lines` + `lines_of_other_shards`.
#[derive(Serialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardSummary {
    pub index: u32,
    pub count: u32,
    /// Every line of the night's accepted files, of all shards.
    pub lines_of_night: u64,
    /// The lines that belong to other shards, set aside by this run.
    pub lines_of_other_shards: u64,
    /// What `report.html` counts from the shard's lines ([`super::report::Figures`]), for
    /// `declaro merge` to draw the night's report.
    pub report_figures: serde_json::Value,
}

/// One shard run that `declaro merge` merged.
#[derive(Serialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct MergedFrom {
    /// Its output directory, as given to `merge`.
    pub dir: String,
    /// `I/N`.
    pub shard: String,
    pub lines: u64,
    /// The newest run on the shard's ledger before it (its `setup.ledger_after_run`).
    pub ledger_after_run: i64,
}

impl Summary {
    /// What the run did, for the operator at the terminal (no personal data, as everywhere):
    /// lines, euros, the most frequent rejection reasons, refused files, where the outputs are.
    pub fn closing(&self, run_id: Option<i64>, out: &std::path::Path) -> String {
        use std::fmt::Write as _;
        let mut t = String::new();
        let _ = match run_id {
            Some(r) => writeln!(t, "declaro: run {r} committed"),
            None => writeln!(t, "declaro: dry run, nothing committed to the ledger"),
        };
        let count = |k: &str| self.outcomes.get(k).copied().unwrap_or(0);
        let _ = writeln!(
            t,
            "  lines read      {}: {} paid, {} rejected",
            self.lines,
            count("paid"),
            count("rejected")
        );
        if let Some(sh) = &self.shard {
            let _ = writeln!(
                t,
                "  shard           {}/{}: {} of the night's {} lines ({} in other shards)",
                sh.index, sh.count, self.lines, sh.lines_of_night, sh.lines_of_other_shards
            );
        }
        let _ = writeln!(
            t,
            "  paid            basic {}, supplementary {}; deductible charged {}",
            self.totals.paid_basic, self.totals.paid_supplementary, self.totals.deductible
        );
        let mut reasons: Vec<(&str, u64)> = self
            .rejected_by_reason
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        if !reasons.is_empty() {
            let top: Vec<String> = reasons
                .iter()
                .take(5)
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            let rest: u64 = reasons.iter().skip(5).map(|(_, n)| n).sum();
            let more = if rest > 0 {
                format!(", {rest} more under {} other reasons", reasons.len() - 5)
            } else {
                String::new()
            };
            let _ = writeln!(t, "  rejections      {}{more}", top.join(", "));
        }
        for f in self.input_files.iter().filter(|f| f.refused.is_some()) {
            let _ = writeln!(
                t,
                "  refused file    {}: {}",
                f.file,
                f.reason.unwrap_or("MALFORMED_FILE")
            );
        }
        for w in &self.warnings {
            let _ = writeln!(t, "  warning         {w}");
        }
        let outs: Vec<String> = super::OUTPUTS
            .iter()
            .map(|f| out.join(f).display().to_string())
            .collect();
        let _ = writeln!(t, "  outputs         {}", outs.join(", "));
        t
    }
}

/// Running sums kept while the outputs are written.
#[derive(Debug)]
pub struct Tally {
    pub paid_lines: u64,
    pub rejected_lines: u64,
    /// Of the remittance rows.
    pub sums: Sums,
    pub rejected_claimed: Total,
    /// Rejected lines per reason, by the reason's discriminant.
    pub rejected_by_reason: [u64; Reason::ALL.len()],
    /// Remittance lines carrying each reduction reason.
    pub reductions_by_reason: [u64; Reason::ALL.len()],
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            paid_lines: 0,
            rejected_lines: 0,
            sums: Sums::default(),
            rejected_claimed: Total::default(),
            rejected_by_reason: [0; Reason::ALL.len()],
            reductions_by_reason: [0; Reason::ALL.len()],
        }
    }
}

/// Counts per reason code, for `summary.json` (reasons with no line are left out).
pub fn by_code(counts: &[u64; Reason::ALL.len()]) -> BTreeMap<&'static str, u64> {
    Reason::ALL
        .iter()
        .zip(counts)
        .filter(|(_, &n)| n > 0)
        .map(|(r, &n)| (r.code(), n))
        .collect()
}

impl Tally {
    /// Counts a remittance row; `claimed` is negative on a credit line.
    pub fn paid(&mut self, claimed: Cents, p: &crate::night::Payment) {
        self.paid_lines += 1;
        let parts = [
            p.paid_basic,
            p.deductible,
            p.paid_supplementary,
            p.member_pays(claimed),
        ];
        self.sums.add(claimed, parts);
        for r in p.reasons.iter() {
            self.reductions_by_reason[r as usize] += 1;
        }
    }

    pub fn rejected(&mut self, reason: Reason, claimed: Option<Cents>) {
        self.rejected_lines += 1;
        self.rejected_by_reason[reason as usize] += 1;
        self.rejected_claimed.add(claimed.unwrap_or_default());
    }

    /// Adds another range's tally (ranges are tallied in parallel).
    pub fn merge(&mut self, o: Tally) {
        self.paid_lines += o.paid_lines;
        self.rejected_lines += o.rejected_lines;
        self.sums.merge(&o.sums);
        self.rejected_claimed.0 += o.rejected_claimed.0;
        for (t, x) in self.rejected_by_reason.iter_mut().zip(o.rejected_by_reason) {
            *t += x;
        }
        for (t, x) in self
            .reductions_by_reason
            .iter_mut()
            .zip(o.reductions_by_reason)
        {
            *t += x;
        }
    }

    pub fn totals(&self) -> Totals {
        Totals {
            claimed: self.sums.claimed.to_string(),
            paid_basic: self.sums.paid_basic.to_string(),
            deductible: self.sums.deductible.to_string(),
            paid_supplementary: self.sums.paid_supplementary.to_string(),
            member_pays: self.sums.member_pays.to_string(),
            rejected_claimed: self.rejected_claimed.to_string(),
        }
    }
}
