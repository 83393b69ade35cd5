//! The dependency extractor: any text as a model's SQL must give the tables
//! it reads or an error with a position, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sql) = std::str::from_utf8(data) {
        if let Ok(refs) = mart::spec::sql::model_refs(sql) {
            for r in refs {
                assert!(!r.parts.is_empty());
            }
        }
    }
});
