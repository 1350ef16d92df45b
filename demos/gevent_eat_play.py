"""gevent: spawn two greenlets, let gevent.sleep switch between them, join, read .value."""

import gevent


def eat(name, seconds):
    print('%s eat 1' % name)
    gevent.sleep(seconds)
    print('%s eat 2' % name)
    return 'eat finished'


def play(name, seconds):
    print('%s play 1' % name)
    gevent.sleep(seconds)
    print('%s play 2' % name)
    return 'play finished'


def main(eat_seconds=2.0, play_seconds=1.0, joinall=0):
    g1 = gevent.spawn(eat, 'egon', eat_seconds)
    g2 = gevent.spawn(play, name='egon', seconds=play_seconds)
    if joinall:
        gevent.joinall([g1, g2])
    else:
        g1.join()
        g2.join()
    print('主')
    print('g1.value = %r, g2.value = %r' % (g1.value, g2.value))


if __name__ == '__main__':
    main()
