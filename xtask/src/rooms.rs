//! The house rules, checked by `cargo xtask lint`: which room of the code may name which.
//!
//! A *room* is a folder or a file. In every folder of a crate, the rooms directly inside it
//! (its files and sub-folders) must not import each other in a circle, and the pairs in
//! [`FORBIDDEN`] must not import each other at all. An import is any path the code names
//! (`use` trees and inline paths) that starts with `crate::`, `super::` or `self::`, resolved to
//! the module it names. A folder's `mod.rs` is the folder itself, and a few *hub* files
//! ([`HUBS`]) are the FE itself (`Fe`, `FeState`, `Session`), which every room works on and
//! which hold every room's state; neither counts as a room of its folder. Test modules (after a
//! `#[cfg(test)]` line at column 0) are not checked: a test may reach anywhere.
//!
//! Not seen: calls of `Fe` methods that another room defines (`impl Fe` blocks are spread over
//! rooms, and a method call names no path). The rooms keep such calls to what they own.
//!
//! Also checked here: no file over [`MAX_FILE_LINES`] lines (the SQL parser excepted) and no
//! function over [`MAX_FN_LINES`] lines.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use crate::lint::{Violation, collect_rs_files, relative_path, strip_line_comment};

/// A crate's source root (relative to the workspace) whose folders are checked.
const TREES: &[&str] = &["node/src", "sim/src"];

/// Files (relative to their crate's source root) that are not rooms of their folder.
const HUBS: &[&str] = &["fe/state.rs", "fe/session.rs"];

/// `(from, to, why)`: module paths (relative to the crate root, `/`-separated) of which the
/// first must never import the second.
pub const FORBIDDEN: &[(&str, &str, &str)] = &[
    ("node/src/fe/catalog", "node/src/fe/cluster", "the catalog is data; it never calls backends"),
    ("node/src/fe/catalog", "node/src/fe/jobs", "the catalog imports no job code"),
    ("node/src/fe/catalog", "node/src/fe/statements", "statements use the catalog, not the reverse"),
    ("node/src/fe/catalog", "node/src/fe/front", "the front reads the catalog, not the reverse"),
    ("node/src/fe/cluster", "node/src/fe/jobs", "jobs use the cluster, not the reverse"),
    ("node/src/fe/cluster", "node/src/fe/statements", "statements use the cluster, not the reverse"),
    ("node/src/fe/cluster", "node/src/fe/front", "the front calls the cluster, not the reverse"),
    ("node/src/fe/jobs", "node/src/fe/statements", "jobs never import statements"),
    ("node/src/fe/jobs", "node/src/fe/front", "jobs never import the front"),
    ("node/src/fe/statements", "node/src/fe/front", "the front dispatches statements, not the reverse"),
    ("node/src/fe/jobs/backup", "node/src/fe/jobs/restore", "restore reads what backup writes, never the reverse"),
    ("node/src/be", "node/src/fe", "a backend never depends on the frontend"),
    ("node/src/broker", "node/src/fe", "the broker never depends on the frontend"),
    ("node/src/broker", "node/src/be", "the broker never depends on a backend"),
];

/// Lines a source file may have, except the files in [`LONG_FILES_ALLOWED`].
pub const MAX_FILE_LINES: usize = 900;
/// The SQL parser: one grammar, easier to read whole.
const LONG_FILES_ALLOWED: &[&str] = &["node/src/sql/parse_query.rs", "node/src/sql/parser.rs"];
/// Lines a function may have (signature to closing brace).
pub const MAX_FN_LINES: usize = 120;

/// One import: from a module to a module, where it is written.
#[derive(Debug, Clone)]
struct Import {
    from: Vec<String>,
    to: Vec<String>,
    file: String,
    line: usize,
}

