"""A real workload for the demo: builds, serialises, parses and sorts data.

Deterministic: prints one line with a digest, so runs under different
allocators can be compared byte for byte.
"""
import collections
import hashlib
import json
import re

def main():
    words = collections.Counter()
    digest = hashlib.sha256()
    for i in range(4000):
        rec = {"id": i, "name": "item-%d" % i, "tags": ["t%d" % (i % 17), "g%d" % (i % 5)],
               "values": list(range(i % 50))}
        text = json.dumps(rec, sort_keys=True)
        back = json.loads(text)
        words.update(re.findall(r"[a-z]+", text))
        digest.update(text.encode())
        assert back == rec
    table = sorted(((v, k) for k, v in words.items()), reverse=True)
    digest.update(repr(table).encode())
    print("records=4000 distinct_words=%d sha256=%s" % (len(words), digest.hexdigest()[:16]))

if __name__ == "__main__":
    main()
