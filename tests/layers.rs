//! The layering ARCHITECTURE.md promises, checked on the source: no module imports from a
//! layer above its own, and no two files import each other, directly or round a cycle.
//!
//! It reads `src/` as text: every `crate::a::b` path (also inside `use crate::{..}` groups)
//! and every `super::x` path is an import. Unit tests (`*_tests.rs`, `tests/` folders,
//! `#[cfg(test)] mod tests` blocks) are left out: a test of a module imports it by design.
//! Run it alone with `cargo test --test layers`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers from the bottom. A module may import its own layer's modules only where this
/// table says nothing against it: same-layer imports are checked for cycles below.
/// A unit is a module path; a file belongs to the longest unit that is a prefix of its path.
const LAYERS: &[&[&str]] = &[
    // The functional core: no I/O, imports nothing of ours.
    &["domain"],
    // Leaves of the shell: configuration, time, metrics, logging, task supervision.
    &["config", "clock", "metrics", "telemetry", "supervise"],
    // Pure rendering and what-if replay, all SQL, Linear's client, the audit timeline.
    &["render", "simulate", "store", "linear", "audit"],
    // Replay over the store; Slack's wire (socket, envelopes, Web API, roles); appends' rows
    // on their way to this process's outbox worker.
    &["replay", "slack", "handoff"],
    // What the daemon's parts share.
    &["context"],
    // The parts: Slack handlers, the outbox worker, the scheduler, the HTTP server, reports.
    &["slack::handlers", "outbox", "scheduler", "http", "report"],
    // Wiring: the daemon.
    &["app"],
    // Entry points.
    &["demo", "cli"],
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `src/slack/handlers/click.rs` → `slack::handlers::click`; `mod.rs` names its folder.
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(src()).expect("under src");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" && stem != "main" {
        parts.push(stem.to_string());
    }
    parts.join("::")
}

fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    let mut best: Option<(usize, &'static str)> = None;
    for (i, units) in LAYERS.iter().enumerate() {
        for unit in *units {
            let hit = module == *unit || module.starts_with(&format!("{unit}::"));
            if hit && best.is_none_or(|(_, b)| unit.len() > b.len()) {
                best = Some((i, unit));
            }
        }
    }
    best
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable src") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "tests" {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") && !name.ends_with("_tests.rs") {
            out.push(path);
        }
    }
}

/// The source without `#[cfg(test)]` items: from the attribute to the end of the file when
/// it opens a `mod tests` block (the house style puts it last), else only that attribute's
/// line and the next.
fn without_tests(text: &str) -> String {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "#[cfg(test)]" {
            let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or_default();
            if next.starts_with("mod tests") || next.starts_with("#[path") {
                break;
            }
            i += 2;
            continue;
        }
        out.push(lines[i]);
        i += 1;
    }
    out.join("\n")
}

/// Every module path the text imports: `crate::a::b::C` gives `a::b::C`; a group
/// `crate::{a::X, b}` gives `a::X` and `b`.
fn crate_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = matching_brace(group);
            for item in split_top(&group[..end]) {
                out.push(path_chars(item.trim()));
            }
            rest = &group[end..];
        } else {
            out.push(path_chars(after));
            rest = after;
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    s.len()
}

fn split_top(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn path_chars(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
        .collect::<String>()
        .trim_end_matches(':')
        .to_string()
}

/// The file a module path lands in: the longest prefix that is a file of ours.
fn file_of(path: &str, files: &BTreeSet<String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|m| files.contains(m))
}

/// `super::x` paths, resolved against the importing module.
fn super_paths(module: &str, is_mod_rs: bool, text: &str) -> Vec<String> {
    let mut parent: Vec<&str> = module.split("::").collect();
    if !is_mod_rs {
        parent.pop();
    }
    let base = parent.join("::");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("super::") {
        let after = &rest[at + "super::".len()..];
        let items: Vec<String> = if let Some(group) = after.strip_prefix('{') {
            let end = matching_brace(group);
            split_top(&group[..end])
                .into_iter()
                .map(|i| path_chars(i.trim()))
                .collect()
        } else {
            vec![path_chars(after)]
        };
        for item in items.into_iter().filter(|i| !i.is_empty()) {
            out.push(if base.is_empty() {
                item
            } else {
                format!("{base}::{item}")
            });
        }
        rest = after;
    }
    out
}

struct Source {
    module: String,
    imports: Vec<String>,
}

fn sources() -> Vec<Source> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files
        .into_iter()
        .map(|f| {
            let module = module_of(&f);
            let text = without_tests(&std::fs::read_to_string(&f).expect("readable"));
            let is_mod_rs = f.file_name().is_some_and(|n| n == "mod.rs");
            let mut imports = crate_paths(&text);
            imports.extend(super_paths(&module, is_mod_rs, &text));
            Source { module, imports }
        })
        .collect()
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let mut wrong = Vec::new();
    for s in sources() {
        if s.module.is_empty() {
            continue; // lib.rs and main.rs sit on top of everything.
        }
        let Some((mine, _)) = layer_of(&s.module) else {
            wrong.push(format!("{} is in no layer: add it to LAYERS", s.module));
            continue;
        };
        for import in &s.imports {
            match layer_of(import) {
                Some((theirs, unit)) if theirs > mine => wrong.push(format!(
                    "{} (layer {mine}) imports {import} ({unit}, layer {theirs})",
                    s.module
                )),
                _ => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_files_import_each_other_round_a_cycle() {
    let sources = sources();
    let files: BTreeSet<String> = sources.iter().map(|s| s.module.clone()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in &sources {
        let targets = graph.entry(s.module.clone()).or_default();
        for import in &s.imports {
            if let Some(file) = file_of(import, &files) {
                // A module file re-exports its children: an import through it is an import
                // of the folder, not a cycle with the child that declared it.
                let declares = !file.is_empty() && s.module.starts_with(&format!("{file}::"));
                if file != s.module && !declares {
                    targets.insert(file);
                }
            }
        }
    }
    let cycles = cycles(&graph);
    assert!(
        cycles.is_empty(),
        "files that import each other:\n{}",
        cycles
            .iter()
            .map(|c| c.join(" -> "))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Strongly connected components of more than one file (Tarjan), each listed once.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        out: Vec<Vec<String>>,
    }
    impl<'g> Walk<'g> {
        fn visit(&mut self, v: &'g str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.graph.contains_key(w) {
                    continue;
                }
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.out.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.out
}
