//! `python-sysgen HEADER`: prints the Rust declarations of ferrymap's C API
//! in HEADER as bindings/python/src/sys.rs holds them (see
//! scripts/update-python-sys, which runs it and formats the output).
//!
//! The options, and why:
//! - only ferrymap's own names (fm_*, FM_*), not what stdint.h & co. declare;
//! - the C enums as plain constants of their enum type (c_uint): the Python
//!   code compares statuses and passes kinds and op codes as numbers;
//! - no layout tests: the header static-asserts every struct's size, and
//!   these structs are laid out by the same clang from the same header;
//! - no doc comments: the header is the reference (and a doc-only edit of it
//!   then needs no regeneration);
//! - Default for every struct (zeroed), to make out-parameters;
//! - types first, then constants, then functions (each in header order).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(header), None) = (args.next(), args.next()) else {
        eprintln!("usage: python-sysgen HEADER > sys.rs");
        return ExitCode::from(2);
    };
    let target = bindgen::RustTarget::stable(85, 0).expect("Rust 1.85 is a known target");
    let generated = bindgen::Builder::default()
        .header(header)
        .allowlist_function("fm_.*")
        .allowlist_type("fm_.*")
        .allowlist_var("FM_.*")
        .prepend_enum_name(false)
        .layout_tests(false)
        .generate_comments(false)
        .derive_default(true)
        .merge_extern_blocks(true)
        .sort_semantically(true)
        .ctypes_prefix("std::ffi")
        .rust_target(target)
        .rust_edition(bindgen::RustEdition::Edition2021)
        .raw_line("// Generated from bindings/c/ferrymap.h by scripts/update-python-sys: do not")
        .raw_line(
            "// edit. bindings/python/test.sh fails if it differs from what the header gives.",
        )
        .formatter(bindgen::Formatter::None)
        .clang_arg("-std=c11")
        .generate();
    match generated {
        Ok(bindings) => {
            print!("{bindings}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("python-sysgen: {e}");
            ExitCode::FAILURE
        }
    }
}
