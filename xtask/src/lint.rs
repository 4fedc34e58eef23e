//! `cargo xtask lint`: the determinism guard. Plain text matching over `.rs` files, after
//! stripping `//` comments:
//!
//! * every `select!` in node, buggify and sim code must start with `biased;` (an unbiased
//!   select picks a branch with a random number outside the simulator's control);
//! * node code must not touch threads, the file system, wall clocks or OS randomness directly,
//!   except in the two modules that wrap them (`disk/real.rs` and `clock.rs`), nor tokio's
//!   `watch` or `Notify` (their wake order is not a function of the seed; `signal.rs` is);
//! * node code never names the `madsim` crate, and only the files in [`MADSIM_CFG_FILES`] branch
//!   on `cfg(madsim)` (the simulator's in-memory repository and its guard);
//! * the house rules of [`crate::rooms`]: no import circle between the rooms of a folder, no
//!   forbidden import, no file over 900 lines, no function over 120.

use std::fs;
use std::path::{Path, PathBuf};

/// Directories (relative to the workspace root) whose `select!`s must be biased.
const SELECT_DIRS: &[&str] = &["node/src", "node/buggify/src", "sim/src"];

/// Directories whose code may not use [`FORBIDDEN`].
const NODE_DIRS: &[&str] = &["node/src"];

/// Files under [`NODE_DIRS`] that are allowed to use [`FORBIDDEN`]: the real-world seams.
const NODE_EXEMPT: &[&str] = &["node/src/disk/real.rs", "node/src/clock.rs"];

/// Node files that may branch on `cfg(madsim)`: the simulator's in-memory repository (`mem://`)
/// and the guard that refuses it in real mode. No node file may name the `madsim` crate.
pub const MADSIM_CFG_FILES: &[&str] = &[
    "node/src/repository/mod.rs",
    "node/src/repository/location.rs",
    "node/src/repository/store.rs",
    "node/src/repository/tests.rs",
    "node/src/fe/statements/repository.rs",
];

/// Paths that node code must not mention.
const FORBIDDEN: &[&str] = &[
    "std::thread",
    "thread::spawn",
    "std::fs",
    "tokio::fs",
    "Instant::now",
    "SystemTime::now",
    "rand::thread_rng",
    "rand::rng()",
    "spawn_blocking",
    // A watch receiver waits on a shard picked by tokio's RNG, seeded from a process-wide counter:
    // two runs of one simulated seed then wake tasks in different orders (found by
    // --check-determinism --jobs 2). Notify was seen to do the same. `crate::signal::Signal` wakes
    // waiters in the order they began to wait.
    "sync::Notify",
    "sync::watch",
];

#[derive(Debug, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub line: usize,
    pub message: String,
}

/// Lints the workspace at `root`, printing each violation as `path:line: message`.
pub fn run(root: &Path) -> Result<(), String> {
    let mut files = Vec::new();
    for dir in SELECT_DIRS.iter().chain(NODE_DIRS) {
        collect_rs_files(&root.join(dir), &mut files)?;
    }
    files.sort();
    files.dedup();

    let mut violations = Vec::new();
    for file in &files {
        let relative = relative_path(root, file);
        let source = fs::read_to_string(file).map_err(|e| format!("lint: reading {}: {e}", file.display()))?;
        violations.extend(check_file(&relative, &source));
    }
    let (room_violations, _) = crate::rooms::check(root)?;
    violations.extend(room_violations);

    for v in &violations {
        println!("{}:{}: {}", v.path, v.line, v.message);
    }
    if violations.is_empty() {
        println!("lint: {} files checked, no violations", files.len());
        Ok(())
    } else {
        Err(format!("lint: {} violation(s) in {} files checked", violations.len(), files.len()))
    }
}

/// The violations in one file, whose path relative to the workspace root is `relative`.
pub fn check_file(relative: &str, source: &str) -> Vec<Violation> {
    let mut found = Vec::new();
    if SELECT_DIRS.iter().any(|dir| is_under(relative, dir)) {
        for line in unbiased_selects(source) {
            found.push(Violation {
                path: relative.to_string(),
                line,
                message: "`select!` must start with `biased;` (an unbiased select picks \
                          branches at random, outside the simulator's control)"
                    .to_string(),
            });
        }
    }
    let is_node = NODE_DIRS.iter().any(|dir| is_under(relative, dir));
    if is_node && !NODE_EXEMPT.contains(&relative) {
        for (line, names) in forbidden_uses(source) {
            found.push(Violation {
                path: relative.to_string(),
                line,
                message: format!(
                    "{} not allowed in node code (nondeterministic under simulation; \
                     only {} may touch the real world)",
                    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
                    NODE_EXEMPT.join(" and ")
                ),
            });
        }
    }
    if is_node {
        found.extend(madsim_mentions(relative, source));
    }
    found.sort_by_key(|v| v.line);
    found
}

