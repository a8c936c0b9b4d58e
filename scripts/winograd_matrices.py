#!/usr/bin/env python3
"""Toom-Cook matrices of Winograd's minimal filtering F(m, r) at given points (plus ∞).

Usage: scripts/winograd_matrices.py M R POINTS     e.g.  2 5 0,1,-1,2,-2

Aᵀ (m×α) and G (α×r) follow from the points (α = m + r − 1, POINTS has α − 1 of them);
Bᵀ (α×α) is then solved exactly (fractions) from Aᵀ[(G g) ⊙ (Bᵀ d)] = correlation of d
with g, and the three are checked on random d, g. `src/kernels/winograd/f2x5.rs` holds
the output for 2 5 0,1,-1,2,-2.
"""
from fractions import Fraction as Fr
import sys, random
def derive(m, r, pts):
    a = m + r - 1
    assert len(pts) == a - 1
    At = [[(pts[j]**i if j < a-1 else (1 if i == m-1 else 0)) for j in range(a)] for i in range(m)]
    f = []
    for j in range(a-1):
        p = Fr(1)
        for l in range(a-1):
            if l != j: p *= (pts[j]-pts[l])
        f.append(p)
    G = [[(pts[j]**k / f[j] if j < a-1 else (1 if k == r-1 else 0)) for k in range(r)] for j in range(a)]
    Bt = [[None]*a for _ in range(a)]
    for l in range(a):
        rows = []
        for i in range(m):
            for k in range(r):
                rows.append([At[i][j]*G[j][k] for j in range(a)] + [Fr(1 if l == i+k else 0)])
        # gaussian elimination
        n = a; piv = []; R = [row[:] for row in rows]; ri = 0
        for c in range(n):
            p = next((q for q in range(ri, len(R)) if R[q][c] != 0), None)
            if p is None: continue
            R[ri], R[p] = R[p], R[ri]
            R[ri] = [v / R[ri][c] for v in R[ri]]
            for q in range(len(R)):
                if q != ri and R[q][c] != 0:
                    R[q] = [x - R[q][c]*y for x, y in zip(R[q], R[ri])]
            piv.append(c); ri += 1
        for q in range(ri, len(R)):
            assert R[q][n] == 0, "inconsistent"
        assert len(piv) == n, "underdetermined"
        for q, c in enumerate(piv): Bt[c][l] = R[q][n]
    return At, G, Bt
def check(m, r, At, G, Bt, trials=200):
    a = m + r - 1
    import math
    worst = 0
    for _ in range(trials):
        d = [random.uniform(-1,1) for _ in range(a)]; g = [random.uniform(-1,1) for _ in range(r)]
        U = [sum(G[j][k]*g[k] for k in range(r)) for j in range(a)]
        V = [sum(Bt[j][l]*d[l] for l in range(a)) for j in range(a)]
        Y = [sum(At[i][j]*U[j]*V[j] for j in range(a)) for i in range(m)]
        ref = [sum(d[i+k]*g[k] for k in range(r)) for i in range(m)]
        worst = max(worst, max(abs(float(y)-x) for y, x in zip(Y, ref)))
    return worst
m, r = int(sys.argv[1]), int(sys.argv[2])
pts = [Fr(x) for x in sys.argv[3].split(',')]
At, G, Bt = derive(m, r, pts)
print("worst", check(m, r, At, G, Bt))
for name, M in (("At", At), ("G", G), ("Bt", Bt)):
    print(name)
    for row in M: print("  ", [str(v) for v in row])
