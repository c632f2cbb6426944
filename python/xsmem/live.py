"""The live HTTP endpoint of a process run with XSMEM_HTTP (export/http.c).

/api/snapshot serves the bare packed Snapshot, /api/snapshot.json the same as
JSON. With XSMEM_HTTP_TOKEN (or XSMEM_HTTP_TOKEN_FILE) set in the serving
process, requests must carry the token; `xsmem top` and these functions read
it from the same variables when none is given.
"""
import json
import os
import urllib.error
import urllib.request

from . import snapshot as _snapshot


class LiveError(OSError):
    """A request the endpoint did not answer; the message names the URL."""


def _token(token):
    if token is not None:
        return token
    if os.environ.get("XSMEM_HTTP_TOKEN"):
        return os.environ["XSMEM_HTTP_TOKEN"]
    path = os.environ.get("XSMEM_HTTP_TOKEN_FILE")
    if path:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    return None


def _url(address, path):
    if address.startswith(("http://", "https://")):
        return address.rstrip("/") + path
    return "http://%s%s" % (address, path)


def get(address, path, token=None, timeout=10.0):
    """The body of GET path from address ("127.0.0.1:9100" or a URL), as bytes."""
    url = _url(address, path)
    req = urllib.request.Request(url)
    tok = _token(token)
    if tok:
        req.add_header("Authorization", "Bearer " + tok)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        body = e.read().decode("utf-8", "replace").strip()
        hint = " (set XSMEM_HTTP_TOKEN or pass token=)" if e.code == 401 else ""
        raise LiveError("%s: HTTP %d %s%s" % (url, e.code, body or e.reason, hint)) from None
    except (urllib.error.URLError, OSError) as e:
        raise LiveError("%s: %s" % (url, getattr(e, "reason", e))) from None


def fetch_message(address, token=None, timeout=10.0):
    """The process's snapshot now (/api/snapshot), as an xsmem_stats_pb2.Snapshot."""
    body = get(address, "/api/snapshot", token, timeout)
    try:
        return _snapshot.parse(body)
    except ValueError as e:
        raise LiveError("%s: %s" % (_url(address, "/api/snapshot"), e)) from None


def fetch_json(address, token=None, timeout=10.0):
    """/api/snapshot.json as the exporter writes it (a dict: its own key names)."""
    return json.loads(get(address, "/api/snapshot.json", token, timeout))
