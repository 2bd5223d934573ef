//! Decompression bombs: a few MB of gzip that stand for GBs are rejected at the cap with a
//! reason naming the limit and its flag, the good records around them still land, and the
//! process stays small.

use std::io::Write;

use serde_json::Value;

use crate::common::*;

/// `times` gzip members of `member_size` zero bytes: one member compressed once, repeated (a
/// multi-member gzip is one stream to gunzip), so building GBs takes a moment.
fn zeros_gzip(member_size: usize, times: usize) -> Vec<u8> {
    let one = gzip(&vec![0u8; member_size]);
    one.repeat(times)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn meta_line(ts: u64) -> String {
    format!(
        r#"["w",{{"type":4,"data":{{"href":"http://x/","width":800,"height":600}},"timestamp":{ts}}}]"#
    )
}

fn rejects(lake: &std::path::Path) -> Vec<Value> {
    tree(&lake.join("_rejects"))
        .iter()
        .flat_map(|(p, _)| {
            std::fs::read_to_string(lake.join("_rejects").join(p))
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

#[test]
fn bombs_are_rejected_at_the_cap_and_memory_stays_bounded() {
    const GIB: usize = 1 << 30;
    const MEMBER: usize = 64 << 20;
    let tmp = tempfile::tempdir().unwrap();
    let inputs = tmp.path().join("in");
    std::fs::create_dir(&inputs).unwrap();

    // 1. A FullSnapshot whose compressed `data` (a latin1 string, as posthog-js writes it)
    //    gunzips to 2 GiB, between two good events.
    let packed = zeros_gzip(MEMBER, 2 * GIB / MEMBER);
    let latin1: String = packed.iter().map(|&b| b as char).collect();
    let bomb = format!(
        r#"["w",{{"type":2,"cv":"2024-10","data":{},"timestamp":1700000000001}}]"#,
        serde_json::to_string(&latin1).unwrap()
    );
    let lines = [meta_line(1700000000000), bomb, meta_line(1700000000002)];
    std::fs::write(inputs.join("bomb-cv.jsonl"), lines.join("\n")).unwrap();

    // 2. A gzip input file holding a good line, a 1 GiB line, and another good line.
    let mut file = gzip(
        format!(
            "{}\n[\"w\",{{\"type\":5,\"data\":\"",
            meta_line(1700000000000)
        )
        .as_bytes(),
    );
    file.extend(zeros_gzip(MEMBER, GIB / MEMBER));
    file.extend(gzip(
        format!(
            "\",\"timestamp\":1700000000001}}]\n{}\n",
            meta_line(1700000000002)
        )
        .as_bytes(),
    ));
    std::fs::write(inputs.join("bomb.jsonl.gz"), &file).unwrap();
    let input_bytes = packed.len() + file.len();
    assert!(input_bytes < 8 << 20, "{input_bytes} bytes of bombs");

    let lake = tmp.path().join("lake");
    let (code, peak) = bin_peak_rss(
        &[
            "convert",
            inputs.to_str().unwrap(),
            "--dest",
            lake.to_str().unwrap(),
            "--max-decompressed-mb",
            "32",
            "--threads",
            "1",
        ],
        tmp.path(),
    );
    let stdout = std::fs::read_to_string(tmp.path().join("stdout")).unwrap();
    let stderr = std::fs::read_to_string(tmp.path().join("stderr")).unwrap();
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(stdout.contains("rejected records: 2"), "{stdout}");
    let rejects = rejects(&lake);
    assert_eq!(rejects.len(), 2, "{rejects:#?}");
    for r in &rejects {
        let reason = r["reason"].as_str().unwrap();
        assert!(
            reason.contains("more than 32 MiB") && reason.contains("--max-decompressed-mb"),
            "{reason}"
        );
    }
    let cv = rejects
        .iter()
        .find(|r| r["file"].as_str().unwrap().ends_with("bomb-cv.jsonl"));
    assert_eq!(cv.unwrap()["line"], 2, "{rejects:#?}");
    let gz = rejects
        .iter()
        .find(|r| r["file"].as_str().unwrap().ends_with("bomb.jsonl.gz"));
    assert_eq!(gz.unwrap()["line"], 2, "{rejects:#?}");
    // the events around the bombs landed
    for sid in ["bomb-cv", "bomb"] {
        let q = format!("SELECT count(*) FROM events WHERE session_id = '{sid}'");
        assert_eq!(sql_i64(&lake, &q), 2, "{sid}");
    }
    // 3 GiB of bombs, a cap of 32 MiB: the process holds a few caps' worth at most
    assert!(peak < 256 << 20, "peak RSS {} MiB", peak >> 20);
    eprintln!("bombs: {input_bytes} bytes in, peak RSS {} MiB", peak >> 20);
}
