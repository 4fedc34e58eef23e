//! Running cargo and other programs: the workspace root, the two build "worlds", and a runner
//! that echoes each command to stderr before running it with inherited stdio.

use std::env;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

/// Which build of the workspace a cargo command works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum World {
    /// The ordinary build: real tokio/tonic, artifacts in `target/`.
    Normal,
    /// The simulator build: `--cfg madsim`, artifacts in `target/sim/`.
    Sim,
}

/// The workspace root: the parent of the xtask crate's directory.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// The cargo to run: `$CARGO` (set by `cargo run`), else `cargo` from PATH.
pub fn cargo_program() -> OsString {
    env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"))
}

/// The target directory of the simulator world.
pub fn sim_target_dir() -> PathBuf {
    workspace_root().join("target").join("sim")
}

/// `RUSTFLAGS` for the simulator world: whatever is already set, plus `--cfg madsim`.
pub fn sim_rustflags() -> String {
    with_madsim(&env::var("RUSTFLAGS").unwrap_or_default())
}

/// `RUSTDOCFLAGS` for the simulator world, so doctests see the same `cfg` as the code they test
/// (dependencies with `cfg(madsim)` features are resolved for it).
pub fn sim_rustdocflags() -> String {
    with_madsim(&env::var("RUSTDOCFLAGS").unwrap_or_default())
}

fn with_madsim(existing: &str) -> String {
    let existing = existing.trim();
    if existing.is_empty() { "--cfg madsim".to_string() } else { format!("{existing} --cfg madsim") }
}

/// The number of cores to use by default for parallel work.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A `cargo <args>` command for `world`, run from the workspace root.
pub fn cargo(world: World, args: &[&str]) -> Command {
    let mut cmd = Command::new(cargo_program());
    cmd.args(args).current_dir(workspace_root());
    if world == World::Sim {
        cmd.env("CARGO_TARGET_DIR", sim_target_dir());
        cmd.env("RUSTFLAGS", sim_rustflags());
        cmd.env("RUSTDOCFLAGS", sim_rustdocflags());
    }
    cmd
}

/// Prints `cmd` to stderr, runs it with inherited stdio and returns its exit status.
/// Fails only if the program could not be started.
pub fn status(cmd: &mut Command) -> Result<ExitStatus, String> {
    let shown = describe(cmd);
    eprintln!("+ {shown}");
    cmd.status().map_err(|e| format!("could not run `{shown}`: {e}"))
}

/// Like [`status`], but a non-zero exit is an error too.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let status = status(cmd)?;
    if status.success() { Ok(()) } else { Err(format!("`{}` failed ({status})", describe(cmd))) }
}

/// The process exit code to pass on for `status` (1 when it has none, e.g. killed by a signal).
pub fn exit_code(status: ExitStatus) -> u8 {
    status.code().and_then(|code| u8::try_from(code).ok()).unwrap_or(1)
}

/// A shell-like rendering of `cmd`, including the environment it sets.
pub fn describe(cmd: &Command) -> String {
    let mut parts = Vec::new();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            parts.push(format!("{}={}", key.to_string_lossy(), quote(value)));
        }
    }
    parts.push(quote(cmd.get_program()));
    parts.extend(cmd.get_args().map(quote));
    parts.join(" ")
}

fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c));
    if plain { word.into_owned() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

/// `12.3s`, or `2m05s` once it is over a minute.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = d.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_shows_env_and_quotes() {
        let mut cmd = Command::new("cargo");
        cmd.args(["build", "--profile", "sim", "a b"]).env("RUSTFLAGS", "--cfg madsim");
        assert_eq!(describe(&cmd), "RUSTFLAGS='--cfg madsim' cargo build --profile sim 'a b'");
    }

    #[test]
    fn sim_world_goes_to_target_sim() {
        let cmd = cargo(World::Sim, &["build"]);
        let dir = cmd.get_envs().find(|(key, _)| *key == "CARGO_TARGET_DIR").and_then(|(_, value)| value);
        assert_eq!(dir, Some(workspace_root().join("target/sim").as_os_str()));
        assert!(cargo(World::Normal, &["build"]).get_envs().next().is_none());
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(Duration::from_millis(12_345)), "12.3s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m05s");
    }
}
