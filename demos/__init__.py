"""The demo registry: every example of the seed tutorial, with its parameters.

Each demo is a plain Python file in this folder that reads like the tutorial and
defines ``main(**params)``. The registry holds what the dashboard shows about it;
the file itself is only ever imported by a run's child process, never by the server
(a demo may call ``monkey.patch_all()``, which must not touch the server).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEMO_DIR = Path(__file__).resolve().parent


class ParamError(ValueError):
    """A demo parameter was missing a bound, of the wrong type, or unknown."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # "int" | "float" | "choice"
    default: Any
    min: float | None = None
    max: float | None = None
    help: str = ""
    choices: tuple[str, ...] = ()
    #: The help in Simplified Chinese, for the UI's 中文 mode.
    help_zh: str = ""

    def coerce(self, value: Any) -> Any:
        """Return ``value`` as this parameter's type, or raise ParamError saying why."""
        if self.type == "choice":
            if value not in self.choices:
                raise ParamError(
                    f"parameter {self.name!r} must be one of {', '.join(self.choices)}; "
                    f"got {value!r}"
                )
            return value
        if isinstance(value, bool):
            what = "an integer" if self.type == "int" else "a number"
            raise ParamError(f"parameter {self.name!r} must be {what}, not a boolean")
        if self.type == "int":
            # Only a JSON integer: never a float, even an integral one. JSON writers (the
            # dashboard's JSON.stringify, Python's json) write a whole number without a
            # fraction or exponent, so 3.0 or 1e23 was written as a float on purpose, and
            # beyond 2**53 such a float is not even the integer it looks like (int(1e23)
            # is 99999999999999991611392). The trace checker reads counts the same way.
            if isinstance(value, float) and value.is_integer():
                raise ParamError(
                    f"parameter {self.name!r} must be an integer, got {value!r}: "
                    "write it without a decimal point or exponent (1000, not 1000.0 or 1e3)"
                )
            if not isinstance(value, int):
                raise ParamError(
                    f"parameter {self.name!r} must be an integer, got {type(value).__name__}"
                )
        elif self.type == "float":
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ParamError(
                    f"parameter {self.name!r} must be a finite number, got {value!r}"
                )
            value = float(value)
        if self.min is not None and value < self.min:
            raise ParamError(f"parameter {self.name!r} must be >= {self.min}, got {value}")
        if self.max is not None and value > self.max:
            raise ParamError(f"parameter {self.name!r} must be <= {self.max}, got {value}")
        return value

    def describe(self) -> dict[str, Any]:
        info = {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "min": self.min,
            "max": self.max,
            "help": self.help,
            "help_zh": self.help_zh,
        }
        if self.choices:
            info["choices"] = list(self.choices)
        return info


def choice(name: str, default: str, choices: tuple[str, ...], help: str,
           help_zh: str = "") -> Param:
    return Param(name, "choice", default, help=help, choices=choices, help_zh=help_zh)


