//! The portable archive format: written from a lake, converted back into a fresh lake with
//! nothing lost, checked line by line (convert lands what is intact, verify names the line),
//! and every written line valid against the published JSON Schemas in schemas/portable/.

use std::fs::File;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use replaylake::portable::write_session;
use replaylake::sink::read::{
    StoredSession, events_from_batch, join_sessions, recordings_from_batch,
};
use serde_json::Value;

use crate::common::*;

/// Every batch of every Parquet file of `table` in the lake at `dest`.
fn batches(dest: &Path, table: &str) -> Vec<(String, RecordBatch)> {
    let dir = dest.join(table);
    let mut out = vec![];
    for (rel, _) in tree(&dir)
        .into_iter()
        .filter(|(p, _)| p.ends_with(".parquet"))
    {
        let f = File::open(dir.join(&rel)).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap();
        for b in reader {
            out.push((rel.clone(), b.unwrap()));
        }
    }
    out
}

/// The lake's sessions, read back out of its rows.
fn sessions(dest: &Path) -> Vec<StoredSession> {
    let mut recordings = vec![];
    for (at, b) in batches(dest, "recordings") {
        recordings.extend(recordings_from_batch(&b, &at).unwrap());
    }
    let mut events = vec![];
    for (at, b) in batches(dest, "events") {
        events.extend(events_from_batch(&b, &at).unwrap());
    }
    join_sessions(recordings, events)
}

fn written(s: &StoredSession) -> Vec<u8> {
    let mut out = vec![];
    write_session(s, &mut out).unwrap();
    out
}

/// Writes each session to `<dir>/<n>.portable.jsonl` (names that do not give the session id:
/// the file's meta line must).
fn write_all(sessions: &[StoredSession], dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    sessions
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let p = dir.join(format!("{i:03}.portable.jsonl"));
            std::fs::write(&p, written(s)).unwrap();
            p
        })
        .collect()
}

/// One batch of `q`'s rows (all batches concatenated).
fn rows(dest: &Path, q: &str) -> RecordBatch {
    let b = sql(dest, q);
    concat_batches(&b[0].schema(), &b).unwrap()
}

/// Asserts that two results are equal column by column, naming the first differing cell.
fn assert_same_rows(a: &RecordBatch, b: &RecordBatch, what: &str) {
    assert_eq!(a.num_rows(), b.num_rows(), "{what}: row count");
    assert_eq!(
        a.schema().fields().len(),
        b.schema().fields().len(),
        "{what}: columns"
    );
    for (i, field) in a.schema().fields().iter().enumerate() {
        let (x, y) = (a.column(i), b.column(i));
        if x.as_ref() == y.as_ref() {
            continue;
        }
        let row = (0..x.len())
            .find(|&r| {
                x.is_null(r) != y.is_null(r)
                    || array_value_to_string(x, r).unwrap() != array_value_to_string(y, r).unwrap()
            })
            .unwrap_or(0);
        let cut = |s: String| s.chars().take(300).collect::<String>();
        panic!(
            "{what}: column {} differs at row {row}: {:?} vs {:?}",
            field.name(),
            cut(array_value_to_string(x, row).unwrap()),
            cut(array_value_to_string(y, row).unwrap())
        );
    }
}

