//! The night's codes against the products, worked out once per run: whether any product knows a
//! code, and for each (code, product) the benefits that may apply, with the code's maximum per
//! unit. Adjudication then looks a line's benefits up by its interned code id.

use crate::intern::Interner;
use crate::model::Cents;
use crate::night::code_parts;
use crate::policy::PolicySet;

/// A benefit that covers a code and its code list (the line's CSI and provider decide).
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    pub benefit: u16,
    /// The benefit's maximum per unit for this code (per-code tariff, else the benefit's).
    pub unit_max: Option<Cents>,
    /// The jaws a line of this code treats, when the benefit asks an authorization above an
    /// amount per jaw (0: not asked).
    pub jaws: u8,
}

/// Per interned (code list, code): known or not, and its candidate benefits per product.
#[derive(Debug, Default)]
pub struct CodeTable {
    known: Vec<bool>,
    /// `code * products + product` → range in `candidates`.
    spans: Vec<(u32, u32)>,
    candidates: Vec<Candidate>,
    products: usize,
}

impl CodeTable {
    /// The table for every code interned in `codes` (keys made by [`crate::night::code_key`]).
    pub fn new(policies: &PolicySet, codes: &Interner) -> CodeTable {
        let products = policies.products.len();
        let mut t = CodeTable {
            known: Vec::with_capacity(codes.len()),
            spans: Vec::with_capacity(codes.len() * products),
            candidates: Vec::new(),
            products,
        };
        for key in codes.iter() {
            let (list, code) = code_parts(key);
            t.known.push(policies.knows_code(code));
            for p in &policies.products {
                let from = t.candidates.len() as u32;
                for b in p.candidates(list, code) {
                    let benefit = &p.benefits[usize::from(b)];
                    t.candidates.push(Candidate {
                        benefit: b,
                        unit_max: benefit.unit_max(code),
                        jaws: benefit
                            .authorization_above
                            .as_ref()
                            .map_or(0, |a| a.jaws_of(code)),
                    });
                }
                t.spans.push((from, t.candidates.len() as u32));
            }
        }
        t
    }

    /// Whether any product knows the code (whatever its code list).
    pub fn known(&self, code: u32) -> bool {
        self.known.get(code as usize).copied().unwrap_or(false)
    }

    /// The benefits of `product` that cover the code and its code list, in file order.
    pub fn candidates(&self, code: u32, product: usize) -> &[Candidate] {
        let Some(&(from, to)) = self.spans.get(code as usize * self.products + product) else {
            return &[];
        };
        &self.candidates[from as usize..to as usize]
    }
}