/// Every room rule, file size and function size violation under the workspace at `root`.
pub fn check(root: &Path) -> Result<(Vec<Violation>, usize), String> {
    let mut violations = Vec::new();
    let mut files_checked = 0;
    for tree in TREES {
        let src = root.join(tree);
        let mut files = Vec::new();
        collect_rs_files(&src, &mut files)?;
        files.sort();
        let mut modules = BTreeMap::new();
        for file in &files {
            let relative = relative_path(&src, file);
            if let Some(module) = module_of(&relative) {
                let source = fs::read_to_string(file).map_err(|e| format!("lint: reading {}: {e}", file.display()))?;
                modules.insert(module, (format!("{tree}/{relative}"), source));
            }
        }
        let test_only = test_modules(&modules);
        modules.retain(|module, _| !test_only.contains(module));
        files_checked += modules.len();
        let known: BTreeSet<Vec<String>> = modules.keys().cloned().collect();
        let mut imports = Vec::new();
        for (module, (path, source)) in &modules {
            violations.extend(size_violations(path, source));
            for (line, target) in paths_named(&checked_part(source), module) {
                if let Some(to) = longest_known(&known, &target) {
                    imports.push(Import { from: module.clone(), to, file: path.clone(), line });
                }
            }
        }
        violations.extend(forbidden_imports(tree, &imports));
        violations.extend(circles(tree, &imports));
    }
    violations.sort_by(|a, b| (&a.path, a.line, &a.message).cmp(&(&b.path, b.line, &b.message)));
    violations.dedup();
    Ok((violations, files_checked))
}

/// The module a file under a crate's source root is (`fe/jobs/mod.rs` is `fe::jobs`); `None`
/// for files of other crates (binaries: `main.rs`, `bin/`).
fn module_of(relative: &str) -> Option<Vec<String>> {
    if relative == "main.rs" || relative.starts_with("bin/") {
        return None;
    }
    let mut parts: Vec<String> = relative.trim_end_matches(".rs").split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|last| last == "mod" || last == "lib") {
        parts.pop();
    }
    Some(parts)
}

/// Modules declared as `#[cfg(test)] mod name;` (test code in a file of its own).
fn test_modules(modules: &BTreeMap<Vec<String>, (String, String)>) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    for (module, (_, source)) in modules {
        let mut lines = source.lines().map(str::trim);
        while let Some(line) = lines.next() {
            if line != "#[cfg(test)]" {
                continue;
            }
            let declared = lines.next().unwrap_or("");
            let name = declared.trim_start_matches("pub(crate) ").trim_start_matches("pub ");
            if let Some(name) = name.strip_prefix("mod ").and_then(|n| n.strip_suffix(';')) {
                out.insert(module.iter().cloned().chain([name.to_string()]).collect());
            }
        }
    }
    out
}

/// The source up to its test module, without `//` comments.
fn checked_part(source: &str) -> Vec<&str> {
    source.lines().take_while(|line| !line.starts_with("#[cfg(test)]")).map(strip_line_comment).collect()
}

/// Every `crate::`/`super::`/`self::` path in `lines`, resolved from `module` to a path from
/// the crate root, with its 1-based line.
fn paths_named(lines: &[&str], module: &[String]) -> Vec<(usize, Vec<String>)> {
    let text = lines.join("\n");
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let starts_path = (at == 0 || !is_path_char(bytes[at - 1]))
            && [&b"crate::"[..], b"super::", b"self::"].iter().any(|p| bytes[at..].starts_with(p));
        if !starts_path {
            at += 1;
            continue;
        }
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        let mut base: Vec<String> = if bytes[at..].starts_with(b"crate::") {
            at += "crate::".len();
            Vec::new()
        } else {
            // A file's `self` is its module; `super` of a folder's mod.rs is the folder's parent.
            let mut base = module.to_vec();
            if bytes[at..].starts_with(b"self::") {
                at += "self::".len();
            } else {
                while bytes[at..].starts_with(b"super::") {
                    at += "super::".len();
                    base.pop();
                }
            }
            base
        };
        for tail in parse_tree(bytes, &mut at) {
            let mut path = std::mem::take(&mut base);
            base.clone_from(&path);
            path.extend(tail);
            found.push((line, path));
        }
    }
    found
}

