//! The claims-file and register headers the tests write (contract sections 3 and 4.1), and the
//! registers' helpers.

/// The columns a CSV claims file needs at the least.
pub const MINIMAL: &str =
    "batch_id,line_id,provider_agb,member_id,birth_date,service_date,code,amount";

/// [`MINIMAL`] and a quantity.
pub const WITH_QUANTITY: &str =
    "batch_id,line_id,provider_agb,member_id,birth_date,service_date,code,quantity,amount";

/// [`MINIMAL`] and the BSN (a line may name its member by BSN only).
pub const WITH_BSN: &str =
    "batch_id,line_id,provider_agb,member_id,bsn,birth_date,service_date,code,amount";

/// [`MINIMAL`] and a code list and CSI (`indication`).
pub const WITH_CSI: &str =
    "batch_id,line_id,provider_agb,member_id,birth_date,service_date,code_list,code,indication,amount";

/// [`MINIMAL`] and the credit columns.
pub const WITH_CREDITS: &str = "batch_id,line_id,provider_agb,member_id,birth_date,service_date,code,amount,debit_credit,related_line_id";

/// The columns of a line with a code list, CSI, referral, authorization, a trajectory and a
/// diagnosis (contract 4.1, `diagnosis` included).
pub const WITH_TRAJECTORY: &str = "batch_id,line_id,provider_agb,member_id,birth_date,service_date,code_list,code,quantity,indication,referral,authorization,amount,trajectory_start,diagnosis";

/// Every column but `bsn`, `trajectory_start` and `diagnosis`: what the property tests
/// generate.
pub const GENERATED: &str = "batch_id,line_id,provider_agb,member_id,birth_date,service_date,code_list,code,quantity,indication,referral,authorization,amount,legal_copay,debit_credit,related_line_id";

/// Every column of contract 4.1 but `diagnosis`.
pub const ALL: &str = "batch_id,line_id,provider_agb,member_id,bsn,birth_date,service_date,code_list,code,quantity,indication,referral,authorization,amount,legal_copay,trajectory_start,debit_credit,related_line_id";

/// The member register's header (contract section 3).
pub const REGISTER: &str =
    "member_id,bsn,birth_date,product,start_date,end_date,voluntary_deductible";

/// The member register's header without its optional `voluntary_deductible`.
pub const REGISTER_WITHOUT_VOLUNTARY: &str = "member_id,bsn,birth_date,product,start_date,end_date";

/// `header` and a line end, to put before hand-written rows.
pub fn head(header: &str) -> String {
    format!("{header}\n")
}

/// A valid BSN (elfproef: 9*d1 + 8*d2 + ... + 2*d8 - d9 divisible by 11), the first at or
/// after `base + i * 7919`.
pub fn bsn(base: u64, i: u64) -> String {
    let mut head = base + i * 7919;
    loop {
        let sum: u64 = format!("{head:08}")
            .bytes()
            .enumerate()
            .map(|(k, b)| u64::from(b - b'0') * (9 - k as u64))
            .sum();
        if sum % 11 < 10 {
            return format!("{head:08}{}", sum % 11);
        }
        head += 1;
    }
}

/// The text of a CSV file of `header` and [`super::table`] rows, written by the csv writer.
pub fn csv_text_of(header: &str, rows: &[&str]) -> String {
    String::from_utf8(super::csv_text(header, super::table(rows))).unwrap()
}
