//! Generates the gRPC code for `proto/agent.proto` and `proto/kme_relay.proto` and the client
//! for the few etcd v3 calls (key-value, lease, auth and election) of `proto/etcd/` with the
//! protoc shipped inside the `protoc-bin-vendored` crate, so that `cargo build` needs no system
//! protoc (`$PROTOC` still overrides it).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/agent.proto");
    println!("cargo:rerun-if-changed=proto/kme_relay.proto");
    println!("cargo:rerun-if-changed=proto/etcd/rpc.proto");
    println!("cargo:rerun-if-changed=proto/etcd/kv.proto");
    println!("cargo:rerun-if-changed=proto/etcd/v3election.proto");
    println!("cargo:rerun-if-env-changed=PROTOC");
    let protoc = match std::env::var_os("PROTOC") {
        Some(p) => std::path::PathBuf::from(p),
        None => protoc_bin_vendored::protoc_bin_path()?,
    };
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(&protoc);
    tonic_prost_build::configure().compile_with_config(
        config,
        &["proto/agent.proto", "proto/kme_relay.proto"],
        &["proto"],
    )?;
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(&protoc);
    tonic_prost_build::configure()
        .build_server(false)
        .compile_with_config(
            config,
            &[
                "proto/etcd/kv.proto",
                "proto/etcd/rpc.proto",
                "proto/etcd/v3election.proto",
            ],
            &["proto/etcd"],
        )?;
    Ok(())
}
