//! The reason codes of contract section 7.

/// Writes the [`Reason`] enum, [`Reason::ALL`], [`Reason::code`] and [`Reason::vektis`] from
/// one table, so that a reason, its contract code and its Vektis retourcode stand on one line.
macro_rules! reasons {
    ($($(#[$doc:meta])* $variant:ident => $code:literal, $vektis:expr;)*) => {
        /// Reason codes of contract section 7, in the order they are printed when several apply.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Reason {
            $($(#[$doc])* $variant,)*
        }

        impl Reason {
            /// Every reason, in printing order.
            pub const ALL: [Reason; [$($code),*].len()] = [$(Reason::$variant),*];

            /// The contract's code.
            pub fn code(self) -> &'static str {
                match self {
                    $(Reason::$variant => $code,)*
                }
            }

            /// The Vektis retourcode (COD954) that an EI return file carries for it (contract
            /// section 7); `None` for a reason that is no remark to the provider.
            pub fn vektis(self) -> Option<&'static str> {
                match self {
                    $(Reason::$variant => $vektis,)*
                }
            }
        }
    };
}

// reason => contract code, Vektis retourcode (COD954; the meanings are in docs/vektis-ei.md).
reasons! {
    Malformed => "MALFORMED", Some("0801");
    MissingField => "MISSING_FIELD", Some("0801");
    BadBsn => "BAD_BSN", Some("0435");
    BadAgb => "BAD_AGB", Some("8011");
    BadDate => "BAD_DATE", Some("8007");
    UnknownMember => "UNKNOWN_MEMBER", Some("0320");
    BirthDateMismatch => "BIRTH_DATE_MISMATCH", Some("8004");
    NotInsured => "NOT_INSURED", Some("0320");
    UnknownCode => "UNKNOWN_CODE", Some("0582");
    NotCovered => "NOT_COVERED", Some("0613");
    WaitingPeriod => "WAITING_PERIOD", Some("0613");
    AgeLimit => "AGE_LIMIT", Some("0613");
    NoReferral => "NO_REFERRAL", Some("8014");
    NoAuthorization => "NO_AUTHORIZATION", Some("0551");
    Duplicate => "DUPLICATE", Some("8021");
    DuplicateCare => "DUPLICATE_CARE", Some("0587");
    SameDay => "SAME_DAY", Some("0634");
    SessionLimit => "SESSION_LIMIT", Some("0584");
    AmountLimit => "AMOUNT_LIMIT", Some("0589");
    TariffCap => "TARIFF_CAP", Some("0611");
    Percentage => "PERCENTAGE", Some("0613");
    // The provider is awarded the full amount; the member pays the deductible.
    Deductible => "DEDUCTIBLE", None;
    LegalCopay => "LEGAL_COPAY", Some("0613");
    UnmatchedCredit => "UNMATCHED_CREDIT", Some("8017");
    FutureDate => "FUTURE_DATE", Some("8176");
    YearNotConfigured => "YEAR_NOT_CONFIGURED", Some("0613");
}

/// A small set of reasons, printed in [`Reason::ALL`] order.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Reasons(u32);

impl Reasons {
    pub fn insert(&mut self, r: Reason) {
        self.0 |= 1 << (r as u8);
    }
    pub fn contains(self, r: Reason) -> bool {
        self.0 & (1 << (r as u8)) != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn union(self, other: Reasons) -> Reasons {
        Reasons(self.0 | other.0)
    }
    pub fn iter(self) -> impl Iterator<Item = Reason> {
        // The set bits, lowest first: the discriminants are in printing order.
        let mut bits = self.0;
        std::iter::from_fn(move || {
            let i = bits.trailing_zeros() as usize;
            bits &= bits.checked_sub(1)?;
            Reason::ALL.get(i).copied()
        })
    }
    /// The codes joined by `;`, as the remittance prints them.
    pub fn joined(self) -> String {
        self.iter().map(Reason::code).collect::<Vec<_>>().join(";")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table above is the contract's (section 7): each code with its Vektis retourcode,
    /// in the contract's order of printing.
    #[test]
    fn every_reason_is_the_contracts_with_its_vektis_code() {
        let contract = include_str!("../../docs/CONTRACT.md");
        for r in Reason::ALL {
            let head = format!("| `{}` | ", r.code());
            let row = contract.lines().find(|l| l.starts_with(&head));
            let vektis = row.and_then(|l| l[head.len()..].split(" |").next());
            let want = r.vektis().unwrap_or("none");
            assert!(
                vektis.is_some_and(|v| v.contains(want)),
                "{} with {want}: the contract's row is {row:?}",
                r.code()
            );
        }
        let printed: Vec<Reason> = Reasons(u32::MAX).iter().collect();
        assert_eq!(printed, Reason::ALL);
    }
}
