//! Products and their benefits, loaded from TOML policy files and checked once.
//!
//! Everything a product pays is data: the engine in `adjudicate` knows no product by name.

pub mod schema;

use crate::model::{Cents, Rate};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use schema::{BenefitDef, PolicyFile, PoolDef, ThresholdDef};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A problem in a policy file, with the line it is on.
#[derive(Debug, Clone)]
pub struct PolicyError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} line {}: {}",
            self.file.display(),
            self.line,
            self.message
        )
    }
}

/// How long a limit's counter runs before it starts again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    /// One service date ("per behandeldatum").
    TreatmentDate,
    /// The service year and the N-1 years before it ("per N kalenderjaren"); 1 = per calendar year.
    CalendarYears(u32),
    /// Since the start of the member's product ("voor de duur van de verzekering").
    InsuranceDuration,
    /// Per condition treated, across calendar years ("de 1e 20 behandelingen"): per declared
    /// diagnosis code, and the lines without one together as one condition.
    Condition,
}

/// The bucket of a [`Period::Condition`] counter for lines without a diagnosis code. Buckets of
/// other periods are years (below 10000) or dates (`yyyymmdd`, below 100000000).
pub const CONDITION_NONE: u32 = 1_000_000_000;
/// The bucket of a [`Period::Condition`] counter for diagnosis code `d` is this plus `d`
/// (a code has at most 8 digits).
pub const CONDITION_CODE: u32 = 2_000_000_000;

/// The bucket of the condition a line with this diagnosis code (if any) counts toward.
pub fn condition_bucket(diagnosis: Option<u32>) -> u32 {
    diagnosis.map_or(CONDITION_NONE, |d| CONDITION_CODE + d.min(99_999_999))
}

impl Period {
    fn parse(s: &str) -> Option<Period> {
        match s {
            "treatment-date" => Some(Period::TreatmentDate),
            "calendar-year" => Some(Period::CalendarYears(1)),
            "insurance-duration" => Some(Period::InsuranceDuration),
            "condition" => Some(Period::Condition),
            _ => {
                let n: u32 = s.strip_suffix("-calendar-years")?.parse().ok()?;
                (1..=10).contains(&n).then_some(Period::CalendarYears(n))
            }
        }
    }
}

/// A counter with a maximum, private to a benefit or shared between benefits.
#[derive(Clone, Debug)]
pub struct Pool {
    pub id: String,
    pub period: Period,
    pub max_units: Option<u32>,
    pub max_euros: Option<Cents>,
    pub once_per_date: bool,
}

/// Whether a benefit pays on the claim or on what earlier layers left to the member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    Claim,
    MemberShare,
}

/// One benefit row of a product.
#[derive(Clone, Debug)]
pub struct Benefit {
    pub id: String,
    pub name: String,
    pub code_list: Option<String>,
    /// `None`: any CSI; otherwise the allowed values, packed by
    /// [`crate::night::pack_indication`] (0 = no CSI on the line).
    pub indications: Option<Vec<u16>>,
    pub basis: Basis,
    /// Percentage paid, 0-100.
    pub percentage: Rate,
    pub max_per_unit: Option<Cents>,
    pub tariffs: HashMap<String, Cents>,
    pub max_per_line: Option<Cents>,
    /// Indexes into the product's pools.
    pub pools: Vec<usize>,
    pub age_min: Option<u32>,
    pub age_max: Option<u32>,
    pub requires_referral: bool,
    pub requires_authorization: bool,
    /// (pool index, session number from which authorization is needed).
    pub authorization_from: Option<(usize, u32)>,
    pub requires_contract: Option<String>,
    /// Selector: only lines of providers holding this tag match this benefit.
    pub when_contract: Option<String>,
    /// The bits of `requires_contract` and `when_contract` in [`PolicySet::tags`] (0 = none).
    pub requires_bit: u64,
    pub when_bit: u64,
    /// (months, from age): the product must have been held this many months on the service
    /// date, for members of at least that age.
    pub min_insured: Option<(u32, u32)>,
    /// Basic layer: the deductible applies to what this benefit pays.
    pub deductible: bool,
    /// Authorization needed above an amount per jaw, for the codes it lists the jaws of.
    pub authorization_above: Option<JawThreshold>,
}

