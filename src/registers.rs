//! The member register (who holds which product when) and the provider register (contract tags).

use crate::model::{bsn_valid, mask_bsn, Cents, Date};
use crate::policy::PolicySet;
use rustc_hash::FxHashMap as HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A bad register: the run stops before anything is read (exit 3).
#[derive(Debug)]
pub struct RegisterError {
    pub file: PathBuf,
    /// 1-based line in the file (the header is line 1).
    pub line: u64,
    pub field: String,
    pub message: String,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(
                f,
                "{} line {}: {}",
                self.file.display(),
                self.line,
                self.message
            )
        } else {
            write!(
                f,
                "{} line {}: field {}: {}",
                self.file.display(),
                self.line,
                self.field,
                self.message
            )
        }
    }
}

/// One product held during a period.
#[derive(Clone, Debug)]
pub struct Holding {
    /// Index into [`PolicySet::products`].
    pub product: usize,
    pub start: Date,
    pub end: Option<Date>,
    /// Voluntary deductible (zvw rows only).
    pub voluntary_deductible: Cents,
}

impl Holding {
    /// Whether the product is held on `d`.
    pub fn covers(&self, d: Date) -> bool {
        self.start <= d && self.end.is_none_or(|e| d <= e)
    }
}

/// A verzekerde with the products held over time, in register order.
#[derive(Clone, Debug)]
pub struct Member {
    pub id: Box<str>,
    pub bsn: Box<str>,
    pub birth_date: Date,
    pub holdings: Vec<Holding>,
}

/// All members, found by member number or BSN.
#[derive(Debug, Default)]
pub struct Members {
    pub list: Vec<Member>,
    by_id: HashMap<Box<str>, u32>,
    by_bsn: HashMap<Box<str>, u32>,
}

impl Members {
    pub fn by_id(&self, id: &str) -> Option<u32> {
        self.by_id.get(id).copied()
    }
    pub fn by_bsn(&self, bsn: &str) -> Option<u32> {
        self.by_bsn.get(bsn).copied()
    }
}

/// Contract tags per provider AGB, as bits of [`PolicySet::tags`] (tags that no benefit names
/// change nothing and are not kept).
#[derive(Debug, Default)]
pub struct Providers {
    tags: HashMap<u32, u64>,
}

impl Providers {
    /// The provider's contract tags.
    pub fn tags(&self, agb: u32) -> u64 {
        self.tags.get(&agb).copied().unwrap_or(0)
    }
}

struct Table {
    path: PathBuf,
    rdr: csv::Reader<std::fs::File>,
    cols: HashMap<String, usize>,
}

impl Table {
    fn open(path: &Path, required: &[&str]) -> Result<Table, RegisterError> {
        let e = |line, message: String| RegisterError {
            file: path.to_path_buf(),
            line,
            field: String::new(),
            message,
        };
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .map_err(|x| e(0, format!("cannot open: {x}")))?;
        let headers = rdr
            .headers()
            .map_err(|x| e(1, format!("cannot read header: {x}")))?;
        let cols: HashMap<String, usize> = headers
            .iter()
            .enumerate()
            .map(|(i, h)| (h.trim_start_matches('\u{feff}').trim().to_string(), i))
            .collect();
        for r in required {
            if !cols.contains_key(*r) {
                return Err(RegisterError {
                    file: path.to_path_buf(),
                    line: 1,
                    field: (*r).to_string(),
                    message: "required column is missing from the header".into(),
                });
            }
        }
        Ok(Table {
            path: path.to_path_buf(),
            rdr,
            cols,
        })
    }

    /// Calls `f` with each row; `get(name)` returns the trimmed field or "".
    fn rows(
        mut self,
        mut f: impl FnMut(u64, &dyn Fn(&str) -> String) -> Result<(), (String, String)>,
    ) -> Result<(), RegisterError> {
        let mut rec = csv::StringRecord::new();
        loop {
            let line = self.rdr.position().line();
            match self.rdr.read_record(&mut rec) {
                Ok(false) => return Ok(()),
                Ok(true) => {}
                Err(x) => {
                    return Err(RegisterError {
                        file: self.path.clone(),
                        line,
                        field: String::new(),
                        message: format!("unreadable row: {x}"),
                    })
                }
            }
            let line = rec.position().map_or(line, |p| p.line());
            if rec.len() != self.rdr.headers().map_or(0, |h| h.len()) {
                return Err(RegisterError {
                    file: self.path.clone(),
                    line,
                    field: String::new(),
                    message: format!("{} fields, the header has a different count", rec.len()),
                });
            }
            let cols = &self.cols;
            let get = |name: &str| -> String {
                cols.get(name)
                    .and_then(|&i| rec.get(i))
                    .unwrap_or("")
                    .trim()
                    .to_string()
            };
            f(line, &get).map_err(|(field, message)| RegisterError {
                file: self.path.clone(),
                line,
                field,
                message,
            })?;
        }
    }
}