@dataclass(frozen=True)
class Demo:
    id: str
    title: str
    description: str
    file: str
    params: tuple[Param, ...] = field(default=())
    #: Trace generator resumes/yields too (a profile hook: slower, so only where needed).
    generators: bool = False
    #: A contrast to run side by side: two (demo id, params) pairs, shown one above the other.
    compare: tuple[tuple[str, dict[str, Any]], ...] = ()
    #: When the code itself differs by variant: the ``variant`` param's value -> file.
    variant_files: dict[str, str] = field(default_factory=dict)
    #: Helper files of the demo whose lines are worth showing too.
    extra_files: tuple[str, ...] = ()
    #: It times pure computation, which the tracer slows: after the traced run its main()
    #: runs once more untraced, and the viewer shows both figures (see ``tutorial_figure``).
    untraced_rerun: bool = False
    #: It times sleeping (seconds), which the tracer hardly slows (microseconds a switch):
    #: its main() runs once more untraced only when the user asks (a start with
    #: ``"untraced": true``), since that doubles the wait.
    untraced_on_request: bool = False
    #: What the tutorial printed for the same experiment, and on what (shown beside them).
    tutorial_figure: str = ""
    tutorial_figure_zh: str = ""

    #: Folder of the demo's files (this one for built-in demos).
    folder: Path = DEMO_DIR

    #: Title and description in Simplified Chinese, for the UI's 中文 mode.
    title_zh: str = ""
    description_zh: str = ""

    def file_for(self, params: dict[str, Any] | None = None) -> str:
        variant = (params or {}).get("variant")
        return self.variant_files.get(variant, self.file) if variant else self.file

    @property
    def path(self) -> Path:
        return self.folder / self.file

    def path_for(self, params: dict[str, Any] | None = None) -> Path:
        return self.folder / self.file_for(params)

    def user_files(self, params: dict[str, Any] | None = None) -> list[str]:
        return [str(self.path_for(params))] + [str(self.folder / f) for f in self.extra_files]

    def source(self, params: dict[str, Any] | None = None) -> str:
        return self.path_for(params).read_text(encoding="utf-8")

    def resolve_params(self, given: Any) -> dict[str, Any]:
        """Defaults overlaid with ``given``, each checked; raise ParamError if not valid."""
        if given is None:
            given = {}
        if not isinstance(given, dict):
            raise ParamError(f"params must be an object, got {type(given).__name__}")
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ParamError(
                f"unknown parameter {unknown[0]!r} for demo {self.id!r}; "
                f"known: {', '.join(known) or 'none'}"
            )
        return {name: p.coerce(given.get(name, p.default)) for name, p in known.items()}

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "title_zh": self.title_zh,
            "description": self.description,
            "description_zh": self.description_zh,
            "file": self.file,
            "params": [p.describe() for p in self.params],
            "compare": [{"demo": d, "params": p} for d, p in self.compare],
            "variant_files": dict(self.variant_files),
            "untraced_rerun": self.untraced_rerun,
            "untraced_on_request": self.untraced_on_request,
            "tutorial_figure": self.tutorial_figure,
            "tutorial_figure_zh": self.tutorial_figure_zh,
        }


_EAT = Param("eat_seconds", "float", 2.0, 0.0, 10.0, "how long eat sleeps",
             help_zh="eat 中 sleep 的时长（秒）")
_PLAY = Param("play_seconds", "float", 1.0, 0.0, 10.0, "how long play sleeps",
              help_zh="play 中 sleep 的时长（秒）")

