"""coroscope in a notebook: ``%load_ext coroscope``, ``%%coroscope`` and ``coroscope.show``.

    %load_ext coroscope

    %%coroscope --title "eat and play"
    gevent.joinall([gevent.spawn(eat), gevent.spawn(play)])

The cell runs as any cell does (in the notebook's namespace, printing as usual, its last
expression displayed, an error shown as IPython shows it and failing the cell), under
``coroscope.trace``; then its timeline is displayed below it. ``coroscope.show(path)``
displays a trace saved before (``%%coroscope --out trace.json``, ``coroscope record``).

How the timeline is shown: the self-contained page of ``coroscope export --format html``
(``standalone.py``: the viewer's code and the trace, gzip-compressed, in one HTML file
that needs no server and no network) inside an ``<iframe srcdoc="...">``, as a plain
``text/html`` output. So the notebook stores it as text, it needs no Jupyter extension,
no JavaScript build and no CDN, it works in JupyterLab and in the notebook exported to
HTML by nbconvert, and the viewer's page is isolated from the notebook's CSS and scripts
(the page's own code runs in the frame; the notebook runs none of it). The price is size:
every output carries the viewer's code (about 230 KB for a small trace).
"""

from __future__ import annotations

import ast
import contextlib
import html
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from typing import Any

try:
    from IPython.core.error import UsageError
    from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
    from IPython.display import HTML, display
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError("coroscope's notebook support needs IPython: "
                      "pip install 'coroscope[notebook]'") from exc

from .standalone import html_chunks
from .tracing import trace as _trace

__all__ = ["Timeline", "load_ipython_extension", "show"]

#: The iframe's height in CSS pixels, unless told: the viewer's page fits its frame
#: (timeline above, source and output panels below) and scrolls nothing at this size.
HEIGHT = 640
_MIN_HEIGHT = 200
_ROWS_PER_BATCH = 10_000


class Timeline(HTML):
    """A trace's timeline as a notebook output: the viewer's page in an iframe.

    Its ``text/html`` is the iframe, drawn over a note that only shows where the iframe
    was removed (JupyterLab sanitizes the HTML of a notebook it does not trust; GitHub
    strips iframes); its ``text/plain`` (a terminal's) says what it is.
    """

    def __init__(self, page: str, *, title: str, events: int, height: int = HEIGHT) -> None:
        if height < _MIN_HEIGHT:
            raise ValueError(f"height must be at least {_MIN_HEIGHT} pixels, not {height}")
        self.title, self.events, self.height = title, events, height
        label = html.escape(f"coroscope: {title}", quote=True)
        # The note and the iframe share one grid cell, the iframe on top (IPython's HTML
        # also warns about a bare <iframe>: "use IFrame", which needs a URL).
        super().__init__(
            '<div class="coroscope-timeline" style="display: grid">'
            '<p class="coroscope-note" style="grid-area: 1 / 1; margin: 0; padding: 8px">'
            f"The coroscope timeline &ldquo;{html.escape(title)}&rdquo; is not shown here: "
            "this viewer removed its iframe. JupyterLab shows it once it trusts the notebook "
            "(run the cell again, or <code>jupyter trust</code> the notebook).</p>"
            f'<iframe srcdoc="{html.escape(page, quote=True)}" title="{label}" '
            f'width="100%" height="{height}" frameborder="0" '
            f'style="grid-area: 1 / 1; z-index: 1; display: block; width: 100%; '
            f'height: {height}px; border: 1px solid #d0d7de; border-radius: 4px; '
            'box-sizing: border-box; background: #fff"></iframe></div>')

    def __repr__(self) -> str:
        return f"<coroscope timeline: {self.title!r}, {self.events} events (shown as HTML)>"