#[test]
fn every_session_of_tests_data_survives_a_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, files) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("p"),
    );
    convert(&[&data()], &a, &Default::default());
    let from_a = sessions(&a);
    let n = sql_i64(&a, "SELECT count(*) FROM recordings");
    assert_eq!(from_a.len() as i64, n);
    assert!(
        n >= 10,
        "tests/data holds the realclient and public sessions: {n}"
    );
    let paths = write_all(&from_a, &files);
    let sb = convert(&[&files], &b, &Default::default());
    assert_eq!(sb.rejected, 0, "{:?}", sb.files_report);
    assert!(sb.files_report.is_empty(), "{:?}", sb.files_report);

    let events = "SELECT * FROM events ORDER BY session_id, seq";
    assert_same_rows(&rows(&a, events), &rows(&b, events), "events");
    let network = "SELECT * FROM network_requests ORDER BY session_id, seq, request_index";
    let net = rows(&a, network);
    assert!(
        net.num_rows() > 0,
        "the realclient sessions made network requests"
    );
    assert_same_rows(&net, &rows(&b, network), "network_requests");
    let recordings = "SELECT * EXCLUDE (source_file, source_format, converted_at) \
                      FROM recordings ORDER BY session_id";
    let rec = rows(&a, recordings);
    assert!(rec.schema().field_with_name("checksum").is_ok());
    assert!(rec.schema().field_with_name("duplicates_dropped").is_ok());
    assert_same_rows(&rec, &rows(&b, recordings), "recordings");
    assert!(
        sql_i64(&a, "SELECT sum(duplicates_dropped) FROM recordings") > 0,
        "some duplicates were dropped in lake A, so their count's round trip is tested"
    );
    let formats = rows(&b, "SELECT DISTINCT source_format FROM recordings");
    assert_eq!(formats.num_rows(), 1);
    assert_eq!(
        array_value_to_string(formats.column(0), 0).unwrap(),
        "replaylake-portable"
    );

    // Lake B's sessions write the same bytes as lake A's: nothing of the files was lost.
    let from_b = sessions(&b);
    assert_eq!(from_b.len(), from_a.len());
    for (s, p) in from_b.iter().zip(&paths) {
        assert!(
            written(s) == std::fs::read(p).unwrap(),
            "{} differs",
            s.session_id
        );
    }
}

#[test]
fn writing_a_session_twice_gives_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    convert(
        &[&realclient("ph-s2202-02.export.json")],
        tmp.path(),
        &Default::default(),
    );
    let s = sessions(tmp.path());
    assert_eq!(s.len(), 1);
    assert!(s[0].events.len() > 100);
    assert!(written(&s[0]) == written(&s[0].clone()));
}

fn schema(name: &str) -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("schemas/portable/{name}.schema.json"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
    v
}

/// Checks `v` against `schema`: the subset of JSON Schema 2020-12 the portable schemas use (a
/// JSON Schema crate would rebuild DataFusion with other features). A keyword outside the subset
/// fails the test, so a schema cannot silently say more than is checked.
fn validate(schema: &Value, v: &Value) -> Result<(), String> {
    let s = schema.as_object().unwrap();
    for (k, rule) in s {
        let ok = match k.as_str() {
            "$schema" | "$id" | "title" | "description" | "properties" => true,
            "type" => {
                let types: Vec<&str> = match rule {
                    Value::String(t) => vec![t],
                    r => r
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t.as_str().unwrap())
                        .collect(),
                };
                types.iter().any(|t| match *t {
                    "object" => v.is_object(),
                    "array" => v.is_array(),
                    "string" => v.is_string(),
                    "integer" => v.is_i64() || v.is_u64(),
                    "null" => v.is_null(),
                    other => panic!("type {other} is outside the subset"),
                })
            }
            "const" => v == rule,
            "enum" => rule.as_array().unwrap().contains(v),
            "required" => rule
                .as_array()
                .unwrap()
                .iter()
                .all(|r| v.get(r.as_str().unwrap()).is_some()),
            "additionalProperties" => {
                assert_eq!(rule, &Value::Bool(false));
                let props = s["properties"].as_object().unwrap();
                v.as_object()
                    .is_none_or(|o| o.keys().all(|k| props.contains_key(k)))
            }
            "minimum" => v.as_f64().is_none_or(|x| x >= rule.as_f64().unwrap()),
            "maximum" => v.as_f64().is_none_or(|x| x <= rule.as_f64().unwrap()),
            "exclusiveMinimum" => v.as_f64().is_none_or(|x| x > rule.as_f64().unwrap()),
            "minLength" => v
                .as_str()
                .is_none_or(|x| x.chars().count() as u64 >= rule.as_u64().unwrap()),
            "uniqueItems" => v
                .as_array()
                .is_none_or(|a| a.iter().enumerate().all(|(i, x)| !a[..i].contains(x))),
            "items" => match v.as_array() {
                Some(a) => {
                    for x in a {
                        validate(rule, x)?;
                    }
                    true
                }
                None => true,
            },
            "pattern" => {
                assert_eq!(rule, "^[0-9a-f]{16}$", "pattern outside the subset");
                v.as_str().is_none_or(|x| {
                    x.len() == 16
                        && x.bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                })
            }
            "not" => validate(rule, v).is_err(),
            "oneOf" => {
                rule.as_array()
                    .unwrap()
                    .iter()
                    .filter(|r| validate(r, v).is_ok())
                    .count()
                    == 1
            }
            other => panic!("keyword {other} is outside the subset"),
        };
        if !ok {
            return Err(format!("{k} {rule} fails for {}", short(v)));
        }
    }
    if let (Some(props), Some(o)) = (s.get("properties"), v.as_object()) {
        for (k, sub) in props.as_object().unwrap() {
            if let Some(x) = o.get(k) {
                validate(sub, x).map_err(|e| format!("{k}: {e}"))?;
            }
        }
    }
    Ok(())
}

