#!/usr/bin/env python3
"""PyTorch training throughput with a given optimizer, on the shared reference's networks.

Usage: torch_reference_optim.py NAME OPTIMIZER LR   (OPTIMIZER: sgd, adam, adagrad, rmsprop, adadelta)

`../shared/bench/torch_reference.py` measures every network with plain SGD. To compare
archc with each spec's own optimizer, this runs the same networks, inputs, loss, batch (128),
warm-up and timing, with `torch.optim.OPTIMIZER(lr=LR)` instead. The networks are taken from
the shared file itself (its definitions, up to where its command line is read), so the two
cannot drift apart. Prints one line in the shared script's format.
"""
import sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REF = next(p for p in [ROOT.parent / "shared" / "bench" / "torch_reference.py",
                       Path("/work/shared/bench/torch_reference.py")] if p.exists())

def main():
    name, opt_name, lr = sys.argv[1], sys.argv[2].lower(), float(sys.argv[3])
    src = REF.read_text()
    ns = {"__name__": "torch_reference"}
    exec(compile(src[:src.index("which = sys.argv")], str(REF), "exec"), ns)
    torch, nn = ns["torch"], ns["nn"]
    f, shape, bs = ns["cases"][name]
    m = f()
    opt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad,
           "rmsprop": torch.optim.RMSprop, "adadelta": torch.optim.Adadelta}[opt_name](m.parameters(), lr=lr)
    x = torch.rand(bs, *shape); y = torch.randint(0, 10, (bs,))
    lossf = nn.CrossEntropyLoss() if "ae" not in name else (lambda o, _: nn.functional.binary_cross_entropy(o, x))
    def step():
        opt.zero_grad(); l = lossf(m(x), y); l.backward(); opt.step()
    for _ in range(3): step()
    n = 0; t = time.perf_counter()
    while time.perf_counter() - t < 5: step(); n += 1
    dt = (time.perf_counter() - t) / n
    print(f"{name}: {bs/dt:.0f} img/s train (batch {bs}, {dt*1e3:.1f} ms/step, {opt_name} lr {lr:g}, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()})", flush=True)

if __name__ == "__main__":
    main()
