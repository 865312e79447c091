//! The library's dynamic exports are exactly the header's functions and
//! `JNI_OnLoad`: the JNI natives are registered from `JNI_OnLoad`, never
//! exported, so no C caller can reach one with an environment of its own.

use std::collections::BTreeSet;
use std::process::Command;

/// Function names the committed header declares (not typedefs, not names
/// mentioned in comments).
fn header_functions() -> BTreeSet<String> {
    let header = include_str!("../bindings/c/ferrymap.h");
    let mut names = BTreeSet::new();
    for line in header.lines() {
        let code = line.trim_start();
        if code.starts_with('*') || code.starts_with("/*") || code.starts_with("//") {
            continue;
        }
        let mut rest = code;
        while let Some(at) = rest.find("fm_") {
            let tail = &rest[at..];
            let len = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            let before = &rest[..at];
            if tail[len..].starts_with('(') && !before.ends_with("(*") {
                names.insert(tail[..len].to_string());
            }
            rest = &tail[len..];
        }
    }
    names
}

#[test]
fn exports_are_the_header_and_jni_onload() {
    let exe = std::env::current_exe().expect("the test knows its path");
    let lib = exe
        .parent()
        .expect("tests live in a directory")
        .join("libferrymap.so");
    assert!(lib.is_file(), "{} not built", lib.display());
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&lib)
        .output()
        .expect("nm (binutils) runs");
    assert!(out.status.success(), "nm failed on {}", lib.display());
    let exported: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        // Benchmark-only helpers exist only with the bench-floor feature.
        .filter(|name| !name.starts_with("fmbench_"))
        .collect();
    let mut expected = header_functions();
    assert!(
        expected.len() > 50,
        "the header parse found too few functions"
    );
    expected.insert("JNI_OnLoad".to_string());
    let extra: Vec<_> = exported.difference(&expected).collect();
    let missing: Vec<_> = expected.difference(&exported).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "exported but not in the header: {extra:?}; in the header but not exported: {missing:?}"
    );
}