fn is_path_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// The paths of a use tree (or of one inline path) starting at `at`: `a::{b, c::d}` is `[a, b]`
/// and `[a, c, d]`. `self` and `*` end a path.
fn parse_tree(bytes: &[u8], at: &mut usize) -> Vec<Vec<String>> {
    skip_spaces(bytes, at);
    if bytes.get(*at) == Some(&b'{') {
        *at += 1;
        let mut out = Vec::new();
        loop {
            skip_spaces(bytes, at);
            match bytes.get(*at) {
                None => break,
                Some(b'}') => {
                    *at += 1;
                    break;
                }
                Some(b',') => *at += 1,
                Some(_) => {
                    let before = *at;
                    out.extend(parse_tree(bytes, at));
                    if *at == before {
                        *at += 1;
                    }
                }
            }
        }
        return out;
    }
    let start = *at;
    while *at < bytes.len() && (bytes[*at].is_ascii_alphanumeric() || bytes[*at] == b'_') {
        *at += 1;
    }
    if *at == start {
        return vec![Vec::new()];
    }
    let ident = String::from_utf8_lossy(&bytes[start..*at]).into_owned();
    if bytes[*at..].starts_with(b"::") {
        *at += 2;
        if ident == "self" {
            return vec![Vec::new()];
        }
        return parse_tree(bytes, at)
            .into_iter()
            .map(|tail| std::iter::once(ident.clone()).chain(tail).collect())
            .collect();
    }
    if ident == "self" { vec![Vec::new()] } else { vec![vec![ident]] }
}

fn skip_spaces(bytes: &[u8], at: &mut usize) {
    while bytes.get(*at).is_some_and(u8::is_ascii_whitespace) {
        *at += 1;
    }
}

/// The longest prefix of `path` that is a module of the crate.
fn longest_known(known: &BTreeSet<Vec<String>>, path: &[String]) -> Option<Vec<String>> {
    (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|prefix| known.contains(prefix))
}

fn joined(tree: &str, module: &[String]) -> String {
    std::iter::once(tree.to_string()).chain(module.iter().cloned()).collect::<Vec<_>>().join("/")
}

