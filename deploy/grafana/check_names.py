"""deploy/grafana/check_names.py: every PromQL expression names only metrics the exporter serves.

usage: check_names.py SERVED DASHBOARD.json [RULES.yml...]
SERVED lists the sample names of /metrics scrapes, one a line (histograms as
_bucket, _sum, _count; counters with _total). The expressions are the
dashboard's panel targets and template queries, and the rules' `expr`s.
Prometheus has no query checker that knows a target's metrics, so the names
are picked out here: string literals, label matchers, range and offset
brackets, grouping label lists and function names are dropped, and what is
left that is not a PromQL keyword is a metric name. Every expression must name
at least one metric, and every name must be served. Exit 1 with each unknown
name and where it is used.
"""
import json
import re
import sys

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
            "offset", "inf", "nan", "atan2"}


def metric_names(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals (label values, regexes)
    e = re.sub(r"\{[^}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # ranges and subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)  # label lists
    e = re.sub(r"\blabel_values\s*\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)[^)]*\)", r" \1 ", e)  # its label argument
    e = re.sub(r"\$[a-zA-Z_]+", " ", e)  # dashboard variables
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in KEYWORDS or re.fullmatch(r"[eE]\d*", word):
            continue
        names.add(word)
    return names


def dashboard_exprs(path):
    out = []

    def walk(node, where):
        if isinstance(node, dict):
            title = node.get("title", where) if isinstance(node.get("title"), str) else where
            for k, v in node.items():
                if k == "expr" and isinstance(v, str):
                    out.append((title, v))
                elif k == "definition" and isinstance(v, str) and "label_values" in v:
                    out.append(("variable " + node.get("name", "?"), v))
                else:
                    walk(v, title)
        elif isinstance(node, list):
            for v in node:
                walk(v, where)

    walk(json.load(open(path)), path)
    return out


def rules_exprs(path):
    """`expr:` values of a rules file: one line, or a block scalar (| or >)."""
    out, lines, alert = [], open(path).read().splitlines(), "?"
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)-?\s*alert:\s*(\S+)", lines[i])
        if m:
            alert = m.group(2)
        m = re.match(r"^(\s*)expr:\s*(.*)$", lines[i])
        if m:
            indent, value = len(m.group(1)), m.group(2).strip()
            if value in ("|", ">", "|-", ">-"):
                block = []
                while i + 1 < len(lines) and (not lines[i + 1].strip() or
                                              len(lines[i + 1]) - len(lines[i + 1].lstrip()) > indent):
                    i += 1
                    block.append(lines[i].strip())
                value = " ".join(block)
            out.append(("rule " + alert, value.strip("'\"")))
        i += 1
    return out


def main():
    served = set(open(sys.argv[1]).read().split())
    bad, count = [], 0
    for path in sys.argv[2:]:
        exprs = dashboard_exprs(path) if path.endswith(".json") else rules_exprs(path)
        if not exprs:
            bad.append("%s: no expressions found" % path)
        for where, expr in exprs:
            count += 1
            names = metric_names(expr)
            if not names:
                bad.append("%s: %s: names no metric: %s" % (path, where, expr))
            for n in sorted(names - served):
                bad.append("%s: %s: %s is not served (%s)" % (path, where, n, expr))
    for line in bad:
        print("FAIL:", line)
    if bad:
        return 1
    print("ok: %d expressions name only served metrics (%d served)" % (count, len(served)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
