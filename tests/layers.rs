//! The layers of `src/` (docs/ARCHITECTURE.md, "Layers"): a module imports
//! only from its own layer or below. Reads every source file and fails
//! with file:line for each `crate::` path that reaches up, so an import
//! cycle across layers cannot come back unnoticed. Test code
//! (`#[cfg(test)] mod tests`) and comments are not imports.

use std::path::{Path, PathBuf};

/// Each top-level module's layer, lowest first.
const LAYERS: &[(&str, u8)] = &[
    ("text", 0),
    ("release", 0),
    ("outcome", 0),
    ("shutdown", 0),
    ("secret", 0),
    ("spool", 0),
    ("event", 0),
    ("error", 0),
    ("cli", 0),
    ("config", 1),
    ("remote", 2),
    ("ssh", 3),
    ("build", 3),
    ("inventory", 4),
    ("settings", 5),
    ("fleet", 6),
    ("deploy", 7),
    ("commands", 8),
    ("notify", 8),
    ("report", 9),
    ("app", 10),
];

/// Entry files and test-only modules, which may import anything.
const UNLAYERED: &[&str] = &["lib", "main", "proptests"];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `crate::a::b` paths on a line of code, by their first segment (a
/// `crate::{a, b}` group gives each of its members).
fn imported(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            found.extend(inner.split(',').map(|m| m.trim().split("::").next().unwrap_or("").to_string()));
        } else {
            found.push(rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect());
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

/// Every `file:line: <module> (layer N) imports <module> (layer M)`.
fn violations(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    files.sort();
    let mut bad = Vec::new();
    for file in files {
        let rel = file.strip_prefix(root).unwrap();
        let top = rel.components().nth(1).unwrap().as_os_str().to_str().unwrap().trim_end_matches(".rs").to_string();
        if UNLAYERED.contains(&top.as_str()) {
            continue;
        }
        let own = layer(&top).unwrap_or_else(|| {
            panic!("{}: module `{top}` has no layer; add it to LAYERS here and to docs/ARCHITECTURE.md", rel.display())
        });
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.starts_with("#[cfg(test)]") {
                break; // the unit tests, last in every file
            }
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for m in imported(code) {
                match layer(&m) {
                    Some(l) if l > own => bad.push(format!(
                        "{}:{}: {top} (layer {own}) imports {m} (layer {l}): move what it needs down, or it up",
                        rel.display(),
                        n + 1
                    )),
                    Some(_) => {}
                    None if UNLAYERED.contains(&m.as_str()) => {
                        bad.push(format!("{}:{}: {top} imports the entry module {m}", rel.display(), n + 1))
                    }
                    None => {}
                }
            }
        }
    }
    bad
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let bad = violations(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(bad.is_empty(), "imports that reach up a layer:\n{}", bad.join("\n"));
}

#[test]
fn every_layer_is_found_and_a_reach_up_is_named() {
    assert_eq!(imported("use crate::fleet::{self, Slot}; x(crate::text::hex(b))"), ["fleet", "text"]);
    assert_eq!(imported("use crate::{report, settings::Settings};"), ["report", "settings"]);
    // A copy of the tree with one import that reaches up is caught, by file and line.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src/config")).unwrap();
    std::fs::write(dir.path().join("src/config/mod.rs"), "//! x\n\nuse crate::report::Output;\n").unwrap();
    std::fs::write(dir.path().join("src/report.rs"), "use crate::config::Config;\n").unwrap();
    assert_eq!(
        violations(dir.path()),
        ["src/config/mod.rs:3: config (layer 1) imports report (layer 9): move what it needs down, or it up"]
    );
}
