//! Configuration through the real binary: the Go file loads unchanged, overrides apply,
//! unknown keys warn, bad values exit 2 with one clear message.

use test_support::{lakehouse_bin, run};

const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/lakehouse-go.toml");

#[test]
fn the_go_systems_file_loads_unchanged() {
    let (code, out, err) = run(lakehouse_bin!(), &["config", "--config", SEED], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("bucket = \"lakehouse-go-primary\""), "{out}");
    assert!(out.contains("bind = \"127.0.0.1:3110\""), "{out}");
    assert!(out.contains("max_ingest_bytes = 268435456"), "{out}");
    assert!(
        !err.contains("unknown"),
        "no warnings for the Go file: {err}"
    );
}

/// `docs/lakehouse.example.toml` (the split recipe's file) names only known keys, and its
/// commented-out defaults are the real ones.
#[test]
fn the_example_file_loads_and_its_defaults_are_the_defaults() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/lakehouse.example.toml"
    );
    let (code, out, err) = run(lakehouse_bin!(), &["config", "--config", example], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("unknown"), "{err}");
    let (_, defaults, _) = run(lakehouse_bin!(), &["config"], &[]);
    let text = std::fs::read_to_string(example).unwrap();
    // Uncomment every `# key = value` line of the sections: the effective file is the same.
    let uncommented: String = text
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if rest.contains(" = ") && !rest.starts_with('[') && !l.contains("[s3]") => {
                rest.split("  #").next().unwrap().to_string()
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("all.toml");
    let before_s3 = uncommented.split("# For S3 instead").next().unwrap();
    std::fs::write(&file, format!("{before_s3}\n[log]\nlevel = \"info\"\n")).unwrap();
    let (code, all, err) = run(
        lakehouse_bin!(),
        &["config", "--config", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(all, out, "uncommenting the defaults changes nothing");
    for line in [
        "upstream_timeout = \"10m\"",
        "keep_versions = 10",
        "query_timeout = \"300s\"",
    ] {
        assert!(defaults.contains(line), "{line} in {defaults}");
    }
}

#[test]
fn env_overrides_apply() {
    let env = [
        ("LAKEHOUSE_GATEWAY_BIND", "127.0.0.1:4999"),
        ("LAKEHOUSE_QUERYD_PG_BIND", "127.0.0.1:6999"),
    ];
    let (code, out, err) = run(lakehouse_bin!(), &["config", "--config", SEED], &env);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("bind = \"127.0.0.1:4999\""), "{out}");
    assert!(out.contains("pg_bind = \"127.0.0.1:6999\""), "{out}");
}

#[test]
fn unknown_keys_warn_and_bad_values_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "[gateway]\nbindd = \"x\"\n").unwrap();
    let (code, _, err) = run(
        lakehouse_bin!(),
        &["config", "--config", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 0);
    assert!(err.contains("unknown key [gateway] bindd"), "{err}");

    std::fs::write(&file, "[gateway]\nbind = \"not-an-address\"\n").unwrap();
    for args in [vec!["config"], vec!["serve"]] {
        let mut args = args;
        args.extend(["--config", file.to_str().unwrap()]);
        let (code, _, err) = run(lakehouse_bin!(), &args, &[]);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(
            err.contains("[gateway] bind") && err.contains("not-an-address"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one message: {err}");
    }
    let (code, _, err) = run(
        lakehouse_bin!(),
        &["serve"],
        &[("LAKEHOUSE_STORAGED_MAX_OBJECT_BYTES", "many")],
    );
    assert_eq!(code, 2);
    assert!(err.contains("LAKEHOUSE_STORAGED_MAX_OBJECT_BYTES"), "{err}");
    let (code, _, err) = run(
        lakehouse_bin!(),
        &["serve", "--services", "storaged,nonsense"],
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.contains("nonsense"), "{err}");
}