fn is_within(path: &str, prefix: &str) -> bool {
    path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

fn forbidden_imports(tree: &str, imports: &[Import]) -> Vec<Violation> {
    let mut out = Vec::new();
    for import in imports {
        let (from, to) = (joined(tree, &import.from), joined(tree, &import.to));
        for (bad_from, bad_to, why) in FORBIDDEN {
            if is_within(&from, bad_from) && is_within(&to, bad_to) {
                out.push(Violation {
                    path: import.file.clone(),
                    line: import.line,
                    message: format!("{bad_from} must not import {bad_to} ({why}); this names {to}"),
                });
            }
        }
    }
    out
}

/// An import seen from the folder that holds both ends: `(folder, from room, to room)`, or
/// `None` when one end is the folder itself (its mod.rs) or a hub.
fn room_edge(tree: &str, import: &Import) -> Option<(String, String, String)> {
    let common = import.from.iter().zip(&import.to).take_while(|(a, b)| a == b).count();
    let from_room = import.from.get(common)?;
    let to_room = import.to.get(common)?;
    let folder = joined(tree, &import.from[..common]);
    let is_hub = |room: &str| {
        let file = format!("{folder}/{room}.rs");
        HUBS.iter().any(|hub| file == format!("{tree}/{hub}"))
    };
    if is_hub(from_room) || is_hub(to_room) {
        return None;
    }
    Some((folder, from_room.clone(), to_room.clone()))
}

/// Import circles between the rooms of each folder: one violation per circle, at the first
/// import that closes it, naming every step with where it is written.
fn circles(tree: &str, imports: &[Import]) -> Vec<Violation> {
    let mut edges: BTreeMap<String, BTreeMap<(String, String), &Import>> = BTreeMap::new();
    for import in imports {
        if let Some((folder, from, to)) = room_edge(tree, import) {
            edges.entry(folder).or_default().entry((from, to)).or_insert(import);
        }
    }
    let mut out = Vec::new();
    for (folder, folder_edges) in &edges {
        let graph: BTreeMap<&str, BTreeSet<&str>> =
            folder_edges.keys().fold(BTreeMap::new(), |mut graph, (from, to)| {
                graph.entry(from.as_str()).or_default().insert(to.as_str());
                graph
            });
        for cycle in strongly_connected(&graph).into_iter().filter(|c| c.len() > 1) {
            let members: BTreeSet<&str> = cycle.iter().copied().collect();
            let steps: Vec<String> = folder_edges
                .iter()
                .filter(|((from, to), _)| members.contains(from.as_str()) && members.contains(to.as_str()))
                .map(|((from, to), import)| format!("{from} -> {to} ({}:{})", import.file, import.line))
                .collect();
            let first = folder_edges
                .iter()
                .find(|((from, to), _)| members.contains(from.as_str()) && members.contains(to.as_str()))
                .map(|(_, import)| *import);
            if let Some(first) = first {
                out.push(Violation {
                    path: first.file.clone(),
                    line: first.line,
                    message: format!(
                        "import circle between the rooms of {folder}: {}; steps: {}",
                        cycle.join(", "),
                        steps.join("; ")
                    ),
                });
            }
        }
    }
    out
}

/// Tarjan's strongly connected components of `graph`, each sorted, in a stable order.
fn strongly_connected<'a>(graph: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Vec<Vec<&'a str>> {
    struct Walk<'a, 'g> {
        graph: &'g BTreeMap<&'a str, BTreeSet<&'a str>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<&'a str>>,
    }
    impl<'a> Walk<'a, '_> {
        fn visit(&mut self, node: &'a str) {
            let n = self.index.len();
            self.index.insert(node, n);
            self.low.insert(node, n);
            self.stack.push(node);
            self.on_stack.insert(node);
            for &next in self.graph.get(node).into_iter().flatten() {
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(top) = self.stack.pop() {
                    self.on_stack.remove(top);
                    component.push(top);
                    if top == node {
                        break;
                    }
                }
                component.sort_unstable();
                self.out.push(component);
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
    for &node in graph.keys() {
        if !walk.index.contains_key(node) {
            walk.visit(node);
        }
    }
    walk.out.sort();
    walk.out
}

/// A file over [`MAX_FILE_LINES`] lines, and each function over [`MAX_FN_LINES`].
fn size_violations(path: &str, source: &str) -> Vec<Violation> {
    let mut out = Vec::new();
    let lines: Vec<&str> = source.lines().collect();
    if lines.len() > MAX_FILE_LINES && !LONG_FILES_ALLOWED.contains(&path) {
        out.push(Violation {
            path: path.to_string(),
            line: 1,
            message: format!("{} lines; a file has at most {MAX_FILE_LINES}: split it into rooms", lines.len()),
        });
    }
    for (line, name, length) in long_functions(&lines) {
        out.push(Violation {
            path: path.to_string(),
            line,
            message: format!("fn {name} is {length} lines; a function has at most {MAX_FN_LINES}"),
        });
    }
    out
}

/// `(1-based line, name, lines)` of every function longer than [`MAX_FN_LINES`]: from its `fn`
/// line to the line whose `}` closes its body (braces counted outside strings and comments).
pub fn long_functions(lines: &[&str]) -> Vec<(usize, String, usize)> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = fn_name(line) else { continue };
        if let Some(end) = body_end(&lines[i..]) {
            let length = end + 1;
            if length > MAX_FN_LINES {
                out.push((i + 1, name, length));
            }
        }
    }
    out
}

/// The index (in `lines`) of the line that closes the body opened first, `None` for a
/// declaration without a body (a `;` before any `{`).
fn body_end(lines: &[&str]) -> Option<usize> {
    let mut depth = 0usize;
    for (n, line) in lines.iter().enumerate() {
        let code = strip_line_comment(line).as_bytes();
        let mut at = 0;
        while at < code.len() {
            match code[at] {
                b'"' => at = string_end(code, at),
                b'\'' if code.get(at + 2) == Some(&b'\'') => at += 2,
                b'{' => depth += 1,
                b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Some(n);
                    }
                }
                b';' if depth == 0 => return None,
                _ => {}
            }
            at += 1;
        }
    }
    None
}

