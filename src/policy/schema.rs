//! The policy file as written: one TOML file per product, read with serde.
//!
//! Amounts are strings (`"27.50"`) so that no floating point ever touches money.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// A whole policy file.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    pub product: ProductDef,
    pub deductible: Option<DeductibleDef>,
    #[serde(default)]
    pub pool: Vec<Spanned<PoolDef>>,
    #[serde(default)]
    pub benefit: Vec<Spanned<BenefitDef>>,
}

/// `[product]`: who the product is and how it layers.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ProductDef {
    pub id: Spanned<String>,
    pub name: String,
    /// `basic` (the zvw) or `supplementary`.
    pub layer: Spanned<String>,
    /// The seed document the product encodes.
    #[serde(default)]
    pub source: String,
    /// Months of waiting period when the product starts later than the basic insurance.
    #[serde(default)]
    pub waiting_period_months: u32,
}

/// `[deductible]` of the basic product: eigen risico per year and its exemptions.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct DeductibleDef {
    /// Members younger than this on the service date pay no deductible.
    pub exempt_under_age: Option<u32>,
    /// Voluntary deductible amounts a member may choose.
    #[serde(default)]
    pub voluntary_choices: Vec<Spanned<String>>,
    /// Mandatory deductible per calendar year.
    #[serde(default)]
    pub year: Vec<Spanned<DeductibleYear>>,
}

/// One `[[deductible.year]]` row.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct DeductibleYear {
    pub year: u32,
    pub mandatory: String,
}

/// A limit: shared (`[[pool]]` with an id) or private (`limits = [...]` on a benefit).
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct PoolDef {
    #[serde(default)]
    pub id: String,
    /// `treatment-date`, `calendar-year`, `N-calendar-years`, `insurance-duration`.
    pub period: String,
    pub max_units: Option<u32>,
    pub max_euros: Option<String>,
    /// Only one paid line per treatment date (period must be `treatment-date`).
    #[serde(default)]
    pub once_per_date: bool,
}

/// `[[benefit]]`: one row of the seed's table.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct BenefitDef {
    pub id: String,
    pub name: String,
    /// Prestatiecodes; `1000-1002` is a numeric range of codes of the same width.
    #[serde(default)]
    pub codes: Vec<String>,
    /// Maximum per unit for each code, as the seed's table lists it.
    #[serde(default)]
    pub tariffs: BTreeMap<String, String>,
    /// Only lines with this prestatiecodelijst.
    pub code_list: Option<String>,
    /// Only lines with one of these CSI codes (`""` stands for no CSI).
    pub indications: Option<Vec<String>>,
    /// `claim` (default) or `member-share`: the share of what earlier layers left to the member.
    #[serde(default)]
    pub basis: Option<String>,
    /// Percentage of the base that is paid, default 100.
    pub percentage: Option<String>,
    pub max_per_unit: Option<String>,
    pub max_per_line: Option<String>,
    /// Private limits of this benefit.
    #[serde(default)]
    pub limits: Vec<PoolDef>,
    /// Shared pools (ids of `[[pool]]`) this benefit counts toward.
    #[serde(default)]
    pub pools: Vec<String>,
    pub age_min: Option<u32>,
    pub age_max: Option<u32>,
    #[serde(default)]
    pub requires_referral: bool,
    #[serde(default)]
    pub requires_authorization: bool,
    /// Prior authorization needed from this session number on, counted in `authorization_pool`.
    pub authorization_from_session: Option<u32>,
    pub authorization_pool: Option<String>,
    /// Provider contract tag that must be in the provider register.
    pub requires_contract: Option<String>,
    /// Selector: the benefit applies only to lines of a provider holding this contract tag;
    /// other lines go on to the next benefit of the same code (e.g. "via SGZ 100%", else 50%).
    pub when_contract: Option<String>,
    /// Months the member must have held this product on the service date before the benefit
    /// pays ("minstens 12 maanden aanvullend verzekerd"), whatever the basic insurance's start.
    pub min_insured_months: Option<u32>,
    /// `min_insured_months` applies from this age on the service date (default: every age).
    pub min_insured_from_age: Option<u32>,
    /// Basic layer only: whether the deductible applies (default true on basic benefits).
    pub deductible: Option<bool>,
    /// Prior authorization is needed for a line whose cost per jaw is above this ("meer dan
    /// € 550,– per onder- c.q. bovenkaak"): one amount, or a table of amounts per calendar
    /// year of the service date (`{ 2009 = "550.00" }`; a year not in it needs none).
    pub authorization_above_per_jaw: Option<ThresholdDef>,
    /// The jaws a line of each code treats, for `authorization_above_per_jaw` (`P21 = 1`,
    /// `P30 = 2`); codes not listed are not subject to it.
    #[serde(default)]
    pub jaws: BTreeMap<String, u32>,
}

/// An amount, or amounts per calendar year.
#[derive(Deserialize, Debug)]
#[serde(untagged)]
pub enum ThresholdDef {
    One(String),
    PerYear(BTreeMap<String, String>),
}
