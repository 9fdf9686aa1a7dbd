//! The console's source layout: by feature, depending downwards only. No two `src/tui`
//! modules import each other, a dialog or view never imports its parent module, and no file
//! outgrows one screenful of concerns (600 lines).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const TUI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/tui");
const MAX_LINES: usize = 600;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/tui") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `views::roster` for src/tui/views/roster.rs, `dialogs` for src/tui/dialogs/mod.rs.
fn module_of(path: &Path) -> Vec<String> {
    let rel = path.strip_prefix(TUI).expect("under src/tui");
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

fn is_module(parts: &[String]) -> bool {
    let base = Path::new(TUI).join(parts.join("/"));
    base.with_extension("rs").is_file() || base.join("mod.rs").is_file()
}

/// The console modules a file's `use` lines name (longest existing module prefix).
fn imports(path: &Path, module: &[String]) -> BTreeSet<Vec<String>> {
    let text = std::fs::read_to_string(path).expect("read source");
    let is_dir_module = path.file_name().is_some_and(|n| n == "mod.rs");
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix("use ") else {
            continue;
        };
        let head = rest.split(['{', ';']).next().unwrap_or("");
        let segs: Vec<&str> = head.split("::").filter(|s| !s.is_empty()).collect();
        let resolved: Vec<String> = match segs.first() {
            Some(&"crate") if segs.get(1) == Some(&"tui") => {
                segs[2..].iter().map(|s| s.to_string()).collect()
            }
            Some(&"super") => {
                // `super` of a file module is its directory; of a mod.rs, the directory above.
                let mut base = module.to_vec();
                base.pop();
                if is_dir_module && module.is_empty() {
                    continue;
                }
                base.extend(segs[1..].iter().map(|s| s.to_string()));
                base
            }
            Some(&"self") => {
                let mut base = module.to_vec();
                base.extend(segs[1..].iter().map(|s| s.to_string()));
                base
            }
            _ => continue,
        };
        if let Some(k) = (1..=resolved.len())
            .rev()
            .find(|k| is_module(&resolved[..*k]))
        {
            let target = resolved[..k].to_vec();
            if target != module {
                out.insert(target);
            }
        }
    }
    out
}

#[test]
fn tui_modules_depend_downwards_only_and_stay_small() {
    let mut files = Vec::new();
    sources(Path::new(TUI), &mut files);
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut too_long = Vec::new();
    for f in &files {
        let lines = std::fs::read_to_string(f).expect("read").lines().count();
        if lines > MAX_LINES {
            too_long.push(format!("{} ({lines} lines)", f.display()));
        }
        let module = module_of(f);
        graph.insert(module.clone(), imports(f, &module));
    }
    assert!(graph.len() > 20, "found only {} modules", graph.len());
    // The views and dialogs were found and do import something.
    assert!(
        graph[&vec!["views".to_string(), "roster".to_string()]].contains(&vec!["ctx".to_string()])
    );
    let mut mutual = Vec::new();
    for (a, deps) in &graph {
        for b in deps {
            if graph.get(b).is_some_and(|d| d.contains(a)) && a < b {
                mutual.push(format!("{} <-> {}", a.join("::"), b.join("::")));
            }
            // A child never imports the module that declares it.
            if a.len() > 1 && b.as_slice() == &a[..a.len() - 1] {
                mutual.push(format!(
                    "{} imports its parent {}",
                    a.join("::"),
                    b.join("::")
                ));
            }
        }
    }
    assert!(
        mutual.is_empty(),
        "modules that import each other: {mutual:?}"
    );
    assert!(
        too_long.is_empty(),
        "files over {MAX_LINES} lines: {too_long:?}"
    );
}
