"""A deterministic Python workload for the preload tests (tests/programs).

Exercises the interpreter's allocation patterns: many small objects (pymalloc
arenas), large lists and strings (malloc directly), dict growth, json
round trips, regular expressions, sorting. Prints figures that depend only on
the data, so a run with an xsmem library preloaded must print the same.
Scale with the first argument (default 1.0).
"""
import collections
import hashlib
import json
import random
import re
import sys


def make_records(rng, n):
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
    return [
        {
            "id": i,
            "name": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 12))),
            "tags": rng.sample(words, rng.randint(1, 4)),
            "score": round(rng.random() * 1000, 3),
            "blob": "x" * rng.choice([1, 10, 100, 1000, 3000]),
        }
        for i in range(n)
    ]


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    rng = random.Random(20261123)
    n = max(100, int(12000 * scale))
    records = make_records(rng, n)

    # json: a round trip of the whole data set, then one per record.
    text = json.dumps(records, sort_keys=True)
    back = json.loads(text)
    assert back == records
    per_record = sum(len(json.dumps(r, sort_keys=True)) for r in records)
    print("json", len(text), per_record, hashlib.sha256(text.encode()).hexdigest()[:16])

    # collections: counters and grouping.
    tags = collections.Counter(t for r in records for t in r["tags"])
    print("tags", sorted(tags.items()))
    groups = collections.defaultdict(list)
    for r in records:
        groups[r["name"][0]].append(r["score"])
    print("groups", [(k, len(v), round(sum(v), 3)) for k, v in sorted(groups.items())])

    # re: tokenise a large generated text and rewrite it.
    corpus = " ".join(r["name"] + ("." if r["id"] % 7 == 0 else ",") for r in records)
    vowels = re.findall(r"\b[aeiou]\w+", corpus)
    rewritten = re.sub(r"(\w)(\w*)", lambda m: m.group(1).upper() + m.group(2)[::-1], corpus)
    sentences = re.split(r"\.\s*", corpus)
    print("re", len(vowels), len(rewritten), len(sentences), hashlib.md5(rewritten.encode()).hexdigest()[:16])

    # sorting: several keys over the records and over a large list of tuples.
    by_score = sorted(records, key=lambda r: (-r["score"], r["id"]))
    by_name = sorted(records, key=lambda r: (r["name"], r["id"]))
    pairs = sorted((rng.randrange(1 << 30), i) for i in range(n * 4))
    print("sort", by_score[0]["id"], by_score[-1]["id"], by_name[0]["name"], pairs[0], pairs[-1])

    # dict and set churn: build, mutate, drop.
    table = {}
    for i in range(n * 3):
        table[("k", i % (n // 2 + 1), i % 13)] = [i] * (i % 5)
        if i % 3 == 0:
            table.pop(("k", (i // 2) % (n // 2 + 1), (i // 2) % 13), None)
    print("dict", len(table), sum(len(v) for v in table.values()))
    seen = set()
    for r in records:
        seen.add(r["blob"][: r["id"] % 50] + r["name"])
    print("set", len(seen))


if __name__ == "__main__":
    main()
