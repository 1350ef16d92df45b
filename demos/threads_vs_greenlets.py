"""Why coroutines: N OS threads against N greenlets, each waiting for the same signal."""

import resource
import threading
import time

import gevent
from gevent.event import Event as GeventEvent


def rss_kb():
    """This process's resident memory now, in KB (Linux: /proc/self/statm)."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def with_threads(n):
    go = threading.Event()
    before, start = rss_kb(), time.perf_counter()
    threads = [threading.Thread(target=go.wait) for _ in range(n)]
    for t in threads:
        t.start()  # a real OS thread: its own stack, scheduled by the kernel
    started, grown = time.perf_counter() - start, rss_kb() - before
    go.set()
    for t in threads:
        t.join()
    return started, grown


def with_greenlets(n):
    go = GeventEvent()
    before, start = rss_kb(), time.perf_counter()
    greenlets = [gevent.spawn(go.wait) for _ in range(n)]
    gevent.sleep(0)  # let every greenlet start and park on the event
    started, grown = time.perf_counter() - start, rss_kb() - before
    go.set()
    gevent.joinall(greenlets)
    return started, grown


def main(n=500):
    t_threads, kb_threads = with_threads(n)
    print('%d threads:   started in %.1f ms, memory +%d KB (%.1f KB each)'
          % (n, t_threads * 1e3, kb_threads, kb_threads / n))
    t_green, kb_green = with_greenlets(n)
    print('%d greenlets: started in %.1f ms, memory +%d KB (%.1f KB each)'
          % (n, t_green * 1e3, kb_green, kb_green / n))
    print('threads took %.1fx the time to start' % (t_threads / t_green if t_green else 0))


if __name__ == '__main__':
    main()
