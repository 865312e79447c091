//! The committed header must be exactly what build.rs generates.

#[test]
fn committed_header_matches_generated() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/ferrymap.h"));
    let committed = include_str!("../bindings/c/ferrymap.h");
    assert!(
        generated == committed,
        "bindings/c/ferrymap.h is out of date: run scripts/update-header and commit the result"
    );
}
