"""asyncio: two tasks, await asyncio.sleep switches between them, gather, read the results."""

import asyncio
import time


async def eat(name, seconds):
    print('%s eat 1' % name)
    await asyncio.sleep(seconds)  # suspends eat: the event loop runs whatever is ready
    print('%s eat 2' % name)
    return 'eat finished'


async def play(name, seconds):
    print('%s play 1' % name)
    await asyncio.sleep(seconds)
    print('%s play 2' % name)
    return 'play finished'


async def amain(eat_seconds, play_seconds):
    t1 = asyncio.create_task(eat('egon', eat_seconds))  # gevent.spawn
    t2 = asyncio.create_task(play(name='egon', seconds=play_seconds))
    await asyncio.gather(t1, t2)  # gevent.joinall
    print('主')
    print('t1.result() = %r, t2.result() = %r' % (t1.result(), t2.result()))  # g.value


def main(eat_seconds=2.0, play_seconds=1.0):
    start = time.time()
    asyncio.run(amain(eat_seconds, play_seconds))
    print('total %.2f s' % (time.time() - start))


if __name__ == '__main__':
    main()
