"""greenlet: pure computation, sequential vs. switching at every iteration."""

import time

from greenlet import greenlet


def sequential(n):
    def f1():
        res = 1
        for i in range(n):
            res += i

    def f2():
        res = 1
        for i in range(n):
            res *= i

    start = time.time()
    f1()
    f2()
    stop = time.time()
    return stop - start


def switching(n):
    def f1():
        res = 1
        for i in range(n):
            res += i
            g2.switch()

    def f2():
        res = 1
        for i in range(n):
            res *= i
            g1.switch()

    start = time.time()
    g1 = greenlet(f1)
    g2 = greenlet(f2)
    g1.switch()
    stop = time.time()
    return stop - start


def main(variant='both', n=1000):
    if variant in ('sequential', 'both'):
        t_seq = sequential(n)
        print('sequential run time is %.6f s' % t_seq)
    if variant in ('switching', 'both'):
        t_sw = switching(n)
        print('switching run time is %.6f s (%.0f ns per switch)' % (t_sw, t_sw / (2 * n) * 1e9))
    if variant == 'both':
        print('switching / sequential = %.1fx' % (t_sw / t_seq if t_seq else float('inf')))


if __name__ == '__main__':
    main()
