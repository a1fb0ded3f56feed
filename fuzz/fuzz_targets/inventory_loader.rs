//! Fuzz target: the inventory loader. Any bytes (as text, invalid UTF-8 replaced) must load
//! without a panic, to an inventory or at least one diagnostic saying why not, with every
//! span inside the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_compiler::inventory::load;
use strata_grammar::FileId;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (inventory, diags) = load(FileId(0), &text);
    assert!(inventory.is_some() || !diags.is_empty(), "no inventory and no reason");
    for d in &diags {
        assert!(d.span.start <= d.span.end && d.span.end <= text.len(), "{d:?}");
        for r in &d.related {
            assert!(r.span.end <= text.len(), "{r:?}");
        }
    }
});