def _page(trace: dict[str, Any]) -> str:
    """The self-contained viewer page of a checked native trace, as ``coroscope export
    --format html`` writes it."""
    from .tracer.checker import iter_rows
    from .tracer.events import encode_batch
    from .tracer.export import native_trace_chunks

    rows = list(iter_rows(trace))
    batches = [encode_batch(i, rows[i:i + _ROWS_PER_BATCH])
               for i in range(0, len(rows), _ROWS_PER_BATCH)]
    del rows
    chunks = native_trace_chunks(trace["run"], batches, tasks=trace["tasks"],
                                 version=trace["version"])
    return b"".join(html_chunks(chunks)).decode()


def _read(path: str | os.PathLike[str]) -> dict[str, Any]:
    from .cli import Refused, read_trace_file

    try:
        return read_trace_file(os.fspath(path))
    except Refused as exc:
        raise ValueError(f"cannot show {os.fspath(path)}: {exc}") from None


def show(path_or_trace: str | os.PathLike[str] | Mapping[str, Any], height: int = HEIGHT,
         ) -> Timeline:
    """The timeline of a native trace, to display in a notebook.

    ``path_or_trace``: a trace file (``%%coroscope --out``, ``coroscope record``, the
    dashboard's Export JSON) or the trace itself, parsed. The trace is checked first: a
    file that is not one raises ``ValueError`` saying what is wrong. The result displays
    itself as a cell's last expression; else pass it to ``IPython.display.display``.
    """
    if isinstance(path_or_trace, Mapping):
        from .tracer.checker import check_trace

        trace = check_trace(dict(path_or_trace))
    else:
        trace = _read(path_or_trace)
    run = trace["run"]
    return Timeline(_page(trace), title=str(run.get("title") or run.get("id") or "trace"),
                    events=len(trace["events"]), height=height)


# -- the cell magic -----------------------------------------------------------------


def _unquote(value: str | None) -> str | None:
    """An option's value without the quotes IPython's argument splitting leaves on it."""
    if value and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _cell_file(ip: Any, cell: str, transformed: str, number: int) -> list[str]:
    """The ``co_filename`` IPython will compile the cell under (``run_cell`` names a cell
    by its code and number: ``/tmp/ipykernel_<pid>/<hash>.py`` in a kernel,
    ``<ipython-input-N-hash>`` in a terminal), so the tracer reports the cell's lines."""
    try:
        return [ip.compile.get_code_name(cell, transformed, number)]
    except Exception:  # an IPython without get_code_name: no lines, still a timeline
        return []


@magic_arguments()
@argument("--no-generators", action="store_true",
          help="trace greenlets only, not generators (generators are traced by default)")
@argument("--title", help="the run's title in the viewer (default: the cell's number)")
@argument("--out", metavar="FILE",
          help="also keep the trace in FILE (open it later with coroscope.show(FILE) or "
               "coroscope serve FILE)")
@argument("--height", type=int, default=HEIGHT,
          help=f"the timeline's height in pixels (default {HEIGHT})")
