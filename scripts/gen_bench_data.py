#!/usr/bin/env python3
"""Builds a large, realistic benchmark input from the real recordings in tests/data/realclient.

Every output session is a copy of one real posthog-js blob_v2 recording (cv 2024-10 compressed
full snapshots and mutations, mouse moves, clicks, inputs, console and network plugin events) with
a fresh session id, fresh window ids and timestamps shifted over several dates. Sessions are
written as `<session_id>.blob.jsonl`; with --gzip-share / --export-share a share of them is
written gzipped (`<session_id>.blob.jsonl.gz`) or as a PostHog export 2023-04-28 document
(`<session_id>.export.json`) to exercise the other input paths. Deterministic for a given seed.

usage: gen_bench_data.py OUT_DIR [MB] [--seed N] [--dates N] [--gzip-share F] [--export-share F]
       [--src DIR]

MB counts bytes as written to disk. JSONL is split on b'\\n' only: the compressed payloads
contain U+0085, which str.splitlines() would take for a line break.
"""
import argparse
import glob
import gzip
import json
import os
import random
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
DAY_MS = 86_400_000


def load(src):
    files = sorted(glob.glob(os.path.join(src, "*.blob.jsonl")))
    if not files:
        sys.exit(f"no *.blob.jsonl in {src}")
    recs = []
    for f in files:
        with open(f, "rb") as fh:
            raw = fh.read()
        lines = [json.loads(l) for l in raw.split(b"\n") if l.strip()]
        recs.append(lines)
    return recs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("mb", nargs="?", type=float, default=300.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dates", type=int, default=5, help="spread sessions over this many UTC dates")
    ap.add_argument("--gzip-share", type=float, default=0.0, help="share of sessions written as .blob.jsonl.gz")
    ap.add_argument("--export-share", type=float, default=0.0, help="share of sessions written as export JSON")
    ap.add_argument("--src", default=os.path.join(HERE, "..", "tests", "data", "realclient"))
    a = ap.parse_args()

    recs = load(a.src)
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    fresh = lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))
    target = a.mb * 1e6
    total, n, kinds = 0, 0, {"blob": 0, "gzip": 0, "export": 0}
    while total < target:
        lines = recs[n % len(recs)]
        shift = (n % max(a.dates, 1)) * DAY_MS + rng.randrange(0, 20 * 3_600_000)
        sid = fresh()
        wmap = {}
        pick = rng.random()
        if pick < a.export_share:
            kind = "export"
        elif pick < a.export_share + a.gzip_share:
            kind = "gzip"
        else:
            kind = "blob"
        if kind == "export":
            snaps = []
            for w, e in lines:
                e2 = dict(e)
                e2["timestamp"] = e["timestamp"] + shift
                snaps.append({"windowId": wmap.setdefault(w, fresh()), **e2})
            doc = {"version": "2023-04-28", "data": {"id": sid, "person": None, "snapshots": snaps}}
            data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
            path = os.path.join(a.out, f"{sid}.export.json")
        else:
            buf = []
            for w, e in lines:
                e2 = dict(e)
                e2["timestamp"] = e["timestamp"] + shift
                buf.append(json.dumps([wmap.setdefault(w, fresh()), e2], separators=(",", ":"), ensure_ascii=False))
            data = ("\n".join(buf) + "\n").encode()
            path = os.path.join(a.out, f"{sid}.blob.jsonl")
            if kind == "gzip":
                data = gzip.compress(data, compresslevel=6, mtime=0)
                path += ".gz"
        with open(path, "wb") as f:
            f.write(data)
        kinds[kind] += 1
        total += len(data)
        n += 1
    detail = ", ".join(f"{v} {k}" for k, v in kinds.items() if v)
    print(f"{n} sessions ({detail}), {total / 1e6:.1f} MB in {a.out}")


if __name__ == "__main__":
    main()