/// The index of the quote that ends the string starting at `start` (or the line's end).
fn string_end(code: &[u8], start: usize) -> usize {
    let mut at = start + 1;
    while at < code.len() && code[at] != b'"' {
        at += if code[at] == b'\\' { 2 } else { 1 };
    }
    at
}

/// The name of the function a line starts, if it starts one.
fn fn_name(line: &str) -> Option<String> {
    let mut rest = line.trim_start();
    for qualifier in ["pub(crate) ", "pub(super) ", "pub ", "const ", "async ", "unsafe "] {
        rest = rest.strip_prefix(qualifier).unwrap_or(rest);
        rest = rest.strip_prefix(qualifier).unwrap_or(rest);
    }
    for qualifier in ["async ", "unsafe "] {
        rest = rest.strip_prefix(qualifier).unwrap_or(rest);
    }
    let name: String = rest.strip_prefix("fn ")?.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(path: &str) -> Vec<String> {
        path.split("::").map(str::to_string).collect()
    }

    #[test]
    fn use_trees_expand_to_every_path() {
        let lines = ["use crate::fe::{Fe, jobs::{driver, status::JobStatus}};", "use super::job::{self, X};"];
        let paths: Vec<String> =
            paths_named(&lines, &module("fe::jobs::backup::driver")).into_iter().map(|(_, p)| p.join("::")).collect();
        assert_eq!(
            paths,
            [
                "fe::Fe",
                "fe::jobs::driver",
                "fe::jobs::status::JobStatus",
                "fe::jobs::backup::job",
                "fe::jobs::backup::job::X"
            ]
        );
    }

    #[test]
    fn inline_paths_and_supers_resolve_from_the_file() {
        let lines = ["    let x = super::super::catalog::find(y);", "    crate::be::tablet::validate(s)"];
        let paths: Vec<(usize, String)> =
            paths_named(&lines, &module("fe::jobs::holds")).into_iter().map(|(l, p)| (l, p.join("::"))).collect();
        assert_eq!(paths, [(1, "fe::catalog::find".to_string()), (2, "be::tablet::validate".to_string())]);
    }

    fn import(from: &str, to: &str) -> Import {
        Import { from: module(from), to: module(to), file: format!("{from}.rs"), line: 1 }
    }

    #[test]
    fn a_circle_between_rooms_is_reported_once_with_its_steps() {
        let imports = [
            import("fe::jobs::backup::driver", "fe::statements::load"),
            import("fe::statements::load", "fe::jobs::holds"),
            import("fe::catalog::lookup", "fe::session"),
        ];
        let found = circles("node/src", &imports);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.contains("rooms of node/src/fe: jobs, statements"), "{}", found[0].message);
        assert!(found[0].message.contains("jobs -> statements"), "{}", found[0].message);
    }

    #[test]
    fn hubs_and_a_folders_own_module_make_no_circle() {
        let imports = [
            import("fe::catalog::lookup", "fe::session"),
            import("fe::session", "fe::catalog::auth"),
            import("fe", "fe::jobs::scheduler"),
            import("fe::jobs::scheduler", "fe"),
        ];
        assert!(circles("node/src", &imports).is_empty());
    }

    #[test]
    fn forbidden_pairs_are_reported_where_written() {
        let found = forbidden_imports("node/src", &[import("fe::jobs::restore::plan", "fe::statements::table_ddl")]);
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("jobs never import statements"), "{}", found[0].message);
        assert!(forbidden_imports("node/src", &[import("fe::statements::load", "fe::jobs::holds")]).is_empty());
    }

    #[test]
    fn long_functions_are_measured_from_fn_to_its_brace() {
        let mut lines = vec!["impl X {", "    pub(crate) async fn long(&self) {"];
        lines.extend(std::iter::repeat_n("        step();", MAX_FN_LINES - 1));
        lines.extend(["    }", "    fn short() { let s = \"}\"; }", "    fn declared();", "}"]);
        assert_eq!(long_functions(&lines), [(2, "long".to_string(), MAX_FN_LINES + 1)]);
    }
}
