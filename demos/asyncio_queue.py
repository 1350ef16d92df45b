"""asyncio: producer and consumers on an asyncio.Queue, in a TaskGroup."""

import asyncio
import time


async def producer(queue, n):
    for i in range(n):
        await queue.put(i)  # waits while the queue is full: the consumers catch up
        print('produced %s' % i)
    for _ in range(consumers):
        await queue.put(None)  # one stop sign for each consumer


async def consumer(queue, name):
    while True:
        item = await queue.get()  # waits while the queue is empty
        if item is None:
            break
        await asyncio.sleep(work)  # the time it takes to use the item
        print('%s consumed %s' % (name, item))


consumers, work = 2, 0.1


async def amain(n, size):
    queue = asyncio.Queue(maxsize=size)
    async with asyncio.TaskGroup() as tg:  # leaves when every task in it has finished
        tg.create_task(producer(queue, n))
        for i in range(consumers):
            tg.create_task(consumer(queue, 'consumer-%d' % i))


def main(n=6, size=2, consumers=2, work=0.1):
    globals().update(consumers=consumers, work=work)
    start = time.time()
    asyncio.run(amain(n, size))
    print('total %.2f s' % (time.time() - start))


if __name__ == '__main__':
    main()