fn date_field(get: &dyn Fn(&str) -> String, name: &str) -> Result<Date, (String, String)> {
    let v = get(name);
    Date::parse(&v).ok_or_else(|| {
        (
            name.to_string(),
            format!("{v:?} is not a date (YYYY-MM-DD)"),
        )
    })
}

/// Reads the member register (contract section 3).
pub fn load_members(path: &Path, policies: &PolicySet) -> Result<Members, RegisterError> {
    const REQUIRED: [&str; 6] = [
        "member_id",
        "bsn",
        "birth_date",
        "product",
        "start_date",
        "end_date",
    ];
    let table = Table::open(path, &REQUIRED)?;
    let mut members = Members::default();
    table.rows(|_, get| {
        let id = get("member_id");
        if id.is_empty() || id.chars().count() > 15 {
            return Err(("member_id".into(), format!("{id:?} must be 1-15 characters")));
        }
        let bsn = get("bsn");
        if !bsn_valid(&bsn) {
            return Err(("bsn".into(), format!("{} fails the elfproef", mask_bsn(&bsn))));
        }
        let birth_date = date_field(get, "birth_date")?;
        let product_id = get("product");
        let product = policies
            .index_of(&product_id)
            .ok_or_else(|| ("product".to_string(), format!("unknown product {product_id:?}")))?;
        let start = date_field(get, "start_date")?;
        let end = match get("end_date").as_str() {
            "" => None,
            _ => Some(date_field(get, "end_date")?),
        };
        if end.is_some_and(|e| e < start) {
            return Err(("end_date".into(), "end_date is before start_date".into()));
        }
        let vol = get("voluntary_deductible");
        let voluntary_deductible = if vol.is_empty() {
            Cents::ZERO
        } else {
            let v = Cents::parse(&vol).map_err(|w| ("voluntary_deductible".to_string(), format!("{vol:?}: {w}")))?;
            let p = &policies.products[product];
            let choices = p.deductible.as_ref().map(|d| d.voluntary_choices.as_slice()).unwrap_or(&[]);
            if !p.basic && !v.is_zero() {
                return Err(("voluntary_deductible".into(), "only on the basic product's rows".into()));
            }
            if p.basic && !v.is_zero() && !choices.contains(&v) {
                return Err(("voluntary_deductible".into(), format!("{vol} is not one of the allowed amounts")));
            }
            v
        };
        let holding = Holding {
            product,
            start,
            end,
            voluntary_deductible,
        };
        let idx = match members.by_id.get(id.as_str()) {
            Some(&i) => {
                let m = &members.list[i as usize];
                if *m.bsn != *bsn {
                    return Err(("bsn".into(), format!("member {id} has another BSN on an earlier row")));
                }
                if m.birth_date != birth_date {
                    return Err(("birth_date".into(), format!("member {id} has another birth date on an earlier row")));
                }
                i
            }
            None => {
                if members.by_bsn.contains_key(bsn.as_str()) {
                    return Err(("bsn".into(), format!("{} belongs to another member_id", mask_bsn(&bsn))));
                }
                let i = members.list.len() as u32;
                members.list.push(Member {
                    id: id.clone().into(),
                    bsn: bsn.clone().into(),
                    birth_date,
                    holdings: Vec::new(),
                });
                members.by_id.insert(id.into(), i);
                members.by_bsn.insert(bsn.into(), i);
                i
            }
        };
        let m = &mut members.list[idx as usize];
        let overlaps = m.holdings.iter().any(|h| {
            let other_basic = policies.products[h.product].basic && policies.products[product].basic;
            (h.product == product || other_basic)
                && h.start <= end.unwrap_or(Date::new(9999, 12, 31).unwrap_or_default())
                && start <= h.end.unwrap_or(Date::new(9999, 12, 31).unwrap_or_default())
        });
        if overlaps {
            return Err(("start_date".into(), "overlaps an earlier row of the same member for the same (or another basic) product".into()));
        }
        m.holdings.push(holding);
        Ok(())
    })?;
    Ok(members)
}

/// Reads the provider register (contract section 3.1).
pub fn load_providers(path: &Path, policies: &PolicySet) -> Result<Providers, RegisterError> {
    let table = Table::open(path, &["provider_agb", "contracts"])?;
    let mut providers = Providers::default();
    table.rows(|_, get| {
        let agb = get("provider_agb");
        if !crate::model::agb_valid(&agb) {
            return Err((
                "provider_agb".into(),
                format!("{agb:?} is not an 8-digit AGB code"),
            ));
        }
        let contracts = get("contracts");
        let tags = policies.tag_bits(contracts.split(';').map(str::trim));
        let n: u32 = agb
            .parse()
            .map_err(|_| ("provider_agb".to_string(), "not a number".to_string()))?;
        if providers.tags.insert(n, tags).is_some() {
            return Err(("provider_agb".into(), format!("{agb} is listed twice")));
        }
        Ok(())
    })?;
    Ok(providers)
}
