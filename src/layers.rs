//! The module layering, checked: every `crate::…` path in `src/<module>/**` may only name a
//! module of a lower layer (or its own), so the module graph has no cycle.
//!
//! From the top: `cli` → `manifesto` (with `error`, the aggregate the flows return) → `notary` →
//! {`keys`, `registry`} → {`config`} → {`tuf`, `http`} → {`failure`, `fs`}. Modules on one layer do not
//! import each other. Inside a module, no two files' product code imports each other either
//! (the check that keeps `keys/signer` and `keys/store` apart); unit tests may use any file of
//! their own module.

#![cfg(test)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module's layer: a module may only import modules on a lower layer.
const LAYERS: &[(&str, u8)] = &[
    ("failure", 0),
    ("fs", 0),
    ("tuf", 1),
    ("http", 1),
    ("config", 2),
    ("keys", 3),
    ("registry", 3),
    ("notary", 4),
    ("manifesto", 5),
    ("error", 5),
    ("cli", 6),
];

/// `error` names the flows' own error types and the flows return it: one layer, two modules.
const SAME_LAYER_ALLOWED: &[(&str, &str)] = &[("manifesto", "error"), ("error", "manifesto")];

fn layer(module: &str) -> u8 {
    LAYERS
        .iter()
        .find(|(m, _)| *m == module)
        .map(|(_, l)| *l)
        .unwrap_or_else(|| panic!("module {module} has no layer in LAYERS; give it one"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments (doc links name other modules without depending on them).
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.trim_start().starts_with("//"))
}

/// The product code of a file: its lines before the first `#[cfg(test)]` (unit tests may use
/// any file of their own module).
fn product_lines(text: &str) -> impl Iterator<Item = &str> {
    code_lines(text).take_while(|l| l.trim() != "#[cfg(test)]")
}

/// Files that only exist for unit tests.
fn test_only(stem: &str) -> bool {
    stem.ends_with("_tests") || matches!(stem, "test_support" | "memory_source")
}

/// The identifiers that follow `prefix` in `line` (`crate::` → `["notary", …]`).
fn names_after<'a>(line: &'a str, prefix: &str) -> Vec<&'a str> {
    line.match_indices(prefix)
        .filter(|(i, _)| {
            // `foo_crate::x` is not `crate::x`.
            line[..*i]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
        })
        .filter_map(|(i, _)| {
            let rest = &line[i + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (end > 0).then(|| &rest[..end])
        })
        .collect()
}

/// `(top-level module, file stem)` of a file under `src/`.
fn module_of(src: &Path, file: &Path) -> (String, String) {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts = rel.iter().map(|p| p.to_string_lossy().into_owned());
    let first = parts.next().unwrap();
    let stem = rel.file_stem().unwrap().to_string_lossy().into_owned();
    (first.trim_end_matches(".rs").to_string(), stem)
}

#[test]
fn no_module_imports_a_layer_above_or_beside_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = BTreeSet::new();
    for file in &files {
        let (module, _) = module_of(&src, file);
        if matches!(module.as_str(), "lib" | "main" | "layers") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for line in code_lines(&text) {
            for target in names_after(line, "crate::") {
                if target == module || SAME_LAYER_ALLOWED.contains(&(&module, target)) {
                    continue;
                }
                if layer(target) >= layer(&module) {
                    wrong.insert(format!(
                        "{} imports crate::{target}: {module} (layer {}) may only use layers below it",
                        file.strip_prefix(&src).unwrap().display(),
                        layer(&module)
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{}",
        wrong.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn no_two_files_of_a_module_import_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    // module → file → the sibling files it names (`super::x`, `crate::module::x`).
    let mut edges: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let (module, stem) = module_of(&src, file);
        if file.parent() == Some(src.as_path()) || stem == "mod" || test_only(&stem) {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        let own = format!("crate::{module}::");
        for line in product_lines(&text) {
            let mut named = names_after(line, "super::");
            named.extend(names_after(line, &own));
            for sibling in named {
                if sibling != stem {
                    edges
                        .entry((module.clone(), stem.clone()))
                        .or_default()
                        .insert(sibling.to_string());
                }
            }
        }
    }
    let mut cycles = BTreeSet::new();
    for ((module, a), targets) in &edges {
        for b in targets {
            let back = edges
                .get(&(module.clone(), b.clone()))
                .is_some_and(|t| t.contains(a));
            if back && a < b {
                cycles.insert(format!(
                    "{module}/{a}.rs and {module}/{b}.rs import each other"
                ));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "{}",
        cycles.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_checker_sees_paths_and_ignores_look_alikes() {
    assert_eq!(
        names_after("use crate::notary::x; let y = crate::tuf::z;", "crate::"),
        ["notary", "tuf"]
    );
    assert!(names_after("use other_crate::notary;", "crate::").is_empty());
    assert_eq!(code_lines("//! crate::cli\nuse crate::tuf;").count(), 1);
    assert!(layer("cli") > layer("manifesto") && layer("notary") > layer("keys"));
}
