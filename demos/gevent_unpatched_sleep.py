"""gevent without monkey patching: time.sleep blocks the whole thread."""

import time

import gevent


def eat():
    print('eat food 1')
    time.sleep(eat_seconds)  # gevent cannot see this call: nothing else runs
    print('eat food 2')


def play():
    print('play 1')
    time.sleep(play_seconds)
    print('play 2')


eat_seconds, play_seconds = 2.0, 1.0


def main(eat_seconds=2.0, play_seconds=1.0):
    globals().update(eat_seconds=eat_seconds, play_seconds=play_seconds)
    start = time.time()
    g1 = gevent.spawn(eat)
    g2 = gevent.spawn(play)
    gevent.joinall([g1, g2])
    print('主')
    print('total %.2f s' % (time.time() - start))


if __name__ == '__main__':
    main()
