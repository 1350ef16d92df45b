"""One self-contained HTML file per run: the viewer and the trace, no server, no network.

The file a classmate opens from disk (``file://``) is the dashboard's own page with
everything it loads put inside it:

* the stylesheet, inline;
* the page's ES modules, as a JSON object ``{"app.js": "...source...", ...}``,
  gzip-compressed and base64-encoded (330 KB of JavaScript, about 110 KB so). A page
  opened from disk may not load module files, so a small loader (``_LOADER``) inflates
  them, turns each module into a ``blob:`` URL, dependencies first, rewriting
  ``from "./store.js"`` to that URL, and imports ``app.js``;
* the run's native trace, gzip-compressed and base64-encoded (a 1M-event trace is
  87 MB of JSON, about 5 MB once compressed), which the loader inflates with the
  browser's ``DecompressionStream`` and hands to the page as ``window.coroscopeStandalone``.

The page then runs without a server: it shows the trace as a loaded export (timeline,
player, Predict, source, output, statistics, 中文, Export JSON) and hides what needs
one (Run, Open..., History, the Perfetto download). The file is written in pieces, the
trace compressed as it is produced, so memory stays bounded as for the other exports.
"""

from __future__ import annotations

import base64
import gzip
import re
import zlib
from collections.abc import Iterable, Iterator

import orjson

from . import resources

_STYLESHEET = re.compile(r'<link rel="stylesheet" href="[^"]*css/app\.css[^"]*">')
_APP_SCRIPT = re.compile(r'<script type="module" src="[^"]*js/app\.js[^"]*"></script>')
_IMPORT = re.compile(r'((?:from|import)\s*\(?\s*)"\./([\w.-]+\.js)"')

# Runs before the page's modules: inflate the trace, then load the modules from blob:
# URLs (a file:// page cannot import module files), dependencies first.
_LOADER = """
const unpack = async (id) => {
  const packed = document.getElementById(id).textContent.trim();
  const bytes = Uint8Array.from(atob(packed), (c) => c.charCodeAt(0));
  return new Response(new Blob([bytes]).stream()
    .pipeThrough(new DecompressionStream("gzip"))).text();
};
const modules = JSON.parse(await unpack("coroscope-modules"));
const urls = {};
const load = (name) => urls[name] ??= URL.createObjectURL(new Blob(
  [modules[name].replace(/((?:from|import)\\s*\\(?\\s*)"\\.\\/([\\w.-]+\\.js)"/g,
                         (m, head, dep) => `${head}"${load(dep)}"`)],
  { type: "text/javascript" }));
window.coroscopeStandalone = { trace: JSON.parse(await unpack("coroscope-trace")) };
await import(load("app.js"));
"""


def _module_sources() -> dict[str, str]:
    """Every module of the page, by file name; checked for what the loader assumes."""
    folder = resources("static") / "js"
    sources = {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.js"))}
    for name, text in sources.items():
        for dep in _IMPORT.findall(text):
            if dep[1] not in sources:
                raise RuntimeError(f"static/js/{name} imports {dep[1]}, which is not there")
    return sources


def page_parts() -> tuple[str, str]:
    """The HTML before the embedded trace and after it (the same for every run)."""
    html = (resources("templates") / "index.html").read_text(encoding="utf-8")
    css = (resources("static") / "css" / "app.css").read_text(encoding="utf-8")
    if not _STYLESHEET.search(html) or not _APP_SCRIPT.search(html):
        raise RuntimeError("templates/index.html no longer links app.css and app.js as "
                           "app/standalone.py expects")
    html = _STYLESHEET.sub(lambda m: f"<style>\n{css}\n</style>", html, count=1)
    html = _APP_SCRIPT.sub(lambda m: "", html, count=1)
    head, sep, tail = html.partition("</body>")
    if not sep:
        raise RuntimeError("templates/index.html has no </body>")
    # The modules packed as the trace is (330 KB of JavaScript, 80 KB once compressed):
    # a notebook keeps one page per traced cell.
    modules = gzip.compress(orjson.dumps(_module_sources()), 9, mtime=0)
    before = (head
              + '<script type="application/gzip-base64" id="coroscope-modules">\n'
              + base64.encodebytes(modules).decode() + "</script>\n"
              + '<script type="application/gzip-base64" id="coroscope-trace">\n')
    after = "\n</script>\n<script type=\"module\">" + _LOADER + "</script>\n" + sep + tail
    return before, after


def html_chunks(trace_chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The self-contained page for a native trace given as pieces of its JSON (the
    output of ``export.native_trace_chunks``): compressed and encoded as it streams."""
    before, after = page_parts()
    yield before.encode()
    gzip = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
    pending = b""
    for chunk in trace_chunks:
        pending += gzip.compress(chunk)
        cut = len(pending) - len(pending) % 57  # 57 bytes: one 76-character base64 line
        if cut:
            yield base64.encodebytes(pending[:cut])
            pending = pending[cut:]
    pending += gzip.flush()
    if pending:
        yield base64.encodebytes(pending)
    yield after.encode()
