"""gevent: under monkey.patch_all(), each greenlet is a DummyThread to threading."""

from gevent import monkey; monkey.patch_all()  # noqa: E702, I001

import threading
import time

import gevent


def eat():
    print(threading.current_thread().getName())
    print('eat food 1')
    time.sleep(eat_seconds)
    print('eat food 2')


def play():
    print(threading.current_thread().getName())
    print('play 1')
    time.sleep(play_seconds)
    print('play 2')


eat_seconds, play_seconds = 2.0, 1.0


def main(eat_seconds=2.0, play_seconds=1.0):
    globals().update(eat_seconds=eat_seconds, play_seconds=play_seconds)
    g1 = gevent.spawn(eat)
    g2 = gevent.spawn(play)
    gevent.joinall([g1, g2])
    print('主')


if __name__ == '__main__':
    main()
