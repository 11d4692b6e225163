//! Build script: with the `gnn` feature, compiles `csrc/torch_shim.cpp` against the libtorch of
//! a Python `torch` install and links it with an rpath, so the binary runs without
//! `LD_LIBRARY_PATH`. Without the feature it does nothing.
//!
//! The Python interpreter is taken from `HOPDB_TORCH_PYTHON`, else `PYTHON_SYS_EXECUTABLE`,
//! else `~/.cache/hopdb/torch-2.13.0/bin/python` when it exists, else `python3`.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=csrc/torch_shim.cpp");
    println!("cargo:rerun-if-env-changed=HOPDB_TORCH_PYTHON");
    println!("cargo:rerun-if-env-changed=PYTHON_SYS_EXECUTABLE");
    if std::env::var_os("CARGO_FEATURE_GNN").is_none() {
        return;
    }
    let python = python();
    let script = "import torch, os; print(os.path.dirname(torch.__file__)); print(int(torch._C._GLIBCXX_USE_CXX11_ABI)); print(torch.__version__)";
    let out = Command::new(&python).arg("-c").arg(script).output().unwrap_or_else(|e| {
        panic!("feature `gnn`: cannot run {python:?} to locate torch ({e}); run `make torch` or set HOPDB_TORCH_PYTHON")
    });
    if !out.status.success() {
        panic!(
            "feature `gnn`: {python:?} cannot import torch: {}; run `make torch` or set HOPDB_TORCH_PYTHON",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let root = PathBuf::from(lines.next().expect("torch path"));
    let abi = lines.next().expect("torch ABI flag").trim().to_string();
    let version = lines.next().unwrap_or("").trim().to_string();
    if !version.starts_with("2.13.0") {
        println!("cargo:warning=hopdb gnn: built against torch {version}, tested with 2.13.0");
    }
    let lib = root.join("lib");
    let inc = root.join("include");
    cc::Build::new()
        .cpp(true)
        .file("csrc/torch_shim.cpp")
        .include(&inc)
        .include(inc.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag_if_supported("-w")
        .define("_GLIBCXX_USE_CXX11_ABI", abi.as_str())
        .opt_level(2)
        .compile("hopdb_torch_shim");
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
    println!("cargo:rustc-link-lib=dylib=stdc++");
    // rpath for every artefact (binary, tests, benches): no LD_LIBRARY_PATH needed.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!("cargo:rustc-env=HOPDB_TORCH_LIB={}", lib.display());
    println!("cargo:rustc-env=HOPDB_TORCH_VERSION={version}");
}

fn python() -> String {
    for var in ["HOPDB_TORCH_PYTHON", "PYTHON_SYS_EXECUTABLE"] {
        if let Ok(p) = std::env::var(var) {
            if !p.is_empty() {
                return p;
            }
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = PathBuf::from(home).join(".cache/hopdb/torch-2.13.0/bin/python");
        if p.exists() {
            return p.display().to_string();
        }
    }
    "python3".to_string()
}
