#!/usr/bin/env python3
"""Barnes-Hut t-SNE: `archc tsne` against scikit-learn's TSNE on the same points.

The points are the 10000 MNIST test images projected on the 50 leading principal
components of the 60000 training images (numpy, f64), written once to a codes file that
`archc tsne --codes` reads; scikit-learn gets the same array. Both run perplexity 30,
1000 iterations, theta (angle) 0.5, random start, learning rate max(n/48, 50), two
threads. Prints wall time and final KL of each, alternating the two programs.

    python3 scripts/bench_tsne.py [--archc target/release/archc] [--repeats 1] [--n 10000]
                                  [--pause-training]

--pause-training stops the background `archc train` run (SIGSTOP) for the measurement
and always resumes it (SIGCONT), also on errors and Ctrl-C.
"""

import argparse
import gzip
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def write_codes(path, codes, labels):
    """A safetensors file with test.codes [n, d] f32 and test.labels [n] u8."""
    codes = np.ascontiguousarray(codes, dtype="<f4")
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    cb, lb = codes.tobytes(), labels.tobytes()
    header = {
        "test.codes": {"dtype": "F32", "shape": list(codes.shape), "data_offsets": [0, len(cb)]},
        "test.labels": {"dtype": "U8", "shape": [len(labels)], "data_offsets": [len(cb), len(cb) + len(lb)]},
    }
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + cb + lb)


def mnist_pca(data, dims, n):
    tr = idx(os.path.join(data, "mnist/train-images-idx3-ubyte.gz")).reshape(-1, 784) / 255.0
    te = idx(os.path.join(data, "mnist/t10k-images-idx3-ubyte.gz")).reshape(-1, 784) / 255.0
    labels = idx(os.path.join(data, "mnist/t10k-labels-idx1-ubyte.gz"))
    mean = tr.mean(axis=0)
    cov = (tr - mean).T @ (tr - mean) / len(tr)
    w, v = np.linalg.eigh(cov)
    top = v[:, np.argsort(w)[::-1][:dims]]
    return ((te[:n] - mean) @ top).astype(np.float32), labels[:n]


def run_archc(binary, codes_file, n, out, seed):
    cmd = [binary, "tsne", "--codes", codes_file, "--n", str(n), "--method", "barnes-hut",
           "--theta", "0.5", "--perplexity", "30", "--iterations", "1000",
           "--seed", str(seed), "--out", out]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    with open(os.path.join(out, "tsne.json")) as f:
        j = json.load(f)
    return wall, j["seconds"], j["kl_divergence"]


def run_sklearn(x, seed):
    from sklearn.manifold import TSNE

    t = time.perf_counter()
    m = TSNE(n_components=2, perplexity=30.0, method="barnes_hut", angle=0.5,
             init="random", learning_rate="auto", max_iter=1000, n_jobs=2,
             random_state=seed)
    m.fit_transform(x)
    return time.perf_counter() - t, m.kl_divergence_, m.n_iter_


def set_training(sig):
    subprocess.run(["pkill", sig, "-f", "archc train"], check=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--archc", default="target/release/archc")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--pause-training", action="store_true")
    a = ap.parse_args()

    x, labels = mnist_pca(a.data, 50, a.n)
    tmp = tempfile.mkdtemp(prefix="bench_tsne_")
    codes_file = os.path.join(tmp, "mnist_test_pca50.safetensors")
    write_codes(codes_file, x, labels)
    print(f"{len(x)} MNIST test images, PCA to 50 dims; perplexity 30, 1000 iterations, theta 0.5")

    if a.pause_training:
        # SIGTERM/SIGHUP become exceptions so that `finally` resumes the training.
        for s in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, lambda *_: sys.exit(1))
        set_training("-STOP")
    try:
        for r in range(a.repeats):
            wall, secs, kl = run_archc(a.archc, codes_file, a.n, os.path.join(tmp, "archc"), r)
            print(f"archc   seed {r}: {wall:6.1f} s wall ({secs:6.1f} s t-SNE), KL {kl:.4f}", flush=True)
            wall, kl, iters = run_sklearn(x, r)
            print(f"sklearn seed {r}: {wall:6.1f} s wall,                  KL {kl:.4f} ({iters} iterations)", flush=True)
    finally:
        if a.pause_training:
            set_training("-CONT")


if __name__ == "__main__":
    main()
