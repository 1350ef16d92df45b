"""asyncio: ten tasks awaited one after another (synchronous) vs. gathered (asynchronous)."""

import asyncio
import time


async def task(pid):
    """
    Some non-deterministic task
    """
    await asyncio.sleep(seconds)
    print('Task %s done' % pid)


async def synchronous():  # 同步
    for i in range(tasks):
        await task(i)  # awaiting a coroutine directly: no new task, one after another


async def asynchronous():  # 异步
    await asyncio.gather(*[task(i) for i in range(tasks)])  # one task each, all at once
    print('DONE')


tasks, seconds = 10, 0.5


def main(variant='async', tasks=10, seconds=0.5):
    globals().update(tasks=tasks, seconds=seconds)
    start = time.time()
    if variant == 'sync':
        print('Synchronous:')
        asyncio.run(synchronous())
    else:
        print('Asynchronous:')
        asyncio.run(asynchronous())
    print('total %.2f s' % (time.time() - start))


if __name__ == '__main__':
    main()
