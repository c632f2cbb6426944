#!/usr/bin/env python3
"""Writes a synthetic ML-training allocation trace (the replay format: `a ID SIZE` / `f ID`).

The model: a network of L layers of varied widths trained for S steps.
  - at start: weights and two optimizer slots per layer, live for the whole run;
  - every step, the forward pass allocates each layer's activations (and a short-lived
    workspace), the backward pass walks the layers in reverse, allocating a gradient per
    layer and freeing that layer's activations, then the optimizer frees the gradients;
  - the batch size changes now and then (and the sequence length jitters every step),
    so activation sizes vary between steps: the waves do not fit each other's holes exactly,
    which is what makes a best-fit arena fragment.
Deterministic for a given seed:  gen_ml_trace.py [--steps 300] [--seed 1] > ml-steps.trace
"""
import argparse
import random
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    out = sys.stdout
    next_id = [0]

    def alloc(size):
        next_id[0] += 1
        out.write("a %d %d\n" % (next_id[0], size))
        return next_id[0]

    def free(i):
        out.write("f %d\n" % i)

    widths = [rng.choice([128, 256, 384, 512, 768, 1024, 1536, 2048]) for _ in range(args.layers)]
    persistent = []
    for l in range(args.layers):
        fan_in = widths[l - 1] if l else 512
        for _slot in range(3):  # weights, two optimizer slots
            persistent.append(alloc(4 * fan_in * widths[l]))
        persistent.append(alloc(4 * widths[l]))  # bias
    batch = 32
    for step in range(args.steps):
        if step % 50 == 0:
            batch = rng.choice([8, 16, 32, 48, 64])
        seq = rng.randint(64, 128)  # varies every step
        acts = []
        for l in range(args.layers):
            acts.append(alloc(4 * batch * seq * widths[l] // 8))
            ws = alloc(rng.randint(1, 64) * 4096)  # cuBLAS-style workspace
            small = [alloc(rng.choice([64, 128, 256, 1024])) for _ in range(4)]  # shapes, scalars
            free(ws)
            for s in small:
                free(s)
        loss = alloc(4 * batch)
        grads = []
        for l in reversed(range(args.layers)):
            fan_in = widths[l - 1] if l else 512
            grads.append(alloc(4 * fan_in * widths[l]))
            tmp = alloc(4 * batch * seq * widths[l] // 8)  # activation gradient
            free(acts[l])
            free(tmp)
        free(loss)
        for g in grads:
            free(g)
    for p in persistent:
        free(p)


if __name__ == "__main__":
    main()