def coroscope(line: str, cell: str) -> None:
    """Run the cell under coroscope's tracer, then show its timeline below it.

    Greenlet and gevent switches (and, unless --no-generators, generator ones) of the
    cell's code are recorded in this thread, with the lines of the cell where each
    coroutine paused. The cell prints and displays as usual; if it raises, the error is
    shown as usual and the cell fails, after the timeline of what ran.
    """
    from IPython import get_ipython

    args = parse_argstring(coroscope, line)
    if args.height < _MIN_HEIGHT:
        raise UsageError(f"--height must be at least {_MIN_HEIGHT} (pixels)")
    ip = get_ipython()
    try:
        transformed = ip.transform_cell(cell)
    except Exception:  # run_cell will show the error: the raw cell is what it compiles
        transformed = cell
    try:
        is_async = ip.should_run_async(cell, transformed_cell=transformed,
                                       preprocessing_exc_tuple=None)
    except Exception:
        is_async = False
    if is_async:
        raise UsageError("%%coroscope cannot run a cell with top-level await: coroscope "
                         "traces greenlets and generators, not asyncio")

    # The ExecutionResult of the cell that holds this magic: run_cell below replaces it on
    # the display hook (as %%capture's does), and it is how the cell fails if its code does.
    outer = getattr(ip.displayhook, "exec_result", None)
    number = outer.execution_count if outer is not None else ip.execution_count
    label = f"In [{number}]"
    title, out = _unquote(args.title), _unquote(args.out)
    if out is None:
        fd, path = tempfile.mkstemp(prefix="coroscope-", suffix=".json")
        os.close(fd)
    else:
        path = out
    tracing = _trace(path, generators=not args.no_generators, title=title or label,
                     user_files=_cell_file(ip, cell, transformed, number),
                     source=cell, source_name=label)
    started = False

    def begin() -> None:
        nonlocal started
        tracing.__enter__()
        started = True

    _pending[:] = [begin]
    starter = _StartHere()
    ip.ast_transformers.append(starter)
    ran = None
    try:
        try:
            with _numbered(ip.compile, number):
                ran = ip.run_cell(cell, store_history=False)
        finally:
            _pending.clear()
            if starter in ip.ast_transformers:
                ip.ast_transformers.remove(starter)
            if outer is not None:
                ip.displayhook.exec_result = outer
            if started:  # the cell's code ran: stop tracing, write the trace
                error = sys.exc_info()[1] if ran is None else ran.error_in_exec
                if error is None:
                    tracing.__exit__(None, None, None)
                else:  # recorded as the run's error (the cell's traceback is shown)
                    tracing.__exit__(type(error), error, error.__traceback__)
        if started:
            display(show(path, height=args.height))
    finally:
        if out is None:
            try:
                os.unlink(path)
            except OSError:
                pass
    error = ran.error_before_exec or ran.error_in_exec
    if error is not None and outer is not None and outer.error_in_exec is None:
        # The error is shown already (by run_cell); this makes the kernel report the cell
        # as failed, so "run all" stops here and nbclient raises, as without the magic.
        outer.error_in_exec = error


@contextlib.contextmanager
def _numbered(compiler: Any, number: int) -> Iterator[None]:
    """Makes ``run_cell`` name the cell's code as cell ``number``, the magic's own cell.

    It would number it ``ip.execution_count``, one past (the magic's cell counted itself
    already), and a traceback would say "Cell In[N+1]" (as under ``%%capture``). Setting
    ``ip.execution_count`` back instead would make the display hook store the cell's value
    as ``Out[N-1]``: only the compiler's naming is changed.
    """
    own = vars(compiler).get("cache")
    cache = compiler.cache
    compiler.cache = lambda code, _number=0, raw_code=None: cache(code, number, raw_code)
    try:
        yield
    finally:
        if own is None:
            del compiler.cache
        else:
            compiler.cache = own


#: What the first statement of a %%coroscope cell calls (``_begin``): start tracing.
_pending: list[Callable[[], None]] = []


def _begin() -> None:
    if _pending:
        _pending.pop()()


class _StartHere(ast.NodeTransformer):
    """Makes the cell's code start the tracer itself: a call to ``_begin()`` before its
    first statement (after any ``from __future__`` import). Tracing from the magic would
    count IPython transforming and compiling the cell (about 1.5 ms) as the cell's main
    greenlet running, before any of its code ran. Used once, on the cell's module."""

    def __init__(self) -> None:
        self.used = False

    def visit(self, node: ast.AST) -> ast.AST:
        if self.used or not isinstance(node, ast.Module):
            return node
        self.used = True
        at = 0
        for i, stmt in enumerate(node.body):
            if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
                at = i + 1
            elif not (i == 0 and isinstance(stmt, ast.Expr)
                      and isinstance(stmt.value, ast.Constant)):
                break
        call = ast.parse(f"__import__('sys').modules[{__name__!r}]._begin()").body[0]
        if node.body:
            ast.copy_location(call, node.body[min(at, len(node.body) - 1)])
        node.body.insert(at, ast.fix_missing_locations(call))
        return node


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext coroscope``: register the ``%%coroscope`` cell magic."""
    ip.register_magic_function(coroscope, magic_kind="cell", magic_name="coroscope")
