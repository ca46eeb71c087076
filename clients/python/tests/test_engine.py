"""PieClient against a real engine (`pie serve` with stories260K): every flow of the protocol with
real inferlets, with auth on and off."""

import asyncio
import json
import socket
import urllib.request

import pytest

from conftest import mint_token
from pie_client import Event, PieClient, blake3_hex

GOLDEN_START = ", there was a little girl named Lily. She loved to play outside in the park."


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=120))


async def until_end(instance):
    events = []
    while True:
        kind, data = await instance.recv()
        events.append((kind, data))
        if kind.terminal:
            return events


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_flows_with_auth(engine, inferlet):
    async def main():
        async with PieClient(engine.uri) as client:
            assert await client.query("model_status", "") == (False, "Not authenticated")
            assert await client.authenticate(mint_token("pytest")) == (True, "pytest")

            # upload, program_exists, launch: helloworld echoes its arguments.
            hello = inferlet("helloworld")
            assert not await client.program_exists(blake3_hex(hello))
            program = await client.upload_program(hello)
            assert await client.program_exists(program)
            instance = await client.launch_instance(program, ["x", "y z"])
            events = await until_end(instance)
            assert events == [(Event.Message, f"Hello from inferlet {instance.instance_id}"),
                              (Event.Message, "x"), (Event.Message, "y z"),
                              (Event.Completed, "x y z")]

            # text generation on the model, streamed.
            completion = await client.upload_program(inferlet("text-completion"))
            instance = await client.launch_instance(
                completion, ["--prompt", "Once upon a time", "--max-tokens", "30"])
            events = await until_end(instance)
            assert events[-1][0] == Event.Completed
            assert events[-1][1].startswith(GOLDEN_START)
            assert "".join(d for k, d in events if k == Event.Message) == events[-1][1]

            # signals: three messages in, three replies out.
            messaging = await client.upload_program(inferlet("messaging"))
            instance = await client.launch_instance(messaging, ["3"])
            for text in ["alpha", "beta", "gamma"]:
                await instance.send(text)
            events = await until_end(instance)
            assert [d for k, d in events if k == Event.Message] == \
                ["reply 1: alpha", "reply 2: beta", "reply 3: gamma"]
            assert events[-1][0] == Event.Completed

            # blobs both ways, including an empty one and one of several chunks.
            blobs = await client.upload_program(inferlet("blobs"))
            sizes = [0, 1, 256 * 1024, 5 * 1024 * 1024]
            instance = await client.launch_instance(blobs, [str(len(sizes))])
            payloads = [bytes((i * 7 + n) % 256 for i in range(n)) for n in sizes]
            for p in payloads:
                await instance.upload_blob(p)
            events = await until_end(instance)
            assert [d for k, d in events if k == Event.Blob] == payloads
            assert events[-1][0] == Event.Completed

            # terminate: an instance waiting for a message is aborted.
            instance = await client.launch_instance(messaging, ["1"])
            await instance.terminate()
            assert (await until_end(instance))[-1][0] == Event.Aborted

            # model_status: every page free again.
            ok, status = await client.query("model_status", "")
            assert ok
            status = json.loads(status)
            assert status["stories260K.resource.0.available"] == "64"

            # a server instance answers HTTP on its port.
            server = await client.upload_program(inferlet("http-server"))
            port = free_port()
            await client.launch_server_instance(server, port)
            body = await asyncio.to_thread(
                lambda: urllib.request.urlopen(
                    urllib.request.Request(f"http://127.0.0.1:{port}/echo", data=b"round trip"),
                    timeout=30).read())
            assert body == b"round trip"
    run(main())


def test_instances_belong_to_their_connection(engine, inferlet):
    async def main():
        async with PieClient(engine.uri) as owner, PieClient(engine.uri) as other:
            for c in (owner, other):
                assert (await c.authenticate(mint_token("pytest")))[0]
            messaging = await owner.upload_program(inferlet("messaging"))
            instance = await owner.launch_instance(messaging, ["1"])
            # Another connection can neither signal nor terminate it: it keeps waiting, and
            # answers its owner's message.
            await other.signal_instance(instance.instance_id, "from a stranger")
            await other.terminate_instance(instance.instance_id)
            await instance.send("from the owner")
            events = await until_end(instance)
            assert events[0] == (Event.Message, "reply 1: from the owner")
            assert events[-1][0] == Event.Completed
    run(main())


def test_flows_without_auth(engine_without_auth, inferlet):
    async def main():
        async with PieClient(engine_without_auth.uri) as client:
            program = await client.upload_program(inferlet("helloworld"))
            instance = await client.launch_instance(program, ["open"])
            events = await until_end(instance)
            assert events[-1] == (Event.Completed, "open")
    run(main())
