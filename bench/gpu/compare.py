#!/usr/bin/env python3
"""Joins bench_gpu_step (nabla) and torch_step.py (PyTorch eager) JSON lines into one table:
median step time +- IQR for each, the ratio nabla/PyTorch against issue 9's targets (<= 0.7 at
batch 64, where per-op overhead dominates; <= 1.0 at batch 512), and peak GPU memory of both.
Also lists nabla's transfer/compute overlap lines and every error line.

usage: compare.py NABLA.jsonl TORCH.jsonl [--md OUT.md] [--json OUT.json]
Exit status 0 even when targets are missed (the table says so); 2 when an input is unreadable.
"""
import argparse
import json
import sys

TARGETS = {64: 0.7, 512: 1.0}


def load(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        pass
    except OSError as e:
        print(f"compare.py: cannot read {path}: {e}", file=sys.stderr)
    return rows


def fmt_ms(r):
    return f"{r['median_ms']:.3f} ± {r['iqr_ms']:.3f}" if r else "—"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("nabla")
    ap.add_argument("torch")
    ap.add_argument("--md", default="")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    nb, th = load(a.nabla), load(a.torch)
    if not nb and not th:
        print("compare.py: no benchmark lines in either input", file=sys.stderr)
        return 2

    def steps(rows):
        return {(r["model"], int(r["batch"])): r for r in rows if r.get("kind") == "step"}

    ns, ts = steps(nb), steps(th)
    keys = sorted(set(ns) | set(ts), key=lambda k: (["mlp", "cnn", "resnet18"].index(k[0])
                                                     if k[0] in ("mlp", "cnn", "resnet18") else 9, k[0], k[1]))
    out = []
    out.append("| model | batch | nabla ms (median ± IQR) | PyTorch ms (median ± IQR) | nabla/PyTorch | target | "
               "peak MiB nabla | peak MiB PyTorch |")
    out.append("|---|---:|---:|---:|---:|---|---:|---:|")
    summary = []
    for k in keys:
        n, t = ns.get(k), ts.get(k)
        ratio = n["median_ms"] / t["median_ms"] if n and t and t["median_ms"] > 0 else None
        target = TARGETS.get(k[1])
        verdict = "—"
        if target is not None:
            verdict = f"≤ {target}: " + ("met" if ratio is not None and ratio <= target else
                                         "MISSED" if ratio is not None else "n/a")
        out.append(f"| {k[0]} | {k[1]} | {fmt_ms(n)} | {fmt_ms(t)} | "
                   f"{'%.2f' % ratio if ratio is not None else '—'} | {verdict} | "
                   f"{'%.1f' % n['peak_mem_mb'] if n else '—'} | {'%.1f' % t['peak_mem_mb'] if t else '—'} |")
        summary.append({"model": k[0], "batch": k[1], "nabla_ms": n and n["median_ms"], "torch_ms": t and t["median_ms"],
                        "ratio": ratio, "target": target,
                        "met": (ratio <= target) if (ratio is not None and target is not None) else None,
                        "nabla_peak_mb": n and n["peak_mem_mb"], "torch_peak_mb": t and t["peak_mem_mb"]})
    dev = next((r.get("device") for r in th if r.get("device")), None)
    if dev:
        out.append("")
        out.append(f"GPU (from PyTorch): {dev}; torch {next((r.get('torch') for r in th if r.get('torch')), '?')}")

    def layers(rows):
        return {(r["layer"], int(r["batch"])): r for r in rows if r.get("kind") == "layer"}

    nl, tl = layers(nb), layers(th)
    if nl or tl:
        out.append("")
        out.append("Per layer (ResNet-18's distinct layers alone; medians, ms; ratio = nabla / PyTorch):")
        out.append("")
        out.append("| layer | batch | nabla fwd | PyTorch fwd | fwd ratio | nabla bwd | PyTorch bwd | bwd ratio |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        order = {}
        for r in nb + th:
            if r.get("kind") == "layer":
                order.setdefault(r["layer"], len(order))
        for k in sorted(set(nl) | set(tl), key=lambda k: (k[1], order.get(k[0], 99))):
            n, t = nl.get(k), tl.get(k)

            def cell(r, f):
                return f"{r[f]:.3f}" if r else "—"

            def ratio(f):
                return f"{n[f] / t[f]:.2f}" if n and t and t[f] > 0 else "—"
            out.append(f"| {k[0]} | {k[1]} | {cell(n, 'fwd_ms')} | {cell(t, 'fwd_ms')} | {ratio('fwd_ms')} | "
                       f"{cell(n, 'bwd_ms')} | {cell(t, 'bwd_ms')} | {ratio('bwd_ms')} |")

    ov = [r for r in nb if r.get("kind") == "overlap"]
    if ov:
        out.append("")
        out.append("Transfer/compute overlap (nabla; medians, ms): upload of the next batch from pinned memory on the "
                   "copy stream vs a synchronous pageable upload before each step")
        out.append("")
        out.append("| model | batch | batch MiB | compute | copy (pageable) | copy (pinned async) | sequential step | "
                   "overlapped step | hidden fraction | params copied each step |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in ov:
            out.append(f"| {r['model']} | {r['batch']} | {r['batch_mb']:.2f} | {r['compute_ms']:.3f} | "
                       f"{r['copy_pageable_ms']:.3f} | {r['copy_pinned_async_ms']:.3f} | {r['sequential_ms']:.3f} | "
                       f"{r['overlapped_ms']:.3f} | {r['hidden_fraction']:.2f} | {r.get('params_copied_ms', float('nan')):.3f} |")
    else:
        out.append("")
        out.append("Transfer/compute overlap: not measured (no overlap lines from bench_gpu_step)")

    other = [r for r in nb + th if r.get("kind") in ("error", "skipped")]
    if other:
        out.append("")
        for r in other:
            what = f" {r['model']} batch {r.get('batch', '?')}" if "model" in r else ""
            out.append(f"- {r['framework']} {r['kind']}{what}: {r.get('error') or r.get('reason')}")

    text = "\n".join(out)
    print(text)
    if a.md:
        with open(a.md, "w") as f:
            f.write(text + "\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"steps": summary, "overlap": ov, "problems": other}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
