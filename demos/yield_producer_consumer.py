"""yield: serial producer/consumer vs. a producer that send()s to a consumer generator."""

import time


def serial(n):
    def consumer(res):
        '''task 1: receive the data and process it'''
        pass

    def producer():
        '''task 2: produce the data'''
        res = []
        for i in range(n):
            res.append(i)
        return res

    res = producer()
    consumer(res)  # writing consumer(producer()) would be slower


def consumer():
    '''task 1: receive the data and process it'''
    while True:
        x = yield
        if verbose:
            print('consumer got %s' % x)


def producer(n):
    '''task 2: produce the data, handing each item over with send()'''
    g = consumer()
    next(g)
    for i in range(n):
        if verbose:
            print('producer sends %s' % i)
        g.send(i)


verbose = True


def main(variant='yield', n=5):
    global verbose
    verbose = n <= 50  # printing every item only makes sense for a few
    start = time.time()
    if variant == 'serial':
        serial(n)
    else:
        producer(n)  # two tasks switching back and forth: concurrency with yield
    stop = time.time()
    print('%s: %d items in %.6f s' % (variant, n, stop - start))


if __name__ == '__main__':
    main()
