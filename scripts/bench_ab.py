#!/usr/bin/env python3
"""Interleaved A/B training throughput of one archc binary under two environments.

Usage: scripts/bench_ab.py --b-env ARCHC_NO_FUSED_UPDATE=1 [--rounds 3] [--seconds 5]
       [--batch 128] [--a-env VAR=VAL ...] [--label-a fused --label-b plain] SPEC ...
       scripts/bench_ab.py --archc-b /tmp/base-archc --label-b base SPEC ...   (two builds)
       [--model NAME]   (a sweep spec's model; default: its first)

Each round runs `archc bench SPEC --batch N --format json` with environment A and then
with environment B for every spec, so both see the same machine state, and prints per
spec the medians of the rounds and the median of the per-round ratios A/B (train img/s,
and B/A of CPU ms per step, so > 1 means A is faster on both). On a loaded machine the
absolute numbers move with the load; the interleaved ratios are the measurement.
"""
import argparse, json, os, statistics, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(exe, spec, batch, seconds, env, model):
    e = dict(os.environ)
    e.update(env)
    cmd = [exe, "bench", spec, "--batch", str(batch), "--seconds", str(seconds), "--format", "json"]
    if model:
        cmd += ["--model", model]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=e).stdout
    # One JSON object per line, one line per model of the spec: the first is measured
    # (`--model` picks which).
    j = json.loads(out.splitlines()[0])
    return j[0] if isinstance(j, list) else j


def env_pairs(items):
    return dict(i.split("=", 1) for i in items)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--archc", default=str(ROOT / "target" / "release" / "archc"))
    ap.add_argument("--archc-b", default=None,
                    help="another archc binary for B (compare two builds; default: --archc)")
    ap.add_argument("--a-env", nargs="*", default=[])
    ap.add_argument("--b-env", nargs="*", default=[])
    ap.add_argument("--label-a", default="A")
    ap.add_argument("--label-b", default="B")
    ap.add_argument("--model", default=None,
                    help="the model of a sweep spec to measure (default: its first)")
    ap.add_argument("specs", nargs="+")
    a = ap.parse_args()
    envs = {a.label_a: env_pairs(a.a_env), a.label_b: env_pairs(a.b_env)}
    exes = {a.label_a: a.archc, a.label_b: a.archc_b or a.archc}
    res = {s: {k: [] for k in envs} for s in a.specs}
    for r in range(a.rounds):
        for s in a.specs:
            for k, env in envs.items():
                j = run(exes[k], s, a.batch, a.seconds, env, a.model)
                res[s][k].append(j)
                print(f"round {r + 1}: {Path(s).stem} {k}: {j['train_images_per_second']:.0f} img/s, "
                      f"{j['step_cpu_ms']:.1f} CPU ms/step, {j['train_steps']} steps",
                      file=sys.stderr, flush=True)
    la, lb = a.label_a, a.label_b
    print(f"| model | optimizer | {la} img/s | {lb} img/s | img/s ratio {la}/{lb} "
          f"| CPU ms/step {la} | CPU ms/step {lb} | CPU ratio {lb}/{la} | per-round img/s ratios |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for s in a.specs:
        ra, rb = res[s][la], res[s][lb]
        ips = [x["train_images_per_second"] / y["train_images_per_second"] for x, y in zip(ra, rb)]
        cpu = [y["step_cpu_ms"] / x["step_cpu_ms"] for x, y in zip(ra, rb)]
        med = lambda rs, f: statistics.median(x[f] for x in rs)
        print(f"| {Path(s).stem} | {ra[0]['optimizer']} | {med(ra, 'train_images_per_second'):.0f} "
              f"| {med(rb, 'train_images_per_second'):.0f} | {statistics.median(ips):.2f} "
              f"| {med(ra, 'step_cpu_ms'):.1f} | {med(rb, 'step_cpu_ms'):.1f} "
              f"| {statistics.median(cpu):.2f} | {', '.join(f'{x:.2f}' for x in ips)} |")
    print(f"\nmedians of {a.rounds} interleaved rounds, batch {a.batch}, {a.seconds} s each; "
          f"{la}: {envs[la] or 'default env'}, {lb}: {envs[lb] or 'default env'}", flush=True)


if __name__ == "__main__":
    main()
