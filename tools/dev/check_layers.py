#!/usr/bin/env python3
"""Checks that no build target depends on a layer above its own.

The layers (ARCHITECTURE.md), each depending only on those below:
  0 platform/, third_party/, bench/workloads (programs with no deps)
  1 allocators/ interface, registry and fronts (one package per front)
  2 numa/, tracking/, device/ (sources, routers, decorators; never each other)
  3 configurations: the rest of allocators/ (configs, shims, libraries)
  4 export/, cpp/ (the C++ interface)
  5 tools/, python/ (the Python API: reads what export/ and tools/ write)
  6 bench/, examples/, the top-level aliases (//:xsmem)
Tests, test-only targets and benchmarks may depend on anything.

usage: tools/dev/check_layers.py [WORKSPACE]   (runs bazel query itself)
       bazel query ... --output=graph | tools/dev/check_layers.py -
"""
import re
import subprocess
import sys

FRONTS = ("tls_buckets", "buddy", "large", "bfc", "pool", "os", "system", "peers", "tiered")


def layer(label):
    pkg, _, name = label[2:].partition(":")
    top = pkg.split("/")[0]
    if top in ("platform", "third_party") or pkg == "bench/workloads" or label.startswith("//external"):
        return 0
    if top == "allocators":
        if pkg == "allocators" and name in ("allocator", "allocator_vg", "registry"):
            return 1
        if len(pkg.split("/")) > 1 and pkg.split("/")[1] in FRONTS:
            return 1
        return 3
    if top in ("numa", "tracking", "device"):
        return 2
    return {"export": 4, "cpp": 4, "tools": 5, "python": 5, "bench": 6, "examples": 6, "": 6}.get(top)


def exempt(label, tests):
    pkg, _, name = label[2:].partition(":")
    return (label in tests or pkg.startswith("tests") or re.search(r"(_test|_benchmark|_bench)$", name)
            or name.endswith("_test.sh"))


def query(workspace):
    run = lambda q, out: subprocess.run(["./bazelw", "query", q, "--output=" + out, "--nograph:factored"],
                                        cwd=workspace, check=True, capture_output=True, text=True).stdout
    tests = set(run("tests(//...) + attr(testonly, 1, //...)", "label").split())
    graph = run("deps(kind(rule, //...) except tests(//...) except attr(testonly, 1, //...), 1) intersect //...",
                "graph")
    return tests, graph


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "-":
        tests, graph = set(), sys.stdin.read()
    else:
        tests, graph = query(sys.argv[1] if len(sys.argv) > 1 else ".")
    bad = []
    for a, b in re.findall(r'"(//[^"]+)" -> "(//[^"]+)"', graph):
        if exempt(a, tests):
            continue
        la, lb = layer(a), layer(b)
        if la is None or lb is None:
            bad.append("%s -> %s: a package no layer names" % (a, b))
        elif lb > la:
            bad.append("%s (layer %d) -> %s (layer %d): a dependency on a layer above" % (a, la, b, lb))
        elif la == lb == 2 and a.split(":")[0] != b.split(":")[0]:
            bad.append("%s -> %s: numa/, tracking/ and device/ depend only on the layers below" % (a, b))
    for line in bad:
        print("LAYER", line)
    print("%d upward dependencies" % len(bad) if bad else "layers: every dependency goes down")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
