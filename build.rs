//! Build script: with the `gnn` feature, gives every artefact (binary, tests, benches) an rpath
//! to the libtorch that torch-sys (the `tch` crate's sys layer) linked against, so the
//! binaries run without `LD_LIBRARY_PATH`. torch-sys reports that directory through its
//! `links = "tch"` metadata (`DEP_TCH_LIBTORCH_LIB`). Without the feature it does nothing.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if std::env::var_os("CARGO_FEATURE_GNN").is_none() {
        return;
    }
    match std::env::var("DEP_TCH_LIBTORCH_LIB") {
        Ok(lib) if !lib.is_empty() => {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
            println!("cargo:rustc-env=HOPDB_TORCH_LIB={lib}");
        }
        _ => println!(
            "cargo:warning=hopdb gnn: torch-sys did not report libtorch's lib directory; the binaries may need LD_LIBRARY_PATH"
        ),
    }
}
