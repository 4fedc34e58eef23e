//! Config files: TOML, one per role (`fe.toml`, `be.toml`, `broker.toml`). Every key is optional
//! and has the default shown by `palo-node <role> --help`; flags override the file.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::disk::Disk;
use crate::error::NodeError;

/// Parses a config file's text. Unknown keys are errors, so a typo is never silently ignored.
pub fn parse<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, NodeError> {
    toml::from_str(text).map_err(|e| NodeError::Config(format!("{origin}: {e}")))
}

/// Reads and parses the config file at `path`.
pub async fn load<T: DeserializeOwned>(disk: &dyn Disk, path: &Path) -> Result<T, NodeError> {
    let bytes = disk.read_all(path).await.map_err(|e| NodeError::Config(format!("cannot read config file: {e}")))?;
    let text =
        String::from_utf8(bytes).map_err(|_| NodeError::Config(format!("{}: not UTF-8 text", path.display())))?;
    parse(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fe::FeConfig;

    #[test]
    fn partial_file_keeps_defaults_and_unknown_keys_fail() {
        let config: FeConfig = parse("grpc_port = 9120\nmeta_dir = \"/x\"\n", "fe.toml").expect("parses");
        assert_eq!(config.grpc_port, 9120);
        assert_eq!(config.meta_dir, std::path::PathBuf::from("/x"));
        assert_eq!(config.heartbeat_interval_ms, FeConfig::default().heartbeat_interval_ms);

        let err = parse::<FeConfig>("grpc_prot = 1\n", "fe.toml").expect_err("typo must fail");
        assert!(err.to_string().contains("grpc_prot"), "{err}");
    }
}
