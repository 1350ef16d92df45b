"""The same program under asyncio: three downloads that each wait, run at once."""

import asyncio
import time


async def download(name, seconds):
    print('%s: start' % name)
    await asyncio.sleep(seconds)  # suspends this task; the event loop's timer wakes it
    print('%s: done after %.2f s' % (name, seconds))
    return len(name)


async def amain(seconds):
    jobs = [asyncio.create_task(download(name, round(seconds * (i + 1), 3)))
            for i, name in enumerate(('a.html', 'b.css', 'c.js'))]
    await asyncio.gather(*jobs)  # main waits; the event loop runs the others
    print('sizes', [job.result() for job in jobs])


def main(seconds=0.3):
    start = time.time()
    asyncio.run(amain(seconds))
    print('total %.2f s' % (time.time() - start))


if __name__ == '__main__':
    main()
