//! Build script: compiles the C `long double` shim used by INCRBYFLOAT.
//!
//! Redis adds INCRBYFLOAT operands as C `long double` and prints them with
//! `"%.17Lf"`; Rust has no such type, so `src/util/longdouble.c` does that one
//! step with the platform C library, exactly as Redis does.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/util/longdouble.c");

    cc::Build::new()
        .file("src/util/longdouble.c")
        // The result must be the plain IEEE sum Redis computes: forbid the
        // compiler from fusing or reassociating floating-point operations.
        .flag_if_supported("-ffp-contract=off")
        .flag_if_supported("-fno-fast-math")
        .warnings(true)
        .compile("basalt_longdouble");
}