/// "Voorafgaande toestemming is vereist, wanneer de totale kosten ... meer dan € 550,– per
/// onder- c.q. bovenkaak bedragen": a line of a listed code whose amount is above the
/// threshold times its jaws (times its quantity) needs an authorization.
#[derive(Clone, Debug)]
pub struct JawThreshold {
    /// The threshold per jaw: for every year, or per calendar year of the service date.
    pub amounts: Threshold,
    /// Jaws per code (1 or 2).
    pub jaws: HashMap<String, u8>,
}

/// One amount for every year, or amounts per calendar year.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Threshold {
    Always(Cents),
    PerYear(BTreeMap<u32, Cents>),
}

impl Threshold {
    /// The threshold for a service date's year (`None`: no authorization asked that year).
    pub fn in_year(&self, year: u32) -> Option<Cents> {
        match self {
            Threshold::Always(c) => Some(*c),
            Threshold::PerYear(m) => m.get(&year).copied(),
        }
    }
}

impl JawThreshold {
    /// The jaws a line of `code` treats; 0 when the code is not subject to the threshold.
    pub fn jaws_of(&self, code: &str) -> u8 {
        self.jaws.get(code).copied().unwrap_or(0)
    }
}

impl Benefit {
    /// The maximum per unit for this code: the per-code tariff, else the benefit's maximum.
    pub fn unit_max(&self, code: &str) -> Option<Cents> {
        self.tariffs.get(code).copied().or(self.max_per_unit)
    }

    /// Whether a line with this CSI, of a provider holding the tags `provider_tags` (bits of
    /// [`PolicySet::tags`]), is for this benefit (the code and code list already matched).
    pub fn accepts(&self, indication: u16, provider_tags: u64) -> bool {
        if self.when_bit != 0 && provider_tags & self.when_bit == 0 {
            return false;
        }
        match &self.indications {
            Some(allowed) => allowed.contains(&indication),
            None => true,
        }
    }

    /// Whether the benefit covers lines of this code list (any list when it names none).
    pub fn takes_list(&self, code_list: &str) -> bool {
        self.code_list.as_deref().is_none_or(|l| l == code_list)
    }
}

/// The eigen risico of the basic product.
#[derive(Clone, Debug, Default)]
pub struct Deductible {
    pub mandatory: BTreeMap<u32, Cents>,
    pub exempt_under_age: Option<u32>,
    pub voluntary_choices: Vec<Cents>,
}

/// A product loaded from one policy file.
#[derive(Clone, Debug)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub basic: bool,
    pub waiting_period_months: u32,
    pub deductible: Option<Deductible>,
    pub pools: Vec<Pool>,
    pub benefits: Vec<Benefit>,
    by_code: HashMap<String, Vec<usize>>,
    pub file: PathBuf,
}

impl Product {
    /// The benefits of a code that take its code list, in file order (the first of them that
    /// [`Benefit::accepts`] the line applies).
    pub fn candidates(&self, code_list: &str, code: &str) -> Vec<u16> {
        self.by_code.get(code).map_or_else(Vec::new, |v| {
            v.iter()
                .filter(|&&i| self.benefits[i].takes_list(code_list))
                .map(|&i| i as u16)
                .collect()
        })
    }

    /// The first benefit (in file order) for this code, list, CSI and provider tags.
    pub fn benefit_for(
        &self,
        code_list: &str,
        code: &str,
        indication: u16,
        provider_tags: u64,
    ) -> Option<&Benefit> {
        self.by_code
            .get(code)?
            .iter()
            .map(|&i| &self.benefits[i])
            .find(|b| b.takes_list(code_list) && b.accepts(indication, provider_tags))
    }

    /// Every code this product knows.
    pub fn codes(&self) -> impl Iterator<Item = &str> {
        self.by_code.keys().map(String::as_str)
    }
}