DEMOS: dict[str, Demo] = {
    d.id: d
    for d in (
        Demo(
            id="yield_producer_consumer",
            title="yield: serial vs. send() to a generator",
            title_zh="yield：串行执行 vs. 用 send() 发给生成器",
            description=(
                "Serial: the producer builds the whole list, then the consumer gets it. "
                "yield: the producer send()s each item to a consumer generator, so the two "
                "switch back and forth once per item (one switch pair per send). Switching "
                "costs time: try n = 1000000 on both variants and compare the totals."
            ),
            description_zh=(
                "串行：生产者先生产出整个列表，再整个交给消费者。"
                "yield：生产者用 send() 把每一项发给消费者生成器，两个任务每处理一项就来回"
                "切换一次（每次 send 一来一回两次切换）。切换是要花时间的：把两种 variant 都设为 "
                "n = 1000000 运行，对比总耗时。"
            ),
            file="yield_producer_consumer.py",
            params=(
                choice("variant", "yield", ("serial", "yield"), "serial list, or send() each item",
                       help_zh="串行生成整个列表，还是用 send() 逐项发送"),
                Param("n", "int", 5, 1, 1_000_000, "number of items", help_zh="数据的项数"),
            ),
            generators=True,
            compare=(
                ("yield_producer_consumer", {"variant": "serial"}),
                ("yield_producer_consumer", {"variant": "yield"}),
            ),
            untraced_rerun=True,
            tutorial_figure=("the tutorial, n = 10,000,000: serial 1.55 s, yield 2.03 s "
                             "(1.3x)"),
            tutorial_figure_zh="教程中 n = 10,000,000：串行 1.55 秒，yield 2.03 秒（1.3 倍）",
        ),
        Demo(
            id="yield_blocking",
            title="yield + blocking: time.sleep stops everything",
            title_zh="yield + 阻塞：time.sleep 让一切都停下",
            description=(
                "The producer still send()s each item to the consumer, but sleeps after each "
                "one. yield can switch only where the code says so: while time.sleep blocks "
                "the thread no task runs, and the timeline greys out every lane."
            ),
            description_zh=(
                "生产者仍然用 send() 把每一项发给消费者，但每发完一项就 sleep 一次。"
                "yield 只能在代码里写明的地方切换：time.sleep 阻塞整个线程期间，没有任何任务"
                "在运行，时间线上所有泳道都变成灰色。"
            ),
            file="yield_blocking.py",
            params=(
                Param("n", "int", 3, 1, 20, "number of items", help_zh="数据的项数"),
                Param("seconds", "float", 0.5, 0.0, 3.0, "how long each time.sleep blocks",
                      help_zh="每次 time.sleep 阻塞的时长（秒）"),
            ),
            generators=True,
        ),
        Demo(
            id="greenlet_eat_play",
            title="greenlet: explicit switch",
            title_zh="greenlet：用 switch() 显式切换",
            description=(
                "Two plain greenlets hand control to each other with switch(). The first "
                "switch('egon') passes the name, later switches pass nothing. Nothing ever "
                "switches back to eat after play finishes: it stays paused at its last line."
            ),
            description_zh=(
                "两个普通的 greenlet 用 switch() 互相交出控制权。第一次 switch('egon') 时传入"
                "名字，以后的 switch 都不需要再传参数。play 执行完后，再也没有谁切回 eat："
                "它一直暂停在自己的最后一行。"
            ),
            file="greenlet_eat_play.py",
        ),
        Demo(
            id="greenlet_switch_cost",
            title="greenlet: the cost of pure switching",
            title_zh="greenlet：单纯切换的开销",
            description=(
                "Two loops of pure computation, first one after the other, then switching "
                "greenlets at every iteration. Without any I/O to wait for, switching only "
                "adds cost: compare the two wall times, their ratio and the ns per switch."
            ),
            description_zh=(
                "两个纯计算的循环，先顺序执行，再改为每次迭代都切换一次 greenlet。"
                "没有需要等待的 IO 时，单纯的切换只会增加开销：对比两种方式的运行时间、"
                "二者的比值以及每次切换耗费的纳秒数。"
            ),
            file="greenlet_switch_cost.py",
            params=(
                choice("variant", "both", ("sequential", "switching", "both"),
                       "which loops to run", help_zh="运行哪种循环：顺序执行、切换，或两者都运行"),
                Param("n", "int", 1000, 1, 2_000_000, "iterations of each loop",
                      help_zh="每个循环的迭代次数"),
            ),
            compare=(
                ("greenlet_switch_cost", {"variant": "sequential"}),
                ("greenlet_switch_cost", {"variant": "switching"}),
            ),
            untraced_rerun=True,
            tutorial_figure=("the tutorial, n = 100,000,000: sequential 10.99 s, switching "
                             "52.76 s (4.8x)"),
            tutorial_figure_zh=("教程中 n = 100,000,000：顺序执行 10.99 秒，切换 52.76 秒"
                                "（4.8 倍）"),
        ),
        Demo(
            id="gevent_eat_play",
            title="gevent: spawn, join, joinall, value",
            title_zh="gevent：spawn、join、joinall 与 value",
            description=(
                "Two greenlets spawned with gevent.spawn: eat sleeps eat_seconds, play sleeps "
                "play_seconds. Each gevent.sleep switches to the Hub, which runs the other "
                "greenlet, so both start at once and the whole run takes about the longer "
                "sleep, not the sum (with the default parameters about 2 s, not 3 s). Each "
                "function's return value is read back through .value."
            ),
            description_zh=(
                "用 gevent.spawn 创建两个协程（greenlet）：eat 用 gevent.sleep 等待 "
                "eat_seconds 秒，play 等待 play_seconds 秒。每次 gevent.sleep 都会切换到 Hub，"
                "由 Hub 去运行另一个 greenlet，所以两者同时开始，总耗时约等于较长的那次 sleep，"
                "而不是两者之和"
                "（默认参数下约 2 秒，而不是 3 秒）。每个函数的返回值通过 .value 取得。"
            ),
            file="gevent_eat_play.py",
            params=(_EAT, _PLAY,
                    Param("joinall", "int", 0, 0, 1, "1: gevent.joinall([g1, g2]) instead of "
                          "g1.join(); g2.join()",
                          help_zh="1：用 gevent.joinall([g1, g2]) 代替 g1.join(); g2.join()")),
        ),
        Demo(
            id="gevent_unpatched_sleep",
            title="gevent without monkey patching: time.sleep blocks",
            title_zh="gevent 不打猴子补丁：time.sleep 会阻塞",
            description=(
                "The same eat/play greenlets, but sleeping with time.sleep and no monkey "
                "patch. gevent cannot see that call: the whole thread blocks, the Hub never "
                "runs in between, and the total is the sum of the two sleeps (3 s with the "
                "default parameters). Compare with monkey.patch_all()."
            ),
            description_zh=(
                "同样的 eat/play 两个 greenlet，但改用 time.sleep，而且没有打猴子补丁。"
                "gevent 识别不了这个调用：整个线程被阻塞，期间 Hub 一次也运行不了，总耗时是"
                "两次 sleep 之和（默认参数下为 3 秒）。可与 monkey.patch_all() 的版本对比。"
            ),
            file="gevent_unpatched_sleep.py",
            params=(_EAT, _PLAY),
            compare=(("gevent_unpatched_sleep", {}), ("gevent_monkey_patch", {})),
        ),
        Demo(
            id="gevent_monkey_patch",
            title="gevent with monkey.patch_all(): time.sleep switches",
            title_zh="gevent 打上猴子补丁 monkey.patch_all()：time.sleep 会切换",
            description=(
                "monkey.patch_all() first, then the same code: time.sleep is now gevent's "
                "sleep, which parks the greenlet and switches to the Hub. Both sleeps "
                "overlap and the total is the longer one (2 s with the default parameters). "
                "Compare with the unpatched run."
            ),
            description_zh=(
                "先执行 monkey.patch_all()，再运行同样的代码：time.sleep 现在就是 gevent 的 "
                "sleep，它会把当前 greenlet 挂起并切换到 Hub。两次 sleep 的时间相互重叠，总耗时"
                "是较长的那一次（默认参数下为 2 秒）。可与不打补丁的运行对比。"
            ),
            file="gevent_monkey_patch.py",
            params=(_EAT, _PLAY),
            compare=(("gevent_unpatched_sleep", {}), ("gevent_monkey_patch", {})),
        ),
        Demo(
            id="gevent_dummythread",
            title="gevent: greenlets as DummyThreads",
            title_zh="gevent：greenlet 是假线程（DummyThread）",
            description=(
                "After monkey.patch_all(), threading.current_thread() inside a greenlet "
                "returns a dummy Thread object (Dummy-1, Dummy-2; the tutorial's older Python "
                "called them DummyThread-n). They are greenlets, not OS threads: the name "
                "appears in each lane's label once the greenlet asks for it."
            ),
            description_zh=(
                "执行 monkey.patch_all() 之后，在 greenlet 里调用 threading.current_thread() "
                "会返回一个假的 Thread 对象（Dummy-1、Dummy-2；教程所用的旧版 Python 把它们叫作 "
                "DummyThread-n）。它们是 greenlet，不是操作系统线程：greenlet 一查询这个名字，"
                "名字就会显示在它那条泳道的标签上。"
            ),
            file="gevent_dummythread.py",
            params=(_EAT, _PLAY),
        ),
        Demo(
            id="gevent_socket_server",
            title="gevent: a socket server for many clients",
            title_zh="gevent：单线程下的 socket 并发，服务多个客户端",
            description=(
                "A gevent echo server on a free loopback port and C clients, each sending M "
                "messages. accept() and every recv() park their greenlet and switch to the "
                "Hub, which wakes whichever connection has data: one thread serves them all. "
                "In threads mode the clients are real OS threads, as in the tutorial."
            ),
            description_zh=(
                "一个 gevent 回显（echo）服务端监听本机回环地址上的一个空闲端口，C 个客户端"
                "（clients）各发送 M 条消息（messages）。accept() 和每次 recv() 都会挂起所在的 "
                "greenlet 并切换到 Hub，由 Hub 唤醒有数据到达的那个连接：一个线程就服务了所有"
                "客户端。threads 模式下，客户端是真正的操作系统线程，和教程中一样。"
            ),
            file="gevent_socket_server.py",
            params=(
                Param("clients", "int", 10, 1, 500, "number of concurrent clients",
                      help_zh="并发客户端的个数"),
                Param("messages", "int", 3, 1, 100, "messages each client sends",
                      help_zh="每个客户端发送的消息条数"),
                choice("mode", "greenlets", ("greenlets", "threads"),
                       "clients as greenlets, or as OS threads",
                       help_zh="客户端用 greenlet，还是用操作系统线程"),
            ),
        ),
        Demo(
            id="gevent_patch_order",
            title="Does patch order matter?",
            title_zh="打补丁的顺序重要吗？",
            description=(
                "The tutorial says monkey.patch_all() must come before `from socket import *`; "
                "a reader answered that it need not. Measured here: both are right. "
                "`from socket import *` before patching copies the blocking socket class, so "
                "accept() and then each client block the whole thread until their 1 s "
                "timeouts (grey spans: about 1 + clients seconds, 3 s with the default "
                "parameters); `import socket` before patching is fine, since socket.socket is "
                "looked up after the patch (switches to the Hub, a few ms)."
            ),
            description_zh=(
                "教程说 monkey.patch_all() 一定要放在 `from socket import *` 之前；有读者评论说"
                "不一定。这里实测一下：两种说法都对。在打补丁之前执行 `from socket import *`，"
                "拷贝过来的是会阻塞的原始 socket 类，于是 accept() 和随后的每个客户端都会阻塞整个"
                "线程，直到各自 1 秒的超时（灰色区段：总共约 1 + clients 秒，默认参数下约 3 秒）；"
                "在打补丁之前执行 `import socket` 则没有问题，因为 socket.socket 是在打补丁之后"
                "才去查找的（切换到 Hub，只需几毫秒）。"
            ),
            file="patch_order_patch_first.py",
            params=(
                choice("variant", "patch_first",
                       ("patch_first", "star_import_first", "module_import_first"),
                       "where monkey.patch_all() stands relative to the socket import",
                       help_zh="monkey.patch_all() 放在导入 socket 之前还是之后"),
                Param("clients", "int", 2, 1, 10, "echo clients", help_zh="回显客户端的个数"),
            ),
            variant_files={
                "patch_first": "patch_order_patch_first.py",
                "star_import_first": "patch_order_star_first.py",
                "module_import_first": "patch_order_module_first.py",
            },
            extra_files=("patch_order_echo.py",),
            untraced_on_request=True,
            compare=(
                ("gevent_patch_order", {"variant": "star_import_first"}),
                ("gevent_patch_order", {"variant": "patch_first"}),
            ),
        ),
        Demo(
            id="gevent_sync_async",
            title="gevent: synchronous vs. asynchronous",
            title_zh="gevent：同步与异步",
            description=(
                "A batch of tasks that each sleep for a while (parameters tasks and seconds). "
                "Synchronous: one after another, so the total is about tasks × seconds. "
                "Asynchronous: all spawned then joined, so their sleeps overlap and the whole "
                "thing takes about one sleep. "
                "With the default parameters (10 tasks of 0.5 s): about 5 s vs. about 0.5 s."
            ),
            description_zh=(
                "tasks 个任务，每个都 sleep seconds 秒。同步：一个接一个地执行，总耗时约为 "
                "tasks × seconds。异步：先全部 spawn，再 joinall 等待，各任务的 sleep 相互重叠，"
                "总耗时约等于一次 sleep。默认参数下（10 个任务，每个 0.5 秒）：同步约 5 秒，"
                "异步约 0.5 秒。"
            ),
            file="gevent_sync_async.py",
            params=(
                choice("variant", "async", ("sync", "async"), "one by one, or spawned",
                       help_zh="逐个执行（同步），还是用 spawn 创建协程（异步）"),
                Param("tasks", "int", 10, 1, 100, "number of tasks", help_zh="任务的个数"),
                Param("seconds", "float", 0.5, 0.0, 2.0, "how long each task sleeps",
                      help_zh="每个任务 sleep 的时长（秒）"),
            ),
            untraced_on_request=True,
            compare=(
                ("gevent_sync_async", {"variant": "sync"}),
                ("gevent_sync_async", {"variant": "async"}),
            ),
        ),
        Demo(
            id="threads_vs_greenlets",
            title="Why coroutines: 500 threads vs. 500 greenlets",
            title_zh="为什么要用协程：500 个线程 vs. 500 个协程",
            description=(
                "The tutorial's opening motivation, measured: creating threads costs time "
                "and memory. N OS threads and then N greenlets are started, each waiting "
                "for the same signal; the demo prints how long starting them took and how "
                "much memory they added. The greenlets' lanes each park on the event and "
                "the Hub wakes them all; the threads are the kernel's, not drawn. Figures "
                "are taken under the tracer, which adds to the greenlets' side."
            ),
            description_zh=(
                "教程开头的动机，实测一下：创建线程要花时间、占内存。先启动 N 个操作系统"
                "线程，再启动 N 个协程（greenlet），它们都等待同一个信号；示例打印启动它们"
                "各用了多少时间、多占了多少内存。每个协程的泳道都停在等待事件处，由 Hub "
                "一起唤醒；线程由内核调度，不画在时间线上。数字是在追踪器下测得的，追踪会"
                "让协程一侧略慢一些。"
            ),
            file="threads_vs_greenlets.py",
            params=(
                Param("n", "int", 500, 1, 2000, "how many threads, then greenlets",
                      help_zh="线程与协程各启动多少个"),
            ),
        ),
        Demo(
            id="asyncio_eat_play",
            title="async/await: eat and play as asyncio tasks",
            title_zh="async/await：用 asyncio 任务写 eat 与 play",
            description=(
                "The gevent eat/play example written with async/await. create_task plays "
                "gevent.spawn, gather plays joinall, t.result() plays .value. Each await "
                "asyncio.sleep suspends its task and hands control to the event loop, which "
                "runs the other task and wakes each one when its timer is due: the event "
                "loop lane does the Hub's job. The whole run takes about the longer sleep "
                "(2 s with the default parameters), not the sum."
            ),
            description_zh=(
                "用 async/await 重写 gevent 的 eat/play 例子：create_task 相当于 gevent.spawn，"
                "gather 相当于 joinall，t.result() 相当于 .value。每次 await asyncio.sleep 都会"
                "挂起当前任务，把控制权交给事件循环（event loop），由它去运行另一个任务，并在"
                "定时器到期时唤醒各个任务：事件循环这条泳道做的正是 Hub 的工作。总耗时约等于"
                "较长的那次 sleep（默认参数下约 2 秒），而不是两者之和。"
            ),
            file="asyncio_eat_play.py",
            params=(_EAT, _PLAY),
        ),
        Demo(
            id="asyncio_blocking",
            title="async/await: time.sleep blocks the event loop",
            title_zh="async/await：time.sleep 会阻塞事件循环",
            description=(
                "The same two coroutines, sleeping with time.sleep or with await "
                "asyncio.sleep. time.sleep never gives control back to the event loop: the "
                "thread is stuck in it, every other lane greys out, and the run takes the "
                "sum of the sleeps (3 s). await asyncio.sleep suspends only its task: the "
                "sleeps overlap and the run takes the longer one (2 s). Look for the grey "
                "spans and where each task paused."
            ),
            description_zh=(
                "同样的两个协程，分别用 time.sleep 和 await asyncio.sleep 来等待。time.sleep "
                "不会把控制权交还给事件循环：整个线程卡在这个调用里，其他泳道全部变灰，总耗时"
                "是两次 sleep 之和（3 秒）。await asyncio.sleep 只挂起当前任务：两次 sleep 相互"
                "重叠，总耗时是较长的那次（2 秒）。注意看灰色区段，以及每个任务停在哪一行。"
            ),
            file="asyncio_blocking.py",
            params=(
                choice("variant", "time_sleep", ("time_sleep", "asyncio_sleep"),
                       "sleep with time.sleep (blocks) or await asyncio.sleep",
                       help_zh="用 time.sleep（阻塞）还是 await asyncio.sleep 来等待"),
                _EAT, _PLAY,
            ),
            compare=(
                ("asyncio_blocking", {"variant": "time_sleep"}),
                ("asyncio_blocking", {"variant": "asyncio_sleep"}),
            ),
        ),
        Demo(
            id="asyncio_sync_async",
            title="async/await: synchronous vs. asynchronous",
            title_zh="async/await：同步与异步",
            description=(
                "Ten coroutines that each await asyncio.sleep. Synchronous: awaited one "
                "after another inside one task, so the total is about tasks × seconds and "
                "there is a single lane. Asynchronous: gather wraps each in a task of its "
                "own, their sleeps overlap and the whole thing takes about one sleep. With "
                "the default parameters (10 tasks of 0.5 s): about 5 s vs. about 0.5 s."
            ),
            description_zh=(
                "tasks 个协程，每个都 await asyncio.sleep。同步：在同一个任务里一个接一个地 "
                "await，总耗时约为 tasks × seconds，时间线上只有一条泳道。异步：gather 把每个"
                "协程包装成独立的任务，各自的 sleep 相互重叠，总耗时约等于一次 sleep。默认参数"
                "下（10 个任务，每个 0.5 秒）：同步约 5 秒，异步约 0.5 秒。"
            ),
            file="asyncio_sync_async.py",
            params=(
                choice("variant", "async", ("sync", "async"), "awaited one by one, or gathered",
                       help_zh="逐个 await（同步），还是用 gather 并发（异步）"),
                Param("tasks", "int", 10, 1, 100, "number of tasks", help_zh="任务的个数"),
                Param("seconds", "float", 0.5, 0.0, 2.0, "how long each task sleeps",
                      help_zh="每个任务 sleep 的时长（秒）"),
            ),
            untraced_on_request=True,
            compare=(
                ("asyncio_sync_async", {"variant": "sync"}),
                ("asyncio_sync_async", {"variant": "async"}),
            ),
        ),
        Demo(
            id="asyncio_echo_server",
            title="async/await: an echo server for many clients",
            title_zh="async/await：单线程的回显服务端，服务多个客户端",
            description=(
                "The gevent socket server written with asyncio streams: start_server on a "
                "free loopback port and C client tasks, each sending M messages. Every "
                "await reader.read() suspends its handler until the event loop sees data on "
                "that connection: one thread serves them all, as with gevent. Try 500 "
                "clients, as the tutorial did with threads."
            ),
            description_zh=(
                "用 asyncio 的 streams 重写 gevent 的 socket 服务端：start_server 监听本机回环"
                "地址上的一个空闲端口，C 个客户端任务各发送 M 条消息。每次 await reader.read() "
                "都会挂起对应的处理任务，直到事件循环发现该连接上有数据到达：和 gevent 一样，"
                "一个线程就服务了所有客户端。试试 500 个客户端，和教程里用线程时一样多。"
            ),
            file="asyncio_echo_server.py",
            params=(
                Param("clients", "int", 10, 1, 500, "number of concurrent clients",
                      help_zh="并发客户端的个数"),
                Param("messages", "int", 3, 1, 100, "messages each client sends",
                      help_zh="每个客户端发送的消息条数"),
            ),
        ),
        Demo(
            id="asyncio_queue",
            title="async/await: producer and consumers on a Queue",
            title_zh="async/await：用 Queue 连接生产者与消费者",
            description=(
                "The yield producer/consumer grown up: a producer task puts items on an "
                "asyncio.Queue of bounded size, consumer tasks get them, all inside a "
                "TaskGroup that ends when every task has. put() waits while the queue is "
                "full and get() while it is empty: look for the waits on the arrows, and "
                "for how the producer runs ahead only as far as the queue lets it."
            ),
            description_zh=(
                "yield 版生产者/消费者的进阶：一个生产者任务把数据放进有容量上限的 "
                "asyncio.Queue，几个消费者任务从中取出，全部放在一个 TaskGroup 里，所有任务"
                "结束时它才结束。队列满时 put() 会等待，队列空时 get() 会等待：注意看箭头上的"
                "等待原因，以及生产者最多只能领先队列容量那么多。"
            ),
            file="asyncio_queue.py",
            params=(
                Param("n", "int", 6, 1, 1000, "items produced", help_zh="生产的数据项数"),
                Param("size", "int", 2, 1, 100, "the queue's maxsize", help_zh="队列的容量上限"),
                Param("consumers", "int", 2, 1, 20, "consumer tasks", help_zh="消费者任务的个数"),
                Param("work", "float", 0.1, 0.0, 2.0, "seconds a consumer spends on an item",
                      help_zh="消费者处理每一项所用的时间（秒）"),
            ),
        ),
        Demo(
            id="same_program",
            title="The same program under gevent and under asyncio",
            title_zh="同一个程序：gevent 版与 asyncio 版",
            description=(
                "Three downloads that each wait (0.3, 0.6 and 0.9 s), started together and "
                "joined, written once with gevent and once with asyncio. Run both: the two "
                "timelines have the same shape. gevent's Hub and asyncio's event loop do the "
                "same job (run what is ready, keep the timers, wake a coroutine when its "
                "wait is over); gevent.spawn/joinall/.value are create_task/gather/result()."
            ),
            description_zh=(
                "三个各需等待一段时间（0.3、0.6、0.9 秒）的下载任务，同时开始、一起等待结束，"
                "分别用 gevent 和 asyncio 各写一遍。点“两个都运行”：两条时间线的形状一模一样。"
                "gevent 的 Hub 和 asyncio 的事件循环做的是同一件事（运行就绪的协程、管理定时器、"
                "在等待结束时唤醒协程）；gevent.spawn/joinall/.value 对应 "
                "create_task/gather/result()。"
            ),
            file="same_program_gevent.py",
            params=(
                choice("variant", "gevent", ("gevent", "asyncio"), "which library runs it",
                       help_zh="用哪个库来运行"),
                Param("seconds", "float", 0.3, 0.0, 2.0,
                      "the first download's wait (the others wait 2x and 3x)",
                      help_zh="第一个下载的等待时间（秒），另两个分别是它的 2 倍和 3 倍"),
            ),
            variant_files={"gevent": "same_program_gevent.py",
                           "asyncio": "same_program_asyncio.py"},
            compare=(
                ("same_program", {"variant": "gevent"}),
                ("same_program", {"variant": "asyncio"}),
            ),
        ),
    )
}


def load_extra(registry_file: str | Path) -> list[str]:
    """Register the demos listed in another registry file; return their ids.

    The file is Python that defines ``DEMOS``, a list of :class:`Demo` whose files sit
    beside it (``coroscope serve --extra-demos FILE``: your own teaching material).
    """
    import runpy
    from dataclasses import replace

    path = Path(registry_file).resolve()
    namespace = runpy.run_path(str(path), run_name="coroscope_extra_demos")
    added = []
    for demo in namespace.get("DEMOS", []):
        if not isinstance(demo, Demo):
            raise TypeError(f"{path}: DEMOS must hold demos.Demo objects, got {demo!r}")
        if demo.id in DEMOS:
            raise ValueError(f"{path}: demo id {demo.id!r} is already registered")
        DEMOS[demo.id] = replace(demo, folder=path.parent)
        added.append(demo.id)
    return added
