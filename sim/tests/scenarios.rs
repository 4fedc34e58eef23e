//! Every `scenarios/*.scn` file runs in the simulated cluster; its transcript must equal the
//! reviewed snapshot in `scenarios/snapshots/`. `cargo xtask scenarios --accept` updates them.
#![cfg(madsim)]

use std::path::{Path, PathBuf};

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "scn"))
        .collect();
    files.sort();
    files
}

#[test]
fn scenarios_match_their_snapshots() {
    let files = scenario_files();
    assert!(!files.is_empty(), "no scenario files found");
    // PALO_SCENARIO=name runs that scenario alone.
    let only = std::env::var("PALO_SCENARIO").ok();
    let mut failures = Vec::new();
    for file in files {
        let name = file.file_stem().and_then(|s| s.to_str()).unwrap_or("scenario").to_string();
        if only.as_ref().is_some_and(|o| *o != name) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let transcript = match palo_sim::scenario::run(&text) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("scenario {name} failed: {e}"));
                continue;
            }
        };
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("../../scenarios/snapshots");
        settings.set_prepend_module_to_snapshot(false);
        settings.set_description(text.lines().take_while(|l| l.starts_with('#')).collect::<Vec<_>>().join("\n"));
        settings.set_omit_expression(true);
        settings.bind(|| insta::assert_snapshot!(name, transcript));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