/// All products of a run, by id.
#[derive(Debug, Default)]
pub struct PolicySet {
    pub products: Vec<Product>,
    by_id: HashMap<String, usize>,
    known_codes: HashSet<String>,
    /// Every provider contract tag the benefits name; tag `i` is bit `1 << i`.
    pub tags: Vec<String>,
}

impl PolicySet {
    /// Index of a product id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// Whether any product knows this prestatiecode.
    pub fn knows_code(&self, code: &str) -> bool {
        self.known_codes.contains(code)
    }

    /// The bits of these contract tags (tags no benefit names have none).
    pub fn tag_bits<'a>(&self, tags: impl IntoIterator<Item = &'a str>) -> u64 {
        tags.into_iter()
            .filter_map(|t| self.tags.iter().position(|x| x == t))
            .fold(0, |m, i| m | 1 << i)
    }

    /// Numbers the contract tags the benefits name (at most 64).
    fn number_tags(&mut self) -> Result<(), String> {
        let mut tags: Vec<String> = Vec::new();
        for b in self.products.iter().flat_map(|p| &p.benefits) {
            for t in [&b.requires_contract, &b.when_contract]
                .into_iter()
                .flatten()
            {
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
        }
        if tags.len() > 64 {
            return Err(format!(
                "{} contract tags: at most 64 are supported",
                tags.len()
            ));
        }
        let bit = |t: &Option<String>| {
            t.as_ref()
                .and_then(|t| tags.iter().position(|x| x == t))
                .map_or(0, |i| 1u64 << i)
        };
        for b in self.products.iter_mut().flat_map(|p| &mut p.benefits) {
            b.requires_bit = bit(&b.requires_contract);
            b.when_bit = bit(&b.when_contract);
        }
        self.tags = tags;
        Ok(())
    }
}

/// The policy files `paths` name (files, and the `*.toml` of directories, sorted by name), in
/// the order they are loaded, with the directories that could not be read.
pub fn files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<PolicyError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        if p.is_dir() {
            match std::fs::read_dir(p) {
                Ok(rd) => {
                    let mut found: Vec<PathBuf> = rd
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                        .collect();
                    found.sort();
                    files.extend(found);
                }
                Err(e) => errors.push(err(p, 0, format!("cannot read directory: {e}"))),
            }
        } else {
            files.push(p.clone());
        }
    }
    (files, errors)
}

/// Loads policy files and directories of them (`*.toml`, sorted by name). All errors are collected.
pub fn load(paths: &[PathBuf]) -> Result<PolicySet, Vec<PolicyError>> {
    let (files, mut errors) = files(paths);
    let mut set = PolicySet::default();
    for f in &files {
        match std::fs::read_to_string(f) {
            Ok(src) => match compile(f, &src) {
                Ok(product) => {
                    if set.by_id.contains_key(&product.id) {
                        errors.push(err(
                            f,
                            1,
                            format!("product {} is defined twice", product.id),
                        ));
                        continue;
                    }
                    set.known_codes.extend(product.by_code.keys().cloned());
                    set.by_id.insert(product.id.clone(), set.products.len());
                    set.products.push(product);
                }
                Err(mut e) => errors.append(&mut e),
            },
            Err(e) => errors.push(err(f, 0, format!("cannot read: {e}"))),
        }
    }
    if files.is_empty() && errors.is_empty() {
        errors.push(PolicyError {
            file: paths.first().cloned().unwrap_or_default(),
            line: 0,
            message: "no policy files (*.toml) found".into(),
        });
    }
    if set.products.iter().filter(|p| p.basic).count() > 1 {
        let f = set
            .products
            .iter()
            .rfind(|p| p.basic)
            .map(|p| p.file.clone());
        errors.push(err(
            &f.unwrap_or_default(),
            1,
            "more than one basic product".into(),
        ));
    }
    if set.products.len() > 254 {
        errors.push(err(
            paths.first().map_or(Path::new(""), |p| p.as_path()),
            0,
            format!("{} products: at most 254 are supported", set.products.len()),
        ));
    }
    if let Err(m) = set.number_tags() {
        errors.push(err(
            paths.first().map_or(Path::new(""), |p| p.as_path()),
            0,
            m,
        ));
    }
    if errors.is_empty() {
        Ok(set)
    } else {
        Err(errors)
    }
}

