//! The layering of the library, checked: every `crate::module` a file of `src/` names must be
//! one its module may use, as listed in the "Layers" table of `docs/ARCHITECTURE.md` (so the
//! table and the code cannot drift apart), and the library stays silent and CLI-free (no
//! `clap`, `indicatif`, `rustyline`, `println!` or `eprintln!` outside `src/cli/` and
//! `src/main.rs`). Test modules (`#[cfg(test)]`) and comments are not checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Crates and macros that belong to the command-line front end only.
const CLI_ONLY: &[&str] = &["clap", "indicatif", "rustyline", "println!", "eprintln!"];

/// Whether `code` names `banned` as a whole word (`println!` is not found in `eprintln!`).
fn mentions(code: &str, banned: &str) -> bool {
    code.match_indices(banned).any(|(k, _)| {
        let before = code[..k].chars().next_back();
        let after = code[k + banned.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        !word(before) && (banned.ends_with('!') || !word(after))
    })
}

/// The "Layers" table of docs/ARCHITECTURE.md: module -> modules it may use.
fn allowed_table(doc: &str) -> BTreeMap<String, BTreeSet<String>> {
    let section = doc.split("\n## Layers").nth(1).expect("docs/ARCHITECTURE.md has a '## Layers' section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut out = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 3 || !cells[1].starts_with('`') {
            continue;
        }
        let module = cells[1].trim_matches('`').to_string();
        let uses = cells[2].split(',').map(|c| c.trim().trim_matches('`').to_string()).filter(|c| !c.is_empty() && c != "-").collect();
        out.insert(module, uses);
    }
    out
}

/// The code of a file without its test module and without comments.
fn checked_code(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("#[cfg(test)]") {
            break;
        }
        let code = match line.find("//") {
            Some(k) if !line[..k].contains('"') => &line[..k],
            _ => line,
        };
        if !code.trim().is_empty() {
            out.push((i + 1, code.to_string()));
        }
    }
    out
}

/// The crate modules a line of code names: `crate::a::...` and the heads of `crate::{a, b::c}`
/// (lower-case heads only: `crate::HOPDB_VERSION` is an item of the crate root).
fn named_modules(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(k) = rest.find("crate::") {
        let after = &rest[k + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let head: String = item.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if head.starts_with(|c: char| c.is_ascii_lowercase()) && head != "self" {
                    out.push(head);
                }
            }
        } else {
            let head: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if head.starts_with(|c: char| c.is_ascii_lowercase()) {
                out.push(head);
            }
        }
        rest = after;
    }
    out
}

/// The top-level module a source file belongs to (`None` for the crate root, the binary and
/// the CLI, which may use anything).
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_string_lossy().to_string();
    let name = first.trim_end_matches(".rs").to_string();
    (!matches!(name.as_str(), "lib" | "main" | "cli")).then_some(name)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every breach of the layering in the source files `files` (path relative to `src/`, text).
fn violations(files: &[(PathBuf, String)], allowed: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut out = Vec::new();
    for (rel, text) in files {
        let Some(module) = module_of(rel) else { continue };
        let Some(may) = allowed.get(&module) else {
            out.push(format!("src/{}: module `{module}` has no row in the Layers table of docs/ARCHITECTURE.md", rel.display()));
            continue;
        };
        for (line, code) in checked_code(text) {
            for used in named_modules(&code) {
                if used != module && !may.contains(&used) {
                    let list: Vec<&str> = may.iter().map(String::as_str).collect();
                    out.push(format!("src/{}:{line}: `{module}` uses `crate::{used}`, but it may use only [{}] (docs/ARCHITECTURE.md, Layers)", rel.display(), list.join(", ")));
                }
            }
            for banned in CLI_ONLY {
                if mentions(&code, banned) {
                    out.push(format!("src/{}:{line}: `{banned}` in the library (only src/cli/ and src/main.rs may use it)", rel.display()));
                }
            }
        }
    }
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_library_follows_the_layers_table() {
    let doc = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).expect("docs/ARCHITECTURE.md");
    let allowed = allowed_table(&doc);
    assert!(allowed.len() >= 20, "the Layers table lists {} modules", allowed.len());
    let src = root().join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files: Vec<(PathBuf, String)> = paths
        .into_iter()
        .map(|p| (p.strip_prefix(&src).expect("under src").to_path_buf(), std::fs::read_to_string(&p).expect("readable")))
        .collect();
    // Every module in the table exists (a renamed module must be renamed in the table too).
    let present: BTreeSet<String> = files.iter().filter_map(|(rel, _)| module_of(rel)).collect();
    for module in allowed.keys() {
        assert!(present.contains(module), "the Layers table lists `{module}`, which is not a module of src/");
    }
    let bad = violations(&files, &allowed);
    assert!(bad.is_empty(), "{} layering violation(s):\n{}", bad.len(), bad.join("\n"));
}

#[test]
fn a_back_edge_or_a_print_is_caught() {
    let allowed: BTreeMap<String, BTreeSet<String>> = [("store", vec!["record", "structure"]), ("record", vec!["structure"])]
        .into_iter()
        .map(|(m, u)| (m.to_string(), u.into_iter().map(String::from).collect()))
        .collect();
    let store = "use crate::record::HopRecord;\nuse crate::{structure, query::exec};\n// crate::import in a comment is fine\nfn f() { eprintln!(\"x\"); }\n#[cfg(test)]\nmod tests { use crate::import; }\n";
    let files = vec![(PathBuf::from("store.rs"), store.to_string()), (PathBuf::from("record/mod.rs"), "use crate::structure::Lattice;".to_string()), (PathBuf::from("cli/mod.rs"), "use crate::query; fn g() { println!(); }".to_string())];
    let bad = violations(&files, &allowed);
    assert_eq!(bad.len(), 2, "{bad:#?}");
    assert!(bad[0].starts_with("src/store.rs:2: `store` uses `crate::query`"), "{}", bad[0]);
    assert!(bad[1].contains("src/store.rs:4: `eprintln!` in the library"), "{}", bad[1]);
    let unknown = violations(&[(PathBuf::from("newmod.rs"), String::new())], &allowed);
    assert!(unknown[0].contains("`newmod` has no row"), "{unknown:?}");
}
