#![no_main]
//! The member register reader on arbitrary bytes, against the fixture policies: a register
//! error or a member list, never a panic.
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

#[path = "common.rs"]
mod common;

fn policies() -> &'static declaro::policy::PolicySet {
    static SET: OnceLock<declaro::policy::PolicySet> = OnceLock::new();
    SET.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/policies");
        declaro::policy::load(&[dir]).unwrap_or_else(|_| panic!("fixture policies load"))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = common::scratch("member_register", data);
    if let Ok(members) = declaro::registers::load_members(&path, policies(), None) {
        for i in 0..members.len() as u32 {
            let m = members.get(i);
            assert!(!m.id.is_empty() && m.id.chars().count() <= 15);
            assert!(declaro::model::bsn_valid(&declaro::registers::bsn_text(m.bsn)));
        }
    }
});
