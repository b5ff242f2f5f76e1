//! The layering of `src/` (the table in `src/lib.rs`), checked: a module uses only its own
//! layer and the layers below it, and no two modules import each other. Read from the source
//! text: every `crate::…` and `super::…` path outside comments and unit-test modules.
//!
//! The same no-cycle rule holds for the store crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, top to bottom: a module may use the ones at its own rank or below (higher
/// numbers). Rank 0 is the wiring, which may use everything.
const LAYERS: &[(&str, u8)] = &[
    ("cli", 0),
    ("config", 0),
    ("startup", 0),
    ("tasks", 0),
    ("web", 1),
    ("mail", 2),
    ("breaches", 2),
    ("telemetry", 3),
    ("data", 4),
    ("domain", 5),
];

/// A module path inside the crate, e.g. `["web", "routes", "login"]` (the crate root is `[]`).
type ModPath = Vec<String>;

struct Module {
    file: PathBuf,
    /// What the module's code names (`crate::` and `super::` paths, resolved).
    uses: BTreeSet<ModPath>,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source folder") {
        let path = entry.expect("readable entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file is: `src/web/routes/mod.rs` is `web::routes`, `src/lib.rs` the root.
fn module_of(src: &Path, file: &Path) -> ModPath {
    let relative = file.strip_prefix(src).expect("inside src");
    let mut parts: ModPath = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and without its unit-test module (whose `super` is the
/// file itself).
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::a::b` / `super::a` path in `code`, resolved against `module` and cut to the
/// longest prefix that is a module of `known`.
fn uses_of(code: &str, module: &ModPath, known: &BTreeSet<ModPath>) -> BTreeSet<ModPath> {
    let mut uses = BTreeSet::new();
    let bytes = code.as_bytes();
    for start in 0..bytes.len() {
        if !code.is_char_boundary(start) {
            continue;
        }
        let rest = &code[start..];
        let boundary = start == 0
            || !(bytes[start - 1].is_ascii_alphanumeric()
                || bytes[start - 1] == b'_'
                || bytes[start - 1] == b':');
        if !boundary || !(rest.starts_with("crate::") || rest.starts_with("super::")) {
            continue;
        }
        let segments: Vec<&str> = rest
            .split("::")
            .map(|s| {
                let end = s
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(s.len());
                &s[..end]
            })
            .take_while(|s| !s.is_empty())
            .collect();
        let mut path: ModPath = Vec::new();
        let mut iter = segments.iter().peekable();
        if segments.first() == Some(&"crate") {
            iter.next();
        } else {
            // `super` of module a::b is a, whether it is `a/b.rs` or `a/b/mod.rs`.
            path = module.clone();
            while iter.peek() == Some(&&"super") {
                iter.next();
                path.pop();
            }
        }
        path.extend(iter.map(|s| (*s).to_owned()));
        while !path.is_empty() && !known.contains(&path) {
            path.pop();
        }
        if !path.is_empty() && &path != module {
            uses.insert(path);
        }
    }
    uses
}

fn modules(src: &Path) -> BTreeMap<ModPath, Module> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let known: BTreeSet<ModPath> = files.iter().map(|f| module_of(src, f)).collect();
    files
        .into_iter()
        .map(|file| {
            let module = module_of(src, &file);
            let text = std::fs::read_to_string(&file).expect("readable source file");
            let uses = uses_of(&code_of(&text), &module, &known);
            (module.clone(), Module { file, uses })
        })
        .collect()
}

/// Pairs of modules that use each other. A folder's `mod.rs` re-exporting its own modules is
/// what a facade is for, so edges from a module to its own children do not count.
fn mutual_imports(modules: &BTreeMap<ModPath, Module>) -> Vec<String> {
    let counts = |from: &ModPath, to: &ModPath| !(to.len() > from.len() && to.starts_with(from));
    let mut found = Vec::new();
    for (a, module) in modules {
        for b in &module.uses {
            if a < b
                && counts(a, b)
                && modules
                    .get(b)
                    .is_some_and(|other| other.uses.contains(a) && counts(b, a))
            {
                found.push(format!("{} <-> {}", a.join("::"), b.join("::")));
            }
        }
    }
    found
}

fn rank(module: &ModPath) -> u8 {
    let top = module.first().map(String::as_str).unwrap_or("");
    LAYERS
        .iter()
        .find(|(name, _)| *name == top)
        .map(|(_, rank)| *rank)
        .unwrap_or(0)
}

#[test]
fn every_import_runs_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    for (name, _) in LAYERS {
        assert!(
            modules.contains_key(&vec![(*name).to_owned()]),
            "the layer table names {name}, which is not a module of src/"
        );
    }
    let mut upward = Vec::new();
    for (path, module) in &modules {
        for used in &module.uses {
            if rank(used) < rank(path) {
                upward.push(format!(
                    "{} ({}) uses {}",
                    path.join("::"),
                    module.file.display(),
                    used.join("::")
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that run up the layers:\n{}",
        upward.join("\n")
    );
    let top: BTreeSet<&str> = modules
        .keys()
        .filter_map(|p| p.first().map(String::as_str))
        .collect();
    for name in top {
        assert!(
            LAYERS.iter().any(|(layer, _)| *layer == name),
            "src/{name} is in no layer: add it to LAYERS here and to the table in src/lib.rs"
        );
    }
}

#[test]
fn no_two_modules_import_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for src in [
        root.join("src"),
        root.join("crates/actix-session-mysql/src"),
    ] {
        let cycles = mutual_imports(&modules(&src));
        assert!(
            cycles.is_empty(),
            "modules of {} that import each other:\n{}",
            src.display(),
            cycles.join("\n")
        );
    }
}

#[test]
fn the_checker_sees_upward_and_mutual_imports() {
    // The reader itself, on text made for it: an upward `use` and a pair that import each
    // other are found; comments, test modules and facades' own children are not counted.
    let known: BTreeSet<ModPath> = [
        vec!["data".to_owned()],
        vec!["data".to_owned(), "members".to_owned()],
        vec!["web".to_owned()],
    ]
    .into_iter()
    .collect();
    let members = vec!["data".to_owned(), "members".to_owned()];
    let code = code_of(
        "use crate::web::AppState;\n// crate::domain in a comment\nuse super::db;\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
    );
    let uses = uses_of(&code, &members, &known);
    assert_eq!(
        uses,
        [vec!["web".to_owned()], vec!["data".to_owned()]]
            .into_iter()
            .collect()
    );
    assert!(rank(&vec!["web".to_owned()]) < rank(&members));
    let mut modules = BTreeMap::new();
    modules.insert(
        vec!["a".to_owned()],
        Module {
            file: PathBuf::from("a.rs"),
            uses: [vec!["b".to_owned()], vec!["a".to_owned(), "x".to_owned()]]
                .into_iter()
                .collect(),
        },
    );
    modules.insert(
        vec!["a".to_owned(), "x".to_owned()],
        Module {
            file: PathBuf::from("a/x.rs"),
            uses: [vec!["a".to_owned()]].into_iter().collect(),
        },
    );
    modules.insert(
        vec!["b".to_owned()],
        Module {
            file: PathBuf::from("b.rs"),
            uses: [vec!["a".to_owned()]].into_iter().collect(),
        },
    );
    assert_eq!(mutual_imports(&modules), vec!["a <-> b".to_owned()]);
}