fn short(v: &Value) -> String {
    v.to_string().chars().take(200).collect()
}

#[test]
fn written_lines_are_valid_against_the_published_schemas() {
    let tmp = tempfile::tempdir().unwrap();
    convert(&[&data()], tmp.path(), &Default::default());
    let (meta, event, end) = (schema("meta"), schema("event"), schema("end"));
    let mut kinds = std::collections::BTreeSet::new();
    let mut data_text = 0;
    for s in sessions(tmp.path()) {
        let text = String::from_utf8(written(&s)).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let v: Value = serde_json::from_str(l).unwrap();
            let schema = match i {
                0 => &meta,
                _ if i == lines.len() - 1 => &end,
                _ => &event,
            };
            if let Err(e) = validate(schema, &v) {
                panic!("{} line {}: {e}", s.session_id, i + 1);
            }
            if i > 0 && i < lines.len() - 1 {
                kinds.insert(v["kind"].as_str().unwrap().to_string());
                data_text += v.get("data_text").is_some() as usize;
            }
        }
    }
    for k in [
        "full_snapshot",
        "page",
        "mutation",
        "mouse",
        "input",
        "custom",
        "network",
    ] {
        assert!(kinds.contains(k), "no {k} line in {kinds:?}");
    }
    assert!(
        data_text > 0,
        "the pretty-printed public fixtures keep their text"
    );
    // the schemas are not vacuous
    let line = r#"{"kind":"mouse","seq":0,"timestamp":1,"window_id":null,"type":3,"data":{},"checksum":"0123456789abcdef"}"#;
    let good: Value = serde_json::from_str(line).unwrap();
    assert_eq!(validate(&event, &good), Ok(()));
    for (from, to) in [
        (r#","checksum":"0123456789abcdef""#, ""),
        (r#""0123456789abcdef""#, r#""0123456789ABCDEF""#),
        (r#""data":{}"#, r#""data":{},"data_text":"{}""#),
        (r#""data":{},"#, ""),
        (r#""kind":"mouse""#, r#""kind":"meta""#),
        (r#""window_id":null"#, r#""window_id":1"#),
    ] {
        let bad: Value = serde_json::from_str(&line.replace(from, to)).unwrap();
        assert!(validate(&event, &bad).is_err(), "{bad}");
    }
    let bad: Value = serde_json::from_str(r#"{"kind":"end","count":1}"#).unwrap();
    assert!(validate(&end, &bad).is_err());
}

/// A realclient session written as a portable file, and its lines.
fn one_file(dir: &Path) -> (PathBuf, Vec<String>) {
    let lake = dir.join("lake");
    convert(
        &[&realclient("ph-s2202-01.blob.jsonl")],
        &lake,
        &Default::default(),
    );
    let s = sessions(&lake);
    assert_eq!(s.len(), 1);
    let p = write_all(&s, &dir.join("files")).remove(0);
    let lines = std::fs::read_to_string(&p)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    (p, lines)
}

fn save(path: &Path, lines: &[String]) -> String {
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    path.display().to_string()
}

/// `line` with the first digit inside its `data` changed (still valid JSON).
fn flip_a_data_byte(line: &str) -> String {
    let at = line.find("\"data\":").unwrap();
    let mut bytes = line.as_bytes().to_vec();
    let d = at + bytes[at..].iter().position(u8::is_ascii_digit).unwrap();
    // the first digit of a number stays non-zero (a leading 0 would not be JSON)
    bytes[d] = match bytes[d] {
        b'9' => b'8',
        c => c + 1,
    };
    String::from_utf8(bytes).unwrap()
}

fn rejects(lake: &Path) -> Vec<Value> {
    tree(&lake.join("_rejects"))
        .iter()
        .flat_map(|(p, _)| {
            let text = std::fs::read_to_string(lake.join("_rejects").join(p)).unwrap();
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

#[test]
fn convert_rejects_a_damaged_line_and_reports_a_truncated_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, lines) = one_file(tmp.path());
    let events = (lines.len() - 2) as i64;
    // the 10th event line whose data holds a digit after its start
    let k = 10;
    let mut tampered = lines.clone();
    tampered[k] = flip_a_data_byte(&lines[k]);
    assert_ne!(tampered[k], lines[k]);
    let file = save(&tmp.path().join("tampered.portable.jsonl"), &tampered);
    let lake = tmp.path().join("c");
    let out = bin(&["convert", &file, "--dest", lake.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("rejected records: 1"), "{stdout}");
    let r = rejects(&lake);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["line"].as_u64(), Some(k as u64 + 1));
    assert!(
        r[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("checksum mismatch"),
        "{r:?}"
    );
    assert_eq!(r[0]["record"].as_str(), Some(tampered[k].as_str()));
    assert_eq!(sql_i64(&lake, "SELECT count(*) FROM events"), events - 1);

    // without its end line: every event lands, the file is reported truncated
    let file = save(
        &tmp.path().join("cut.portable.jsonl"),
        &lines[..lines.len() - 1],
    );
    let lake = tmp.path().join("d");
    let out = bin(&["convert", &file, "--dest", lake.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains(&format!("warning: {file}: truncated portable file")),
        "{stdout}"
    );
    assert_eq!(sql_i64(&lake, "SELECT count(*) FROM events"), events);
    let r = rejects(&lake);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["file"].as_str(), Some(file.as_str()));
    assert!(
        r[0]["reason"]
            .as_str()
            .unwrap()
            .contains("without its end line")
    );
}

#[test]
fn verify_names_the_first_problem_of_each_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (good, lines) = one_file(tmp.path());
    let good = good.display().to_string();
    let dir = tmp.path();
    let mut tampered = lines.clone();
    tampered[7] = flip_a_data_byte(&lines[7]);
    let tampered = save(&dir.join("tampered.jsonl"), &tampered);
    let truncated = save(&dir.join("truncated.jsonl"), &lines[..lines.len() - 1]);
    let mut reordered = lines.clone();
    reordered.swap(4, 5);
    let reordered = save(&dir.join("reordered.jsonl"), &reordered);
    let gz = dir.join("good.jsonl.gz");
    let mut e = flate2::write::GzEncoder::new(File::create(&gz).unwrap(), Default::default());
    std::io::copy(&mut File::open(&good).unwrap(), &mut e).unwrap();
    e.finish().unwrap();
    let zst = dir.join("good.jsonl.zst");
    let bytes = zstd::encode_all(File::open(&good).unwrap(), 3).unwrap();
    std::fs::write(&zst, bytes).unwrap();
    let not_portable = realclient("ph-s2202-01.blob.jsonl").display().to_string();

    let run = |files: &[&str]| {
        let out = bin(&[&["verify"], files].concat());
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    let events = lines.len() - 2;
    for f in [&good, &gz.display().to_string(), &zst.display().to_string()] {
        let (code, out) = run(&[f]);
        assert_eq!(code, Some(0), "{out}");
        assert!(
            out.starts_with(&format!("{f}: ok (session "))
                && out.contains(&format!(", {events} events)")),
            "{out}"
        );
    }
    let cases = [
        (&tampered, "line 8: checksum mismatch".to_string()),
        (&truncated, format!("line {}: truncated", lines.len())),
        (&reordered, "line 5: seq 4 where 3 was expected".to_string()),
        (&not_portable, "line 1: not a portable file".to_string()),
    ];
    for (f, want) in &cases {
        let (code, out) = run(&[f]);
        assert_eq!(code, Some(5), "{out}");
        assert!(out.starts_with(&format!("{f}: {want}")), "{f}: {out}");
    }
    // several files: one line each, in order, and the exit code says some are bad
    let (code, out) = run(&[&good, &tampered]);
    assert_eq!(code, Some(5));
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got.len(), 2, "{out}");
    assert!(
        got[0].contains(": ok") && got[1].contains("line 8: checksum mismatch"),
        "{out}"
    );
}