/// Node code naming the `madsim` crate, or branching on `cfg(madsim)` outside
/// [`MADSIM_CFG_FILES`].
pub fn madsim_mentions(relative: &str, source: &str) -> Vec<Violation> {
    let mut found = Vec::new();
    for (index, line) in source.lines().enumerate() {
        let code = strip_line_comment(line);
        let message = if contains_path(code, "madsim::") {
            "node code never names the `madsim` crate (it runs on madsim through the `tokio` and \
             `tonic` aliases)"
                .to_string()
        } else if contains_path(code, "madsim") && !MADSIM_CFG_FILES.contains(&relative) {
            format!(
                "only {} branch on `cfg(madsim)`; node code runs the same in both worlds",
                MADSIM_CFG_FILES.join(", ")
            )
        } else {
            continue;
        };
        found.push(Violation { path: relative.to_string(), line: index + 1, message });
    }
    found
}

/// The 1-based lines of `select!` invocations whose body does not start with `biased;`.
pub fn unbiased_selects(source: &str) -> Vec<usize> {
    let text: String = source.lines().map(strip_line_comment).collect::<Vec<_>>().join("\n");
    let mut lines = Vec::new();
    for (at, _) in text.match_indices("select!") {
        if text[..at].chars().next_back().is_some_and(is_ident_char) {
            continue; // `my_select!` and the like
        }
        let after = text[at + "select!".len()..].trim_start();
        let Some(body) = after.strip_prefix(['{', '(', '[']) else {
            continue; // not an invocation, e.g. the word in a string
        };
        if !starts_with_biased(body) {
            lines.push(text[..at].matches('\n').count() + 1);
        }
    }
    lines
}

/// Whether a macro body starts with the tokens `biased ;`.
fn starts_with_biased(body: &str) -> bool {
    match body.trim_start().strip_prefix("biased") {
        Some(rest) => rest.trim_start().starts_with(';'),
        None => false,
    }
}

/// For each line using [`FORBIDDEN`] paths, its 1-based number and the paths it uses.
pub fn forbidden_uses(source: &str) -> Vec<(usize, Vec<&'static str>)> {
    let mut found = Vec::new();
    for (index, line) in source.lines().enumerate() {
        let code = strip_line_comment(line);
        let names: Vec<&'static str> = FORBIDDEN.iter().copied().filter(|name| contains_path(code, name)).collect();
        if !names.is_empty() {
            found.push((index + 1, names));
        }
    }
    found
}

/// Whether `code` contains `name` not glued to a longer identifier on either side
/// (so `std::thread_local!` is not `std::thread`, nor `MyInstant::now` `Instant::now`).
fn contains_path(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + name.len()..].chars().next();
        let glued_before = before.is_some_and(is_ident_char);
        let glued_after = name.ends_with(is_ident_char) && after.is_some_and(is_ident_char);
        !glued_before && !glued_after
    })
}

