//! docs/abi.md numbers the error codes; `ErrorCode` is the code. They must agree.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // a test: failing loudly is the point

use sandframe_core::ErrorCode;

#[test]
fn abi_md_error_codes_match_error_code() {
    let doc = include_str!("../../../docs/abi.md");
    let section = doc
        .split("## Error codes")
        .nth(1)
        .expect("an error code section");
    let rows: Vec<(i32, String)> = section
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let n = cells.get(1)?.parse::<i32>().ok()?;
            Some((n, cells.get(2)?.trim_matches('`').to_owned()))
        })
        .collect();
    assert_eq!(rows.len(), ErrorCode::ALL.len(), "{rows:?}");
    for (n, name) in rows {
        let code = ErrorCode::from_number(n).expect("a known number");
        assert_eq!(code.name(), name, "code {n}");
    }
}
