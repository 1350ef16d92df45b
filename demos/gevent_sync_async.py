"""gevent: ten tasks one after another (synchronous) vs. spawned and joined (asynchronous)."""

from gevent import monkey; monkey.patch_all()  # noqa: E702, I001

import time

from gevent import joinall, spawn


def task(pid):
    """
    Some non-deterministic task
    """
    time.sleep(seconds)
    print('Task %s done' % pid)


def synchronous():  # 同步
    for i in range(tasks):
        task(i)


def asynchronous():  # 异步
    g_l = [spawn(task, i) for i in range(tasks)]
    joinall(g_l)
    print('DONE')


tasks, seconds = 10, 0.5


def main(variant='async', tasks=10, seconds=0.5):
    globals().update(tasks=tasks, seconds=seconds)
    start = time.time()
    if variant == 'sync':
        print('Synchronous:')
        synchronous()
    else:
        print('Asynchronous:')
        asynchronous()
    print('total %.2f s' % (time.time() - start))


if __name__ == '__main__':
    main()
