"""gevent: spawn two greenlets, let gevent.sleep switch between them, join both."""

import gevent


def eat(name, seconds):
    print('%s eat 1' % name)
    gevent.sleep(seconds)
    print('%s eat 2' % name)


def play(name, seconds):
    print('%s play 1' % name)
    gevent.sleep(seconds)
    print('%s play 2' % name)


def main(eat_seconds=2.0, play_seconds=1.0):
    g1 = gevent.spawn(eat, 'egon', eat_seconds)
    g2 = gevent.spawn(play, name='egon', seconds=play_seconds)
    g1.join()
    g2.join()
    # or: gevent.joinall([g1, g2])
    print('主')


if __name__ == '__main__':
    main()
