"""yield + blocking: time.sleep in the producer blocks the thread; nothing else can run."""

import time


def consumer():
    '''task 1: receive the data and process it'''
    while True:
        x = yield
        print('consumer got %s' % x)


def producer(n, seconds):
    '''task 2: produce the data; the sleep stands for blocking I/O'''
    g = consumer()
    next(g)
    for i in range(n):
        g.send(i)
        time.sleep(seconds)


def main(n=3, seconds=0.5):
    start = time.time()
    producer(n, seconds)  # yield switches, but a blocking call still stops everything
    stop = time.time()
    print('took %.3f s' % (stop - start))


if __name__ == '__main__':
    main()