fn err(file: &Path, line: usize, message: String) -> PolicyError {
    PolicyError {
        file: file.to_path_buf(),
        line,
        message,
    }
}

fn line_of(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

/// Compiles one policy file's text into a product.
pub fn compile(file: &Path, src: &str) -> Result<Product, Vec<PolicyError>> {
    let def: PolicyFile = toml::from_str(src).map_err(|e| {
        let line = e.span().map_or(0, |s| line_of(src, s.start));
        vec![err(file, line, e.message().trim().to_string())]
    })?;
    let mut errors = Vec::new();
    let mut e = |offset: usize, msg: String| errors.push(err(file, line_of(src, offset), msg));

    let layer_at = def.product.layer.span().start;
    let basic = match def.product.layer.get_ref().as_str() {
        "basic" => true,
        "supplementary" => false,
        other => {
            e(
                layer_at,
                format!("layer must be basic or supplementary, not {other:?}"),
            );
            false
        }
    };
    let money = |s: &str| Cents::parse(s).map_err(|why| format!("amount {s:?}: {why}"));

    let deductible = match &def.deductible {
        None if basic => {
            e(
                layer_at,
                "a basic product needs a [deductible] section".into(),
            );
            None
        }
        None => None,
        Some(_) if !basic => {
            e(layer_at, "only the basic product has a deductible".into());
            None
        }
        Some(d) => {
            if d.exempt_under_age.is_some_and(|a| a > MAX_AGE) {
                e(
                    layer_at,
                    format!("exempt_under_age is above {MAX_AGE}: not an age"),
                );
            }
            let mut out = Deductible {
                exempt_under_age: d.exempt_under_age,
                ..Deductible::default()
            };
            for y in &d.year {
                if !(1900..=2200).contains(&y.get_ref().year) {
                    e(
                        y.span().start,
                        format!("year {} is not a year", y.get_ref().year),
                    );
                }
                match money(&y.get_ref().mandatory) {
                    Ok(m) => {
                        if out.mandatory.insert(y.get_ref().year, m).is_some() {
                            e(
                                y.span().start,
                                format!("year {} is given twice", y.get_ref().year),
                            );
                        }
                    }
                    Err(m) => e(y.span().start, m),
                }
            }
            for c in &d.voluntary_choices {
                match money(c.get_ref()) {
                    Ok(m) => out.voluntary_choices.push(m),
                    Err(m) => e(c.span().start, m),
                }
            }
            Some(out)
        }
    };

    let mut pools: Vec<Pool> = Vec::new();
    for p in &def.pool {
        if p.get_ref().id.is_empty() {
            e(p.span().start, "a [[pool]] needs an id".into());
        } else if pools.iter().any(|q| q.id == p.get_ref().id) {
            e(
                p.span().start,
                format!("pool {} is defined twice", p.get_ref().id),
            );
        }
        match compile_pool(p.get_ref(), &p.get_ref().id) {
            Ok(pool) => pools.push(pool),
            Err(m) => e(p.span().start, m),
        }
    }

    let mut benefits = Vec::new();
    let mut by_code: HashMap<String, Vec<usize>> = HashMap::default();
    for b in &def.benefit {
        let at = b.span().start;
        match compile_benefit(b.get_ref(), basic, &mut pools) {
            Ok((benefit, codes)) => {
                if benefits.iter().any(|x: &Benefit| x.id == benefit.id) {
                    e(at, format!("benefit {} is defined twice", benefit.id));
                }
                for c in codes {
                    by_code.entry(c).or_default().push(benefits.len());
                }
                benefits.push(benefit);
            }
            Err(m) => e(at, format!("benefit {}: {m}", b.get_ref().id)),
        }
    }
    if benefits.is_empty() {
        e(0, "the product has no [[benefit]]".into());
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Product {
        id: def.product.id.into_inner(),
        name: def.product.name,
        basic,
        waiting_period_months: def.product.waiting_period_months,
        deductible,
        pools,
        benefits,
        by_code,
        file: file.to_path_buf(),
    })
}

/// The highest age a policy may name (an age limit, an exemption): anything above is a typo.
const MAX_AGE: u32 = 130;

fn compile_pool(p: &PoolDef, id: &str) -> Result<Pool, String> {
    let period = Period::parse(&p.period).ok_or_else(|| {
        format!(
            "period {:?}: use treatment-date, calendar-year, N-calendar-years, insurance-duration or condition",
            p.period
        )
    })?;
    let max_euros = p
        .max_euros
        .as_deref()
        .map(|s| Cents::parse(s).map_err(|why| format!("max_euros {s:?}: {why}")))
        .transpose()?;
    if p.id.is_empty() && p.max_units.is_none() && max_euros.is_none() && !p.once_per_date {
        // A shared pool without a maximum is a plain counter (for authorization_from_session).
        return Err("a limit needs max_units, max_euros or once_per_date".into());
    }
    if p.max_units == Some(0) || max_euros == Some(Cents::ZERO) {
        return Err("a maximum of 0 pays nothing: leave the benefit out instead".into());
    }
    if p.once_per_date && period != Period::TreatmentDate {
        return Err("once_per_date needs period = \"treatment-date\"".into());
    }
    Ok(Pool {
        id: id.to_string(),
        period,
        max_units: p.max_units,
        max_euros,
        once_per_date: p.once_per_date,
    })
}

fn compile_benefit(
    b: &BenefitDef,
    basic: bool,
    pools: &mut Vec<Pool>,
) -> Result<(Benefit, Vec<String>), String> {
    let money = |what: &str, s: &Option<String>| {
        s.as_deref()
            .map(|v| Cents::parse(v).map_err(|why| format!("{what} {v:?}: {why}")))
            .transpose()
    };
    let mut codes = Vec::new();
    for c in &b.codes {
        codes.extend(expand_codes(c)?);
    }
    let mut tariffs = HashMap::default();
    for (code, max) in &b.tariffs {
        let m = Cents::parse(max).map_err(|why| format!("tariff {code} {max:?}: {why}"))?;
        tariffs.insert(code.clone(), m);
        codes.push(code.clone());
    }
    if codes.is_empty() {
        return Err("no codes".into());
    }
    let percentage = match &b.percentage {
        None => Rate::FULL,
        Some(s) => Rate::parse(s)?,
    };
    let basis = match b.basis.as_deref() {
        None | Some("claim") => Basis::Claim,
        Some("member-share") => Basis::MemberShare,
        Some(o) => return Err(format!("basis {o:?}: use claim or member-share")),
    };
    let indications = b
        .indications
        .as_ref()
        .map(|list| {
            list.iter()
                .map(|s| match s.as_bytes() {
                    [] => Ok(0),
                    [a, b, c] if s.bytes().all(|x| x.is_ascii_digit()) => {
                        Ok(crate::night::pack_indication(Some([*a, *b, *c])))
                    }
                    _ => Err(format!("indication {s:?} is not a 3-digit CSI")),
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let find_pool = |pools: &Vec<Pool>, id: &str| {
        pools
            .iter()
            .position(|p| p.id == id)
            .ok_or_else(|| format!("unknown pool {id:?} (declare it as [[pool]] above)"))
    };
    let mut pool_idx = Vec::new();
    for id in &b.pools {
        pool_idx.push(find_pool(pools, id)?);
    }
    for (n, l) in b.limits.iter().enumerate() {
        if !l.id.is_empty() {
            return Err("limits = [...] are private to the benefit and have no id".into());
        }
        let mut pool = compile_pool(l, "")?;
        pool.id = format!("{}#{}", b.id, n + 1);
        pools.push(pool);
        pool_idx.push(pools.len() - 1);
    }
    let authorization_from = match (b.authorization_from_session, &b.authorization_pool) {
        (Some(0), _) => {
            return Err("authorization_from_session counts sessions from 1, not 0".into())
        }
        (None, None) => None,
        (Some(n), Some(id)) => Some((find_pool(pools, id)?, n)),
        _ => return Err("authorization_from_session and authorization_pool go together".into()),
    };
    let min_insured = match (b.min_insured_months, b.min_insured_from_age) {
        (Some(m), age) => Some((m, age.unwrap_or(0))),
        (None, None) => None,
        (None, Some(_)) => return Err("min_insured_from_age needs min_insured_months".into()),
    };
    for (what, age) in [
        ("age_min", b.age_min),
        ("age_max", b.age_max),
        ("min_insured_from_age", b.min_insured_from_age),
    ] {
        if age.is_some_and(|a| a > MAX_AGE) {
            return Err(format!("{what} is above {MAX_AGE}: not an age"));
        }
    }
    if let (Some(lo), Some(hi)) = (b.age_min, b.age_max) {
        if lo > hi {
            return Err(format!(
                "age_min {lo} is above age_max {hi}: nobody is covered"
            ));
        }
    }
    if b.min_insured_months == Some(0) {
        return Err("min_insured_months = 0 requires nothing: leave it out instead".into());
    }
    for (what, v) in [
        ("max_per_unit", &b.max_per_unit),
        ("max_per_line", &b.max_per_line),
    ] {
        if money(what, v)? == Some(Cents::ZERO) {
            return Err(format!(
                "{what} = 0 pays nothing: leave the benefit out instead"
            ));
        }
    }
    if let Some((code, _)) = tariffs.iter().find(|(_, m)| **m == Cents::ZERO) {
        return Err(format!(
            "tariff {code} = 0 pays nothing: leave the code out instead"
        ));
    }
    if b.deductible.is_some() && !basic {
        return Err("deductible = ... belongs on basic benefits only".into());
    }
    let authorization_above = compile_jaw_threshold(b, &codes)?;
    let benefit = Benefit {
        id: b.id.clone(),
        name: b.name.clone(),
        code_list: b.code_list.clone(),
        indications,
        basis,
        percentage,
        max_per_unit: money("max_per_unit", &b.max_per_unit)?,
        tariffs,
        max_per_line: money("max_per_line", &b.max_per_line)?,
        pools: pool_idx,
        age_min: b.age_min,
        age_max: b.age_max,
        requires_referral: b.requires_referral,
        requires_authorization: b.requires_authorization,
        authorization_from,
        requires_contract: b.requires_contract.clone(),
        when_contract: b.when_contract.clone(),
        requires_bit: 0,
        when_bit: 0,
        min_insured,
        deductible: basic && b.deductible.unwrap_or(true),
        authorization_above,
    };
    Ok((benefit, codes))
}

/// `authorization_above_per_jaw` with its `jaws`, checked: amounts above zero, real years,
/// 1 or 2 jaws for codes of the benefit.
fn compile_jaw_threshold(b: &BenefitDef, codes: &[String]) -> Result<Option<JawThreshold>, String> {
    let positive = |what: &str, s: &str| match Cents::parse(s) {
        Ok(c) if c > Cents::ZERO => Ok(c),
        Ok(_) => Err(format!("{what} {s:?} must be above 0.00")),
        Err(why) => Err(format!("{what} {s:?}: {why}")),
    };
    let amounts = match &b.authorization_above_per_jaw {
        None if b.jaws.is_empty() => return Ok(None),
        None => return Err("jaws needs authorization_above_per_jaw".into()),
        Some(ThresholdDef::One(s)) => {
            Threshold::Always(positive("authorization_above_per_jaw", s)?)
        }
        Some(ThresholdDef::PerYear(m)) => {
            if m.is_empty() {
                return Err("authorization_above_per_jaw = {} names no year".into());
            }
            let mut years = BTreeMap::new();
            for (y, s) in m {
                let year = y
                    .parse::<u32>()
                    .ok()
                    .filter(|y| (1900..=2200).contains(y))
                    .ok_or_else(|| format!("authorization_above_per_jaw: {y:?} is not a year"))?;
                years.insert(
                    year,
                    positive(&format!("authorization_above_per_jaw {y}"), s)?,
                );
            }
            Threshold::PerYear(years)
        }
    };
    if b.jaws.is_empty() {
        return Err(
            "authorization_above_per_jaw needs jaws = { CODE = 1 or 2, ... } for the codes it applies to"
                .into(),
        );
    }
    if b.requires_authorization {
        return Err(
            "authorization_above_per_jaw with requires_authorization: every line needs one already"
                .into(),
        );
    }
    let mut jaws = HashMap::default();
    for (code, &n) in &b.jaws {
        if !codes.contains(code) {
            return Err(format!("jaws: {code} is not one of the benefit's codes"));
        }
        if !(1..=2).contains(&n) {
            return Err(format!("jaws: {code} = {n}: a line treats 1 or 2 jaws"));
        }
        jaws.insert(code.clone(), n as u8);
    }
    Ok(Some(JawThreshold { amounts, jaws }))
}

/// Expands `1000-1002` into `1000, 1001, 1002` (and `1000Z-1002Z` keeping the suffix,
/// `H10-H12` keeping the letter prefix). A code without digits before the dash (`ALT-ACU`) is
/// one code.
fn expand_codes(spec: &str) -> Result<Vec<String>, String> {
    // Letters, then digits, then letters: (prefix, number, suffix).
    let parts = |s: &str| {
        let p = s.bytes().take_while(u8::is_ascii_alphabetic).count();
        let n = s[p..].bytes().take_while(u8::is_ascii_digit).count();
        (
            s[..p].to_string(),
            s[p..p + n].to_string(),
            s[p + n..].to_string(),
        )
    };
    let Some((a, b)) = spec.split_once('-').filter(|(a, _)| !parts(a).1.is_empty()) else {
        if spec.is_empty() {
            return Err("empty code".into());
        }
        return Ok(vec![spec.to_string()]);
    };
    let ((pa, na, sa), (pb, nb, sb)) = (parts(a), parts(b));
    let (Ok(from), Ok(to)) = (na.parse::<u32>(), nb.parse::<u32>()) else {
        return Err(format!("code range {spec:?} is not numeric"));
    };
    if na.len() != nb.len() || pa != pb || sa != sb || from > to || to - from > 1000 {
        return Err(format!(
            "code range {spec:?}: same width, prefix and suffix, low to high"
        ));
    }
    let w = na.len();
    Ok((from..=to).map(|n| format!("{pa}{n:0w$}{sa}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_ranges_expand() {
        assert_eq!(expand_codes("1000-1002").unwrap(), ["1000", "1001", "1002"]);
        assert_eq!(expand_codes("1000Z-1001Z").unwrap(), ["1000Z", "1001Z"]);
        assert_eq!(expand_codes("ALT-ACU").unwrap(), ["ALT-ACU"]);
        assert!(expand_codes("1002-1000").is_err());
    }

    #[test]
    fn letter_prefixed_code_ranges_expand() {
        assert_eq!(expand_codes("H10-H12").unwrap(), ["H10", "H11", "H12"]);
        assert_eq!(expand_codes("E08-E10").unwrap(), ["E08", "E09", "E10"]);
        assert_eq!(expand_codes("STUTTER-3DAY").unwrap(), ["STUTTER-3DAY"]);
        assert_eq!(expand_codes("SPA-WEEK").unwrap(), ["SPA-WEEK"]);
        assert!(expand_codes("H10-E12").is_err());
        assert!(expand_codes("H10-H9").is_err());
    }

    #[test]
    fn errors_name_the_line() {
        let src = "[product]\nid = \"x\"\nname = \"X\"\nlayer = \"supplementary\"\n\n[[benefit]]\nid = \"a\"\nname = \"A\"\ncodes = [\"1000\"]\npools = [\"nope\"]\n";
        let e = compile(Path::new("x.toml"), src).unwrap_err();
        assert_eq!(e[0].line, 6, "{:?}", e);
        assert!(e[0].message.contains("unknown pool"), "{:?}", e);
        let e = compile(Path::new("x.toml"), "[product]\nid = 3\n").unwrap_err();
        assert_eq!(e[0].line, 2, "{:?}", e);
    }

    #[test]
    fn contract_selector_falls_through_to_the_next_benefit() {
        let src = "[product]\nid = \"x\"\nname = \"X\"\nlayer = \"supplementary\"\n\n\
            [[benefit]]\nid = \"via-sgz\"\nname = \"A\"\ncodes = [\"VAC\"]\nwhen_contract = \"sgz\"\n\n\
            [[benefit]]\nid = \"elders\"\nname = \"B\"\ncodes = [\"VAC\"]\npercentage = \"50\"\n";
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.toml"), src).unwrap();
        let set = load(&[dir.path().to_path_buf()]).unwrap();
        let p = &set.products[0];
        let sgz = set.tag_bits(["sgz"]);
        assert_eq!(sgz, 1);
        assert_eq!(p.benefit_for("", "VAC", 0, sgz).unwrap().id, "via-sgz");
        assert_eq!(p.benefit_for("", "VAC", 0, 0).unwrap().id, "elders");
        assert!(p.benefit_for("", "X", 0, sgz).is_none());
    }

    #[test]
    fn authorization_above_per_jaw_is_checked() {
        let with = |keys: &str| {
            let src = format!(
                "[product]\nid = \"x\"\nname = \"X\"\nlayer = \"supplementary\"\n\n\
                 [[benefit]]\nid = \"p\"\nname = \"P\"\ncodes = [\"P21\", \"P30\"]\n{keys}\n"
            );
            compile(Path::new("x.toml"), &src).map_err(|e| e[0].message.clone())
        };
        let ok =
            with("authorization_above_per_jaw = \"550.00\"\njaws = { P21 = 1, P30 = 2 }").unwrap();
        let t = ok.benefits[0].authorization_above.as_ref().unwrap();
        assert_eq!(t.amounts.in_year(2031), Some(Cents(55_000)));
        assert_eq!(
            (t.jaws_of("P21"), t.jaws_of("P30"), t.jaws_of("P25")),
            (1, 2, 0)
        );
        let per_year =
            with("authorization_above_per_jaw = { 2009 = \"550.00\" }\njaws = { P21 = 1 }")
                .unwrap();
        let t = per_year.benefits[0].authorization_above.as_ref().unwrap();
        assert_eq!(t.amounts.in_year(2009), Some(Cents(55_000)));
        assert_eq!(t.amounts.in_year(2010), None);
        for (keys, says) in [
            ("authorization_above_per_jaw = \"550.00\"", "needs jaws"),
            ("jaws = { P21 = 1 }", "needs authorization_above_per_jaw"),
            ("authorization_above_per_jaw = \"0.00\"\njaws = { P21 = 1 }", "above 0.00"),
            ("authorization_above_per_jaw = \"5,50\"\njaws = { P21 = 1 }", "5,50"),
            ("authorization_above_per_jaw = { 20x9 = \"550.00\" }\njaws = { P21 = 1 }", "not a year"),
            ("authorization_above_per_jaw = \"550.00\"\njaws = { P25 = 1 }", "not one of the benefit's codes"),
            ("authorization_above_per_jaw = \"550.00\"\njaws = { P30 = 3 }", "1 or 2 jaws"),
            (
                "requires_authorization = true\nauthorization_above_per_jaw = \"550.00\"\njaws = { P21 = 1 }",
                "every line needs one already",
            ),
        ] {
            let e = with(keys).unwrap_err();
            assert!(e.contains(says), "{keys}: {e}");
        }
    }

    #[test]
    fn periods_parse() {
        assert_eq!(
            Period::parse("calendar-year"),
            Some(Period::CalendarYears(1))
        );
        assert_eq!(
            Period::parse("2-calendar-years"),
            Some(Period::CalendarYears(2))
        );
        assert_eq!(Period::parse("per-year"), None);
    }
}
