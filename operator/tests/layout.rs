//! The shape of `operator/src`, checked on every test run (docs/operator.md "Rooms"):
//!
//! - rooms (top-level modules) depend one way only: a room uses only rooms below it;
//! - no import cycle between the files of `operator/src` (`crate::` and `super::` paths);
//! - in `api/`, `engine/` and `operator/` alike: no source file is longer than 500 lines (its
//!   unit tests aside: a trailing `#[cfg(test)] mod tests`, or a test-only file) and no
//!   function longer than 80 lines (test functions aside).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The rooms from top to bottom; rooms on one line are siblings and may not use each other.
const ROOMS: &[&[&str]] = &[
    &["cmd"],
    &["controllers", "accounting", "report"],
    &["context"],
    &["planner"],
    &["observe"],
    &["state"],
    &["k8s", "metrics", "config", "figures"],
];

const LONGEST_FUNCTION: usize = 80;
const LONGEST_FILE: usize = 500;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The source directories of the three crates.
fn crates() -> Vec<(&'static str, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    ["api", "engine", "operator"]
        .into_iter()
        .map(|c| (c, root.join(c).join("src")))
        .collect()
}

/// Every source file of the three crates: (crate, module path, text).
fn all_files() -> Vec<(&'static str, Vec<String>, String)> {
    let mut out = Vec::new();
    for (name, dir) in crates() {
        let mut modules = BTreeMap::new();
        files(&dir, &[], &mut modules);
        out.extend(modules.into_iter().map(|(m, t)| (name, m, t)));
    }
    out
}

/// A file that holds only tests (`tests.rs`, `*_tests.rs`, `fixtures.rs`).
fn test_only(module: &[String]) -> bool {
    module
        .last()
        .is_some_and(|m| m == "tests" || m == "fixtures" || m.ends_with("_tests"))
}

/// The text before a file's unit tests (`#[cfg(test)]` followed by `mod tests`).
fn without_tests(text: &str) -> &str {
    let mut at = 0;
    for (i, _) in text.match_indices("#[cfg(test)]") {
        if text[i..]
            .lines()
            .nth(1)
            .is_some_and(|l| l.trim_start().starts_with("mod tests"))
        {
            at = i;
            break;
        }
    }
    if at == 0 { text } else { &text[..at] }
}

/// Every `.rs` file under `dir`, with its module path (`controllers::tenancy::apply`).
fn files(dir: &Path, module: &[String], out: &mut BTreeMap<Vec<String>, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            let mut inner = module.to_vec();
            inner.push(name);
            files(&path, &inner, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let mut m = module.to_vec();
            if name != "mod" && name != "main" {
                m.push(name);
            }
            out.insert(m, std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// Source with comments, strings and char literals blanked out (so braces and paths in them
/// do not count), line breaks kept.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |s: &[u8], out: &mut String| {
        for &c in s {
            out.push(if c == b'\n' { '\n' } else { ' ' });
        }
    };
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
            blank(&rest[..end], &mut out);
            i += end;
        } else if rest.starts_with(b"r#\"")
            || rest.starts_with(b"r##\"")
            || rest.starts_with(b"r\"")
        {
            let hashes = rest[1..].iter().take_while(|&&c| c == b'#').count();
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let start = 2 + hashes;
            let end = rest[start..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(rest.len(), |p| start + p + close.len());
            blank(&rest[..end], &mut out);
            i += end;
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            blank(&rest[..(j + 1).min(rest.len())], &mut out);
            i += j + 1;
        } else if rest[0] == b'\'' && rest.len() > 2 && (rest[2] == b'\'' || rest[1] == b'\\') {
            // A char literal ('{', '\n'), not a lifetime.
            let end = rest[1..]
                .iter()
                .position(|&c| c == b'\'')
                .map_or(1, |p| p + 2);
            blank(&rest[..end], &mut out);
            i += end;
        } else {
            out.push(rest[0] as char);
            i += 1;
        }
    }
    out
}

/// Module paths a file refers to: `crate::a::b…` and `super::a…`, as written.
fn references(module: &[String], code: &str) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    let words = |s: &str| -> Vec<String> {
        s.split("::")
            .map(|w| w.trim().to_string())
            .take_while(|w| {
                !w.is_empty()
                    && w.chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
            })
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        out.insert(words(&code[i + 7..]));
    }
    for (i, _) in code.match_indices("super::") {
        // The module paths of mod.rs files are their directory's, so `super` is one up for all.
        let mut path = module[..module.len().saturating_sub(1)].to_vec();
        path.extend(words(&code[i + 7..]));
        out.insert(path);
    }
    out
}

/// The file (module) a path falls in: its longest prefix that is a module.
fn resolve(path: &[String], modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
}

fn room_level(room: &str) -> Option<usize> {
    ROOMS.iter().position(|level| level.contains(&room))
}

struct Source {
    modules: BTreeMap<Vec<String>, String>,
    edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
}

