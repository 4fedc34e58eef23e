//! Compiles the protos with a vendored protoc, so a fresh machine needs no system package.
//! madsim-tonic-build writes both the real tonic code and the simulated stubs;
//! `tonic::include_proto!` picks the one that matches the build's cfg.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    println!("cargo:rerun-if-changed=proto/palo.proto");
    tonic_build::configure().compile_protos_with_config(config, &["proto/palo.proto"], &["proto"])?;
    Ok(())
}
