"""gevent: one socket server, many clients, a single thread."""

from gevent import monkey; monkey.patch_all()  # noqa: E702, I001 (before `from socket import *`)

import threading
from socket import *  # noqa: F403

import gevent

replies = []
handlers = []


def server(s):
    while True:
        conn, addr = s.accept()  # parks the accept loop until a client connects
        handlers.append(gevent.spawn(talk, conn, addr))


def talk(conn, addr):
    try:
        while True:
            res = conn.recv(1024)  # parks this handler until the client sends
            if not res:
                break
            print('client %s:%s msg: %s' % (addr[0], addr[1], res))
            conn.send(res.upper())
    except Exception as e:
        print(e)
    finally:
        conn.close()


def client(server_ip, port, name, messages):
    c = socket(AF_INET, SOCK_STREAM)  # noqa: F405
    c.connect((server_ip, port))
    for count in range(messages):
        msg = '%s say hello %s' % (name, count)
        c.send(msg.encode('utf-8'))
        reply = c.recv(1024).decode('utf-8')
        print(reply)
        replies.append((msg, reply))
    c.close()


def run_clients(port, clients, messages, mode):
    if mode == 'threads':
        # Real OS threads, as in the tutorial's client script (which did not patch).
        start = monkey.get_original('_thread', 'start_new_thread')
        allocate_lock = monkey.get_original('_thread', 'allocate_lock')
        done = []
        for i in range(clients):
            lock = allocate_lock()
            lock.acquire()
            done.append(lock)

            def one(i=i, lock=lock):
                try:
                    client('127.0.0.1', port, 'thread-%d' % i, messages)
                finally:
                    lock.release()

            start(one, ())
        for lock in done:
            while not lock.acquire(False):
                gevent.sleep(0.005)  # keep the Hub serving while the threads talk
    else:
        gevent.joinall([gevent.spawn(client, '127.0.0.1', port, 'client-%d' % i, messages)
                        for i in range(clients)])


def main(clients=10, messages=3, mode='greenlets'):
    s = socket(AF_INET, SOCK_STREAM)  # noqa: F405
    s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)  # noqa: F405
    s.bind(('127.0.0.1', 0))  # a free loopback port
    s.listen(128)
    port = s.getsockname()[1]
    print('server on 127.0.0.1:%d, %d %s clients x %d messages'
          % (port, clients, mode, messages))
    accept_loop = gevent.spawn(server, s)
    run_clients(port, clients, messages, mode)
    accept_loop.kill()
    s.close()
    gevent.joinall(handlers, timeout=5)  # each handler ends when its client hangs up
    print('handlers still running: %d' % sum(1 for h in handlers if not h.dead))
    ok = all(reply == msg.upper() for msg, reply in replies)
    print('%d replies, all upper-cased: %s' % (len(replies), ok))
    print('threads alive: %d' % threading.active_count())


if __name__ == '__main__':
    main()