/// `line` without its `//` comment. A `//` inside a string literal on the same line (like a
/// URL) is not a comment; strings spanning lines and `/* */` comments are not understood.
pub fn strip_line_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1, // skip the escaped character
            b'"' => in_string = !in_string,
            b'\'' if !in_string && bytes.get(i + 1) == Some(&b'"') => i += 1, // '"'
            b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
        i += 1;
    }
    line
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_under(relative: &str, dir: &str) -> bool {
    relative.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

pub fn relative_path(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap_or(file);
    relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Appends every `.rs` file under `dir` (recursively) to `out`; a missing `dir` has none.
pub fn collect_rs_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if !dir.is_dir() {
        return Ok(());
    }
    let entries = fs::read_dir(dir).map_err(|e| format!("lint: listing {}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("lint: listing {}: {e}", dir.display()))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| format!("lint: reading {}: {e}", path.display()))?;
        if kind.is_dir() {
            collect_rs_files(&path, out)?;
        } else if kind.is_file() && path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn biased_select_on_one_line_is_fine() {
        let src = "async fn f() { tokio::select! { biased; _ = a => {} } }";
        assert!(unbiased_selects(src).is_empty());
    }

    #[test]
    fn biased_select_spread_over_lines_is_fine() {
        let src = "fn f() {\n    tokio::select! {\n        biased;\n        _ = a => {}\n    }\n}";
        assert!(unbiased_selects(src).is_empty());
        let src = "select!\n{\n    biased\n    ;\n    _ = a => {}\n}";
        assert!(unbiased_selects(src).is_empty());
    }

    #[test]
    fn comments_before_biased_are_skipped() {
        let src = "tokio::select! {\n    // poll shutdown first\n    biased;\n    _ = a => {}\n}";
        assert!(unbiased_selects(src).is_empty());
    }

    #[test]
    fn unbiased_select_is_reported_at_its_line() {
        let src = "fn f() {\n    tokio::select! {\n        _ = a => {}\n        _ = b => {}\n    }\n}";
        assert_eq!(unbiased_selects(src), [2]);
    }

    #[test]
    fn biased_must_be_the_first_token() {
        let src = "select! {\n    _ = a => {}\n    biased;\n}";
        assert_eq!(unbiased_selects(src), [1]);
        let src = "select! { biased_thing = a => {} }";
        assert_eq!(unbiased_selects(src), [1]);
        let src = "select! { biased _ = a => {} }";
        assert_eq!(unbiased_selects(src), [1]);
    }

    #[test]
    fn other_delimiters_and_several_selects() {
        let src = "select!(biased; _ = a => {});\nselect![_ = b => {}];\nselect! { biased; }";
        assert_eq!(unbiased_selects(src), [2]);
    }

    #[test]
    fn non_invocations_are_ignored() {
        let src = concat!(
            "// tokio::select! { _ = a => {} }\n",
            "let s = \"select! is documented elsewhere\";\n",
            "my_select! { _ = a => {} }\n",
            "futures::select_biased! { _ = a => {} }\n",
            "use tokio::select;\n",
        );
        assert!(unbiased_selects(src).is_empty());
    }

    #[test]
    fn line_comments_are_stripped_but_not_inside_strings() {
        assert_eq!(strip_line_comment("let x = 1; // note"), "let x = 1; ");
        assert_eq!(strip_line_comment("/// doc"), "");
        assert_eq!(strip_line_comment(r#"let u = "http://x"; // c"#), r#"let u = "http://x"; "#);
        assert_eq!(strip_line_comment(r#"let s = "a\"//b"; x"#), r#"let s = "a\"//b"; x"#);
        assert_eq!(strip_line_comment(r#"if c == '"' { y } // c"#), r#"if c == '"' { y } "#);
    }

    #[test]
    fn forbidden_paths_are_found() {
        let src = concat!(
            "use std::fs::File;\n",
            "let t = std::time::Instant::now();\n",
            "std::thread::spawn(|| {});\n",
            "// std::fs in a comment is fine\n",
            "std::thread_local! { static X: u8 = 0; }\n",
            "let n = rand::rng().random::<u8>();\n",
            "tokio::task::spawn_blocking(f);\n",
            "let t = MyInstant::now();\n",
            "let n = tokio::sync::Notify::new();\n",
            "let (tx, rx) = tokio::sync::watch::channel(0);\n",
        );
        assert_eq!(
            forbidden_uses(src),
            [
                (1, vec!["std::fs"]),
                (2, vec!["Instant::now"]),
                (3, vec!["std::thread", "thread::spawn"]),
                (6, vec!["rand::rng()"]),
                (7, vec!["spawn_blocking"]),
                (9, vec!["sync::Notify"]),
                (10, vec!["sync::watch"]),
            ]
        );
    }

    #[test]
    fn madsim_is_named_only_where_allowed() {
        assert_eq!(madsim_mentions("node/src/fe/x.rs", "use madsim::rand;").len(), 1);
        assert_eq!(madsim_mentions("node/src/fe/x.rs", "#[cfg(madsim)]\nfn f() {}").len(), 1);
        assert!(madsim_mentions("node/src/repository/store.rs", "#[cfg(madsim)]").is_empty());
        assert_eq!(madsim_mentions("node/src/repository/store.rs", "let r = madsim::rand::random();").len(), 1);
        assert!(madsim_mentions("node/src/fe/x.rs", "// runs under madsim").is_empty());
    }

    #[test]
    fn rules_apply_by_directory() {
        let src = "let t = Instant::now();\nselect! { _ = a => {} }\n";
        let lines = |path: &str| -> Vec<usize> { check_file(path, src).iter().map(|v| v.line).collect() };
        assert_eq!(lines("node/src/fe/mod.rs"), [1, 2]);
        assert_eq!(lines("node/src/main.rs"), [1, 2]);
        assert_eq!(lines("node/src/clock.rs"), [2]);
        assert_eq!(lines("node/src/disk/real.rs"), [2]);
        assert_eq!(lines("sim/src/lib.rs"), [2]);
        assert_eq!(lines("node/buggify/src/lib.rs"), [2]);
        assert!(lines("cli/src/main.rs").is_empty());
        assert!(lines("node/srcx/lib.rs").is_empty());
    }
}
