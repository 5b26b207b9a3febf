//! The ids products and pools are stored under (`product_ids`, `pool_ids`), shared by the
//! ledger backends: stored ids resolved against tonight's policies, and tonight's products and
//! pools given ids, new ones on first use.

use super::format::{Counter, StoredLine, StoredMember};
use super::{LedgerError, MemberChange};
use crate::adjudicate::{Accumulators, Effect, PoolKey, Prior, Used};
use crate::model::Cents;
use crate::night::{Night, Outcome, Payment, Products};
use crate::policy::PolicySet;
use rustc_hash::FxHashMap;

/// The ids of `product_ids` and `pool_ids`, by name.
#[derive(Default)]
pub(super) struct Ids {
    pub products: FxHashMap<String, u32>,
    pub pools: FxHashMap<(String, String), u32>,
}

impl Ids {
    /// Each pool's (product, pool) by its id.
    pub fn pool_names(&self) -> FxHashMap<u32, (String, String)> {
        self.pools
            .iter()
            .map(|(name, &id)| (id, name.clone()))
            .collect()
    }

    /// Stored ids to the policies' indexes; ids of products and pools the policies no longer
    /// have are absent.
    pub fn resolve(&self, policies: &PolicySet) -> Resolved {
        let mut r = Resolved::default();
        for (name, &id) in &self.products {
            if let Some(i) = policies.index_of(name) {
                r.products.insert(id, i);
            }
        }
        for ((product, pool), &id) in &self.pools {
            let Some(pi) = policies.index_of(product) else {
                continue;
            };
            if let Some(qi) = policies.products[pi]
                .pools
                .iter()
                .position(|p| p.id == *pool)
            {
                r.pools.insert(id, (pi as u16, qi as u16));
            }
        }
        r
    }

    /// The ids of tonight's products and pools, by policy index. A product or pool without an
    /// id gets one from `new_product(product)` / `new_pool(product, pool)` (which store it).
    pub fn assign(
        &mut self,
        night: &Night,
        members: &[MemberChange<'_>],
        policies: &PolicySet,
        new_product: &mut dyn FnMut(&str) -> Result<u32, LedgerError>,
        new_pool: &mut dyn FnMut(&str, &str) -> Result<u32, LedgerError>,
    ) -> Result<Assigned, LedgerError> {
        let mut used_products = vec![false; policies.products.len()];
        let mut used_pools: Vec<Vec<bool>> = policies
            .products
            .iter()
            .map(|p| vec![false; p.pools.len()])
            .collect();
        let mut mark = |k: &PoolKey| used_pools[usize::from(k.product)][usize::from(k.pool)] = true;
        for m in members {
            m.acc.pools.iter().for_each(|(k, _)| mark(k));
            m.adjudicated.effects.iter().for_each(|e| mark(&e.key));
            for p in &m.adjudicated.paid {
                if let Outcome::Paid(pay) = night.outcomes[p.seq as usize] {
                    pay.products.iter().for_each(|i| used_products[i] = true);
                }
            }
        }
        let mut a = Assigned {
            products: vec![0; policies.products.len()],
            pools: used_pools.iter().map(|p| vec![0; p.len()]).collect(),
        };
        for (i, p) in policies.products.iter().enumerate() {
            if used_products[i] {
                a.products[i] = match self.products.get(&p.id) {
                    Some(&id) => id,
                    None => {
                        let id = new_product(&p.id)?;
                        self.products.insert(p.id.clone(), id);
                        id
                    }
                };
            }
            for (q, pool) in p.pools.iter().enumerate() {
                if !used_pools[i][q] {
                    continue;
                }
                let name = (p.id.clone(), pool.id.clone());
                a.pools[i][q] = match self.pools.get(&name) {
                    Some(&id) => id,
                    None => {
                        let id = new_pool(&p.id, &pool.id)?;
                        self.pools.insert(name, id);
                        id
                    }
                };
            }
        }
        Ok(a)
    }
}

/// Stored ids resolved against tonight's policies.
#[derive(Default)]
pub(super) struct Resolved {
    products: FxHashMap<u32, usize>,
    pools: FxHashMap<u32, (u16, u16)>,
}

impl Resolved {
    fn key(&self, c: Counter) -> Option<PoolKey> {
        self.pools.get(&c.0).map(|&(product, pool)| PoolKey {
            product,
            pool,
            bucket: c.1,
        })
    }

    /// A member's stored state as accumulators, and the counters of pools that are gone.
    pub fn accumulators(&self, s: StoredMember) -> (Accumulators, Vec<Counter>) {
        let mut acc = Accumulators::default();
        let mut kept = Vec::new();
        for c in s.0 {
            match self.key(c) {
                Some(key) => acc.pools.push((
                    key,
                    Used {
                        units: c.2,
                        euros: Cents(c.3),
                    },
                )),
                // A pool that no longer exists in the policies has nothing left to limit; its
                // counters are kept as they are.
                None => kept.push(c),
            }
        }
        acc.pools.sort_unstable_by_key(|(k, _)| *k);
        acc.deductible = s.1.into_iter().map(|(y, c)| (y, Cents(c))).collect();
        acc.deductible.sort_unstable_by_key(|(y, _)| *y);
        (acc, kept)
    }

    /// A stored paid line as the prior a credit reverses.
    pub fn prior(&self, l: StoredLine, credited: bool) -> Prior {
        let mut products = Products::default();
        for i in l.11.iter().filter_map(|id| self.products.get(id)) {
            products.push(*i);
        }
        let effects =
            l.12.iter()
                .filter_map(|&c| {
                    self.key(c).map(|key| Effect {
                        key,
                        units: c.2,
                        euros: Cents(c.3),
                    })
                })
                .collect();
        Prior {
            claimed: Cents(l.6),
            payment: Payment {
                year: u16::try_from(l.5).unwrap_or(u16::MAX),
                paid_basic: Cents(l.7),
                deductible: Cents(l.8),
                paid_supplementary: Cents(l.9),
                products,
                reasons: crate::model::Reasons::default(),
            },
            effects,
            credited,
        }
    }
}

/// The ids tonight's products and pools are written with, by policy index.
pub(super) struct Assigned {
    pub products: Vec<u32>,
    pub pools: Vec<Vec<u32>>,
}

impl Assigned {
    /// A counter (or a line's effect) as stored.
    pub fn counter(&self, key: PoolKey, units: u32, euros: Cents) -> Counter {
        Counter(
            self.pools[usize::from(key.product)][usize::from(key.pool)],
            key.bucket,
            units,
            euros.0,
        )
    }
}
