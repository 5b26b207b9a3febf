//! The reason codes of contract section 7.

/// Reason codes of contract section 7, in the order they are printed when several apply.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
#[repr(u8)]
pub enum Reason {
    Malformed,
    MissingField,
    BadBsn,
    BadAgb,
    BadDate,
    UnknownMember,
    BirthDateMismatch,
    NotInsured,
    UnknownCode,
    NotCovered,
    WaitingPeriod,
    AgeLimit,
    NoReferral,
    NoAuthorization,
    Duplicate,
    DuplicateCare,
    SameDay,
    SessionLimit,
    AmountLimit,
    TariffCap,
    Percentage,
    Deductible,
    LegalCopay,
    UnmatchedCredit,
    FutureDate,
    YearNotConfigured,
}

impl Reason {
    /// Every reason, in printing order.
    pub const ALL: [Reason; 26] = [
        Reason::Malformed,
        Reason::MissingField,
        Reason::BadBsn,
        Reason::BadAgb,
        Reason::BadDate,
        Reason::UnknownMember,
        Reason::BirthDateMismatch,
        Reason::NotInsured,
        Reason::UnknownCode,
        Reason::NotCovered,
        Reason::WaitingPeriod,
        Reason::AgeLimit,
        Reason::NoReferral,
        Reason::NoAuthorization,
        Reason::Duplicate,
        Reason::DuplicateCare,
        Reason::SameDay,
        Reason::SessionLimit,
        Reason::AmountLimit,
        Reason::TariffCap,
        Reason::Percentage,
        Reason::Deductible,
        Reason::LegalCopay,
        Reason::UnmatchedCredit,
        Reason::FutureDate,
        Reason::YearNotConfigured,
    ];

    /// The contract's code.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Malformed => "MALFORMED",
            Reason::MissingField => "MISSING_FIELD",
            Reason::BadBsn => "BAD_BSN",
            Reason::BadAgb => "BAD_AGB",
            Reason::BadDate => "BAD_DATE",
            Reason::UnknownMember => "UNKNOWN_MEMBER",
            Reason::BirthDateMismatch => "BIRTH_DATE_MISMATCH",
            Reason::NotInsured => "NOT_INSURED",
            Reason::UnknownCode => "UNKNOWN_CODE",
            Reason::NotCovered => "NOT_COVERED",
            Reason::WaitingPeriod => "WAITING_PERIOD",
            Reason::AgeLimit => "AGE_LIMIT",
            Reason::NoReferral => "NO_REFERRAL",
            Reason::NoAuthorization => "NO_AUTHORIZATION",
            Reason::Duplicate => "DUPLICATE",
            Reason::DuplicateCare => "DUPLICATE_CARE",
            Reason::SameDay => "SAME_DAY",
            Reason::SessionLimit => "SESSION_LIMIT",
            Reason::AmountLimit => "AMOUNT_LIMIT",
            Reason::TariffCap => "TARIFF_CAP",
            Reason::Percentage => "PERCENTAGE",
            Reason::Deductible => "DEDUCTIBLE",
            Reason::LegalCopay => "LEGAL_COPAY",
            Reason::UnmatchedCredit => "UNMATCHED_CREDIT",
            Reason::FutureDate => "FUTURE_DATE",
            Reason::YearNotConfigured => "YEAR_NOT_CONFIGURED",
        }
    }

    /// The Vektis retourcode (COD954) for the EI return file (contract section 7); `None` for a
    /// reason that is no remark to the provider (the deductible).
    pub fn vektis(self) -> Option<&'static str> {
        Some(match self {
            Reason::Malformed | Reason::MissingField => "0801",
            Reason::BadBsn => "0435",
            Reason::BadAgb => "8011",
            Reason::BadDate => "8007",
            Reason::FutureDate => "8176",
            Reason::UnknownMember | Reason::NotInsured => "0320",
            Reason::BirthDateMismatch => "8004",
            Reason::UnknownCode => "0582",
            Reason::NoReferral => "8014",
            Reason::NoAuthorization => "0551",
            Reason::Duplicate => "8021",
            Reason::DuplicateCare => "0587",
            Reason::SameDay => "0634",
            Reason::SessionLimit => "0584",
            Reason::AmountLimit => "0589",
            Reason::TariffCap => "0611",
            Reason::UnmatchedCredit => "8017",
            // The provider is awarded the full amount; the member pays the deductible.
            Reason::Deductible => return None,
            Reason::NotCovered
            | Reason::WaitingPeriod
            | Reason::AgeLimit
            | Reason::Percentage
            | Reason::LegalCopay
            | Reason::YearNotConfigured => "0613",
        })
    }
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
