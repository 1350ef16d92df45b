"""asyncio: one echo server, many clients, a single thread (streams)."""

import asyncio

replies = []


async def talk(reader, writer):
    addr = writer.get_extra_info('peername')
    try:
        while True:
            res = await reader.read(1024)  # suspends this handler until the client sends
            if not res:
                break
            print('client %s:%s msg: %s' % (addr[0], addr[1], res))
            writer.write(res.upper())
            await writer.drain()
    except Exception as e:
        print(e)
    finally:
        writer.close()


async def client(server_ip, port, name, messages):
    reader, writer = await asyncio.open_connection(server_ip, port)
    for count in range(messages):
        msg = '%s say hello %s' % (name, count)
        writer.write(msg.encode('utf-8'))
        await writer.drain()
        reply = (await reader.read(1024)).decode('utf-8')
        print(reply)
        replies.append((msg, reply))
    writer.close()
    await writer.wait_closed()


async def amain(clients, messages):
    # start_server accepts in the event loop: each connection gets a task running talk.
    server = await asyncio.start_server(talk, '127.0.0.1', 0, backlog=128)
    port = server.sockets[0].getsockname()[1]
    print('server on 127.0.0.1:%d, %d clients x %d messages' % (port, clients, messages))
    async with server:
        await asyncio.gather(*[client('127.0.0.1', port, 'client-%d' % i, messages)
                               for i in range(clients)])
    ok = sum(1 for msg, reply in replies if reply == msg.upper())
    print('%d replies, %d of them the message in capitals' % (len(replies), ok))


def main(clients=10, messages=3):
    asyncio.run(amain(clients, messages))


if __name__ == '__main__':
    main()