fn source() -> Source {
    let mut modules = BTreeMap::new();
    files(&src(), &[], &mut modules);
    let names: BTreeSet<Vec<String>> = modules.keys().cloned().collect();
    let mut edges = BTreeMap::new();
    for (module, text) in &modules {
        let code = code_only(text);
        let targets: BTreeSet<Vec<String>> = references(module, &code)
            .iter()
            .filter_map(|p| resolve(p, &names))
            .filter(|t| t != module)
            .collect();
        edges.insert(module.clone(), targets);
    }
    Source { modules, edges }
}

#[test]
fn every_room_is_declared_and_uses_only_rooms_below_it() {
    let s = source();
    let mut wrong = Vec::new();
    for (module, targets) in &s.edges {
        let Some(room) = module.first() else { continue };
        let level = room_level(room).unwrap_or_else(|| panic!("room {room} is not in ROOMS"));
        for t in targets {
            let other = &t[0];
            if other == room {
                continue;
            }
            let other_level = room_level(other).unwrap();
            if other_level <= level {
                wrong.push(format!("{} uses {}", module.join("::"), t.join("::")));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "rooms used upward or sideways:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_import_cycle_between_files() {
    let s = source();
    // Depth-first search with colours; report the first cycle found with its path.
    fn visit(
        m: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        state.insert(m.clone(), 1);
        stack.push(m.clone());
        for t in edges.get(m).into_iter().flatten() {
            match state.get(t).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|s| s == t).unwrap();
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(t.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(t, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(m.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in s.modules.keys() {
        if state.get(m).copied().unwrap_or(0) == 0
            && let Some(cycle) = visit(m, &s.edges, &mut state, &mut Vec::new())
        {
            let names: Vec<String> = cycle.iter().map(|c| c.join("::")).collect();
            panic!("import cycle: {}", names.join(" → "));
        }
    }
}

/// (name, first line, lines) of every function with a body.
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let after = [
            "fn ",
            "pub fn ",
            "pub(crate) fn ",
            "async fn ",
            "pub async fn ",
            "const fn ",
        ]
        .iter()
        .find_map(|p| t.strip_prefix(p));
        let Some(after) = after else { continue };
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // The body starts at the first `{` after the signature (or there is none: `;`).
        let mut depth = 0usize;
        let mut opened = false;
        let mut end = None;
        'scan: for (m, l) in lines.iter().enumerate().skip(n) {
            for c in l.chars() {
                match c {
                    ';' if !opened && depth == 0 => break 'scan,
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => {
                        depth -= 1;
                        if opened && depth == 0 {
                            end = Some(m);
                            break 'scan;
                        }
                    }
                    _ => {}
                }
            }
        }
        if let Some(end) = end {
            out.push((name, n + 1, end - n + 1));
        }
    }
    out
}

#[test]
fn no_function_is_longer_than_80_lines() {
    let mut long = Vec::new();
    for (name, module, text) in all_files() {
        if test_only(&module) {
            continue;
        }
        for (function, line, length) in functions(&code_only(without_tests(&text))) {
            if length > LONGEST_FUNCTION {
                long.push(format!(
                    "{name}: {}::{function} (line {line}): {length} lines",
                    module.join("::")
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions longer than {LONGEST_FUNCTION} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn no_source_file_is_longer_than_500_lines() {
    let mut long = Vec::new();
    for (name, module, text) in all_files() {
        let lines = without_tests(&text).lines().count();
        if !test_only(&module) && lines > LONGEST_FILE {
            long.push(format!("{name}: {} ({lines} lines)", module.join("::")));
        }
    }
    assert!(
        long.is_empty(),
        "source files longer than {LONGEST_FILE} lines (tests aside):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checks_find_what_they_look_for() {
    // A cycle, an upward use and a long function, in text: the checks are not blind.
    let code = code_only("use crate::state::State; // crate::cmd\nlet s = \"crate::report\";\n");
    let refs = references(&["observe".into()], &code);
    assert_eq!(refs, BTreeSet::from([vec!["state".to_string()]]));
    let long = format!("fn f() {{\n{}}}\n", "    x();\n".repeat(90));
    assert_eq!(functions(&code_only(&long)), vec![("f".to_string(), 1, 92)]);
    let with_braces = "fn g() {\n    let s = \"}\";\n    let c = '{';\n}\n";
    assert_eq!(
        functions(&code_only(with_braces)),
        vec![("g".to_string(), 1, 4)]
    );
    assert!(room_level("cmd") < room_level("state"));
    let with_tests = "fn a() {}\n#[cfg(test)]\nmod tests {\n    fn t() {}\n}\n";
    assert_eq!(without_tests(with_tests), "fn a() {}\n");
    assert!(test_only(&["x".into(), "resize_tests".into()]) && !test_only(&["x".into()]));
    assert_eq!(crates().len(), 3);
    assert!(
        all_files()
            .iter()
            .any(|(c, m, _)| *c == "engine" && m == &["estate".to_string()])
    );
}
