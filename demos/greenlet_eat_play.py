"""greenlet: two greenlets that switch to each other explicitly."""

from greenlet import greenlet


def eat(name):
    print('%s eat 1' % name)
    g2.switch('egon')
    print('%s eat 2' % name)
    g2.switch()


def play(name):
    print('%s play 1' % name)
    g1.switch()
    print('%s play 2' % name)


g1 = g2 = None


def main():
    global g1, g2
    g1 = greenlet(eat)
    g2 = greenlet(play)
    g1.switch('egon')  # only the first switch needs the argument


if __name__ == '__main__':
    main()
