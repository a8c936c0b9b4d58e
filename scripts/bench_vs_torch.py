#!/usr/bin/env python3
"""Interleaved training-throughput comparison: archc vs the PyTorch reference.

Usage: scripts/bench_vs_torch.py [--rounds 3] [--sgd] [--python /tmp/torch-ref/bin/python] [name ...]
names: cifar_base cifar_deep svhn mnist_mlp mnist_ae_deep (default: all)

Each round runs, for every name, `archc bench specs/NAME.arch --batch 128 --format json`
and then `../shared/bench/torch_reference.py NAME` (batch 128, ~5 s each), so both see
the same machine state. With `--sgd` both train with plain SGD; without it both use the
spec's optimizer and learning rate (PyTorch through `scripts/torch_reference_optim.py`).
Prints a Markdown table of medians, the ratio archc/PyTorch of the medians, and each
round's ratio with their median.
"""
import argparse, json, re, statistics, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# ../shared next to the checkout (as CI lays it out), else the machine's /work/shared.
TORCH_REF = next((p for p in [ROOT.parent / "shared" / "bench" / "torch_reference.py",
                              Path("/work/shared/bench/torch_reference.py")] if p.exists()),
                 ROOT.parent / "shared" / "bench" / "torch_reference.py")
NAMES = ["cifar_base", "cifar_deep", "svhn", "mnist_mlp", "mnist_ae_deep"]

def archc_run(exe, name, seconds, sgd):
    out = subprocess.run([exe, "bench", str(ROOT / "specs" / f"{name}.arch"), "--batch", "128",
                          "--seconds", str(seconds), "--format", "json"] + (["--sgd"] if sgd else []),
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)

def spec_optimizer(name):
    """(optimizer, lr) of the spec's `optimizer` line, e.g. ("adam", 1e-3)."""
    text = (ROOT / "specs" / f"{name}.arch").read_text()
    m = re.search(r"^\s*optimizer\s+(\w+).*?\blr=([0-9.eE+-]+)", text, re.M)
    if not m:
        sys.exit(f"specs/{name}.arch: no `optimizer NAME lr=…` line")
    return m.group(1), float(m.group(2))

def torch_run(python, name, sgd):
    if sgd:
        cmd = [python, str(TORCH_REF), name]
    else:
        opt, lr = spec_optimizer(name)
        cmd = [python, str(ROOT / "scripts" / "torch_reference_optim.py"), name, opt, str(lr)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    m = re.search(r"(\d+) img/s train", out)
    if not m:
        sys.exit(f"unexpected torch_reference output: {out!r}")
    return float(m.group(1))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--python", default="/tmp/torch-ref/bin/python")
    ap.add_argument("--archc", default=str(ROOT / "target" / "release" / "archc"))
    ap.add_argument("--peak", type=float, default=None,
                    help="FP32 peak GFLOP/s of the machine (default: the FMA-loop peak archc bench measures)")
    ap.add_argument("--sgd", action="store_true",
                    help="plain SGD for both (as the shared reference); default: each spec's optimizer for both")
    ap.add_argument("names", nargs="*", default=NAMES)
    a = ap.parse_args()
    # Fail before the first round, with the fix, when the reference cannot run.
    try:
        subprocess.run([a.python, "-c", "import torch"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        sys.exit(f"{a.python} cannot import torch: make one with `python3 -m venv /tmp/torch-ref && "
                 f"/tmp/torch-ref/bin/pip install torch numpy`, or pass --python PATH of a Python that has it")
    ours = {n: [] for n in a.names}
    theirs = {n: [] for n in a.names}
    gflops = {n: [] for n in a.names}
    peaks = []
    for r in range(a.rounds):
        for n in a.names:
            j = archc_run(a.archc, n, a.seconds, a.sgd)
            ours[n].append(j["train_images_per_second"])
            gflops[n].append(j["gflops"])
            if j.get("machine_peak_gflops"):
                peaks.append(j["machine_peak_gflops"])
            theirs[n].append(torch_run(a.python, n, a.sgd))
            print(f"round {r + 1}: {n}: archc {ours[n][-1]:.0f} img/s, torch {theirs[n][-1]:.0f} img/s",
                  file=sys.stderr, flush=True)
    peak = a.peak or (statistics.median(peaks) if peaks else float("nan"))
    print("| model | archc img/s | PyTorch img/s | ratio | median of per-round ratios | per-round ratios | archc GFLOP/s | % of peak | PyTorch GFLOP/s |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|")
    for n in a.names:
        o, t = statistics.median(ours[n]), statistics.median(theirs[n])
        g = statistics.median(gflops[n])
        tg = g / o * t  # the same flops per image
        # Each round's two runs saw the same machine state; their ratio is the steadier
        # number when the host's speed drifts between rounds.
        per_round = [x / y for x, y in zip(ours[n], theirs[n])]
        rounds = ", ".join(f"{x:.2f}" for x in per_round)
        print(f"| {n} | {o:.0f} | {t:.0f} | {o / t:.2f} | {statistics.median(per_round):.2f} | {rounds} "
              f"| {g:.1f} | {100 * g / peak:.0f}% | {tg:.1f} |")
    opt = ("plain SGD for both" if a.sgd else "each spec's optimizer for both (" +
           ", ".join(f"{n}: {spec_optimizer(n)[0]} lr {spec_optimizer(n)[1]:g}" for n in a.names) + ")")
    print(f"\nmedians of {a.rounds} interleaved rounds, batch 128, {opt}; "
          f"peak {peak:.0f} GFLOP/s ({'given' if a.peak else 'FMA loop, median of the runs'})", flush=True)

if __name__ == "__main__":
    main()
