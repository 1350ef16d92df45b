"""asyncio: time.sleep in a coroutine blocks the event loop; await asyncio.sleep does not."""

import asyncio
import time


async def eat():
    print('eat food 1')
    if blocking:
        time.sleep(eat_seconds)  # the loop cannot run anything else until this returns
    else:
        await asyncio.sleep(eat_seconds)  # eat waits; the loop runs play meanwhile
    print('eat food 2')


async def play():
    print('play 1')
    if blocking:
        time.sleep(play_seconds)
    else:
        await asyncio.sleep(play_seconds)
    print('play 2')


async def amain():
    await asyncio.gather(eat(), play())
    print('主')


blocking, eat_seconds, play_seconds = True, 2.0, 1.0


def main(variant='time_sleep', eat_seconds=2.0, play_seconds=1.0):
    globals().update(blocking=variant == 'time_sleep', eat_seconds=eat_seconds,
                     play_seconds=play_seconds)
    start = time.time()
    asyncio.run(amain())
    print('total %.2f s' % (time.time() - start))


if __name__ == '__main__':
    main()
