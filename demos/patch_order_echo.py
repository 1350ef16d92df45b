"""The echo server and clients shared by the three patch-order variants.

It is handed the socket names the variant imported, so the only difference between
variants is *when* those names were taken: before or after monkey.patch_all().
"""

import time

import gevent


def echo_server(listener, clients, log):
    for _ in range(clients):
        try:
            conn, _addr = listener.accept()
        except OSError as e:
            log('accept gave up: %s' % e)
            return
        gevent.spawn(echo, conn, log)


def echo(conn, log):
    try:
        data = conn.recv(1024)
        conn.send(data.upper())
    except OSError as e:
        log('handler gave up: %s' % e)
    finally:
        conn.close()


def client(make_socket, port, i, log):
    c = make_socket()
    c.settimeout(1.0)
    try:
        c.connect(('127.0.0.1', port))
        c.send(b'hello %d' % i)
        log('client %d got %r' % (i, c.recv(1024)))
    except OSError as e:
        log('client %d gave up: %s' % (i, e))
    finally:
        c.close()


def run(make_socket, clients=2):
    """Serve ``clients`` echo clients, all greenlets of this one thread."""
    start = time.time()
    listener = make_socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(16)
    # A blocking accept would wait forever: the clients cannot run while it blocks.
    listener.settimeout(1.0)
    port = listener.getsockname()[1]
    gevent.joinall([gevent.spawn(echo_server, listener, clients, print)]
                   + [gevent.spawn(client, make_socket, port, i, print)
                      for i in range(clients)])
    listener.close()
    kind = type(listener)
    print('socket class: %s.%s' % (kind.__module__, kind.__qualname__))
    print('total %.2f s' % (time.time() - start))
