//! The published contract in schemas/ equals the schemas defined in code, and every batch the
//! builders produce has exactly that schema.

use std::path::Path;

use replaylake::schema::{TABLES, published_json};

use crate::common::*;

#[test]
fn published_schemas_match_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    for t in TABLES {
        let path = dir.join(format!("{}.json", t.name()));
        let published = std::fs::read_to_string(&path).unwrap_or_default();
        if std::env::var("REPLAYLAKE_BLESS").is_ok() {
            std::fs::write(&path, published_json(t)).unwrap();
            continue;
        }
        assert_eq!(
            published,
            published_json(t),
            "{} differs from the schema in src/schema.rs: rerun with REPLAYLAKE_BLESS=1 to republish",
            path.display()
        );
    }
}

#[test]
fn schema_command_prints_the_published_contract() {
    let out = bin(&["schema", "events"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        published_json(replaylake::schema::Table::Events)
    );
    let out = bin(&["schema", "recordings", "--format", "sql"]);
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(
        s.contains("CREATE TABLE recordings") && s.contains("click_count BIGINT NOT NULL"),
        "{s}"
    );
    let out = bin(&["schema", "nope"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown table"));
}

#[test]
fn lake_files_carry_the_published_schema() {
    let dest = tempfile::tempdir().unwrap();
    convert(
        &[&realclient("ph-s2202-01.blob.jsonl")],
        dest.path(),
        &Default::default(),
    );
    for t in TABLES {
        let files: Vec<_> = tree(&dest.path().join(t.name()))
            .into_iter()
            .filter(|(p, _)| p.ends_with(".parquet"))
            .collect();
        assert!(!files.is_empty(), "no {t} files");
        for (f, _) in files {
            let file = std::fs::File::open(dest.path().join(t.name()).join(&f)).unwrap();
            let reader =
                datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                    file,
                )
                .unwrap();
            let kv = reader
                .metadata()
                .file_metadata()
                .key_value_metadata()
                .cloned()
                .unwrap_or_default();
            assert!(kv.iter().any(|k| k.key == "replaylake.version"
                && k.value.as_deref() == Some(replaylake::VERSION)));
            let got = reader.schema();
            let want = t.schema();
            assert_eq!(got.fields().len(), want.fields().len());
            for (g, w) in got.fields().iter().zip(want.fields()) {
                assert_eq!(
                    (g.name(), g.data_type(), g.is_nullable()),
                    (w.name(), w.data_type(), w.is_nullable()),
                    "{t}"
                );
            }
        }
    }
}
