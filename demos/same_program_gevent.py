"""The same program under gevent: three downloads that each wait, run at once."""

import time

import gevent


def download(name, seconds):
    print('%s: start' % name)
    gevent.sleep(seconds)  # parks this greenlet; the Hub's timer wakes it
    print('%s: done after %.2f s' % (name, seconds))
    return len(name)


def main(seconds=0.3):
    start = time.time()
    jobs = [gevent.spawn(download, name, round(seconds * (i + 1), 3))
            for i, name in enumerate(('a.html', 'b.css', 'c.js'))]
    gevent.joinall(jobs)  # main waits; the Hub runs the others
    print('sizes', [job.value for job in jobs])
    print('total %.2f s' % (time.time() - start))


if __name__ == '__main__':
    main()
