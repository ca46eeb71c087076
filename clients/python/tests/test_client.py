"""PieClient against the real server on a scripted fake engine (see src/server/testing/)."""

import asyncio
import time

import msgpack
import pytest
import websockets

from conftest import mint_token
from pie_client import CHUNK_SIZE, Event, PieClient, blake3_hex


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=60))


def pattern(n: int) -> bytes:  # what the fake engine's "blob:<n>" sends
    return bytes(i * 31 % 251 for i in range(n))


async def connected(server):
    client = PieClient(server.uri)
    await client.connect()
    assert await client.authenticate(mint_token("pytest")) == (True, "pytest")
    return client


def test_authentication(server):
    async def main():
        async with PieClient(server.uri) as client:
            assert await client.query("program_exists", "x") == (False, "Not authenticated")
            assert await client.authenticate("not a token") == (False, "Invalid token")
            assert await client.authenticate(mint_token("eve", secret="wrong")) == \
                (False, "Invalid token")
            expired = mint_token("old", exp=int(time.time()) - 3600)
            assert await client.authenticate(expired) == (False, "Invalid token")
            assert await client.authenticate(mint_token("alice")) == (True, "alice")
            assert await client.authenticate(mint_token("alice")) == \
                (True, "Already authenticated")
    run(main())


def test_upload_query_and_launch_errors(server):
    async def main():
        client = await connected(server)
        program = bytes(range(256)) * 2000  # two chunks
        program_hash = blake3_hex(program)
        assert not await client.program_exists(program_hash)
        assert await client.upload_program(program) == program_hash
        assert await client.program_exists(program_hash)
        with pytest.raises(RuntimeError, match="Failed to compile: not a WebAssembly module"):
            await client.upload_program(b"bad program")
        assert await client.query("weather", "") == (False, "Unknown query subject")
        with pytest.raises(RuntimeError, match="No such program with hash=" + "0" * 64):
            await client.launch_instance("0" * 64)
        await client.close()
    run(main())


def test_instance_events_in_order(server):
    async def main():
        client = await connected(server)
        program_hash = await client.upload_program(b"program")
        inst = await client.launch_instance(program_hash,
                                            ["send:hi", "blob:600000", "blob:0", "exit:done"])
        assert await inst.recv() == (Event.Message, "hi")
        assert await inst.recv() == (Event.Blob, pattern(600000))
        assert await inst.recv() == (Event.Blob, b"")
        event, message = await inst.recv()
        assert (event, message) == (Event.Completed, "done") and event.terminal
        with pytest.raises(RuntimeError, match="has ended"):
            await inst.recv()
        await client.close()
    run(main())


def test_talking_to_a_running_instance(server):
    async def main():
        client = await connected(server)
        inst = await client.launch_instance(await client.upload_program(b"program"))
        for text in ("one", "two", "three"):
            await inst.send(text)
        assert [await inst.recv() for _ in range(3)] == \
            [(Event.Message, "one"), (Event.Message, "two"), (Event.Message, "three")]
        blob = bytes(range(256)) * 1100  # more than one chunk
        assert len(blob) > CHUNK_SIZE
        await inst.upload_blob(blob)
        assert await inst.recv() == (Event.Blob, blob)
        await inst.terminate()
        assert await inst.recv() == (Event.Aborted, "Signal termination")
        with pytest.raises(RuntimeError, match="Instance not owned by client"):
            await inst.upload_blob(b"late")
        await client.close()
    run(main())


def test_end_codes(server):
    async def main():
        client = await connected(server)
        program_hash = await client.upload_program(b"program")
        for script, event in (("fail:boom", Event.Exception), ("error:x", Event.ServerError),
                              ("oom", Event.OutOfResources)):
            inst = await client.launch_instance(program_hash, [script])
            assert (await inst.recv())[0] == event
        await client.close()
    run(main())


def test_backends_and_server_instances(server):
    async def main():
        client = await connected(server)
        assert await client.attach_remote_service("ipc:///tmp/x", "model", "m") == \
            (True, "Model service registered")
        assert await client.attach_remote_service("ipc:///tmp/y", "model", "m") == \
            (False, "Failed to register model")
        ok, status = await client.query("model_status", "")
        assert ok and '"m.model.name":"m"' in status
        program_hash = await client.upload_program(b"http")
        await client.launch_server_instance(program_hash, 8190, ["--x"])
        with pytest.raises(RuntimeError, match="No such program"):
            await client.launch_server_instance("1" * 64, 8191)
        await client.close()
    run(main())


def test_server_going_away_wakes_waiters(server):
    async def main():
        client = await connected(server)
        inst = await client.launch_instance(await client.upload_program(b"program"))
        waiter = asyncio.create_task(inst.recv())
        await asyncio.sleep(0.05)
        await asyncio.get_running_loop().run_in_executor(None, server.stop)
        with pytest.raises(ConnectionError):
            await waiter
        with pytest.raises(ConnectionError):
            await client.query("program_exists", "x")
        await client.close()
    run(main())


def test_wire_bytes_a_raw_peer_sees(server):
    """The server's messages decoded with nothing but msgpack, as any other client would."""
    async def main():
        async with websockets.connect(server.uri, compression=None) as ws:
            await ws.send(msgpack.packb({"type": "authenticate", "corr_id": 7,
                                         "token": mint_token("raw")}, use_bin_type=True))
            reply = msgpack.unpackb(await ws.recv(), raw=False)
            assert reply == {"type": "response", "corr_id": 7, "successful": True,
                             "result": "raw"}
            await ws.send("text frames are ignored")
            await ws.send(b"\xc1 garbage is ignored")
            await ws.send(msgpack.packb({"type": "query", "corr_id": 8,
                                         "subject": "program_exists", "record": "x"}))
            reply = msgpack.unpackb(await ws.recv(), raw=False)
            assert reply == {"type": "response", "corr_id": 8, "successful": True,
                             "result": "false"}
    run(main())


def test_corrupt_and_disordered_blobs_are_dropped():
    """A scripted server sends what the real one never does: a tampered blob and a blob whose
    chunks start in the middle. Both are dropped; the good blob and the end still arrive."""
    instance_id = "8d1c3a0e-1111-4a52-9c4e-2f0a8d6b1e97"
    good = b"g" * (CHUNK_SIZE + 3)

    def blob(blob_hash, index, total, data):
        return {"type": "download_blob", "corr_id": 0, "instance_id": instance_id,
                "blob_hash": blob_hash, "chunk_index": index, "total_chunks": total,
                "chunk_data": data}

    async def handler(ws, *_):
        request = msgpack.unpackb(await ws.recv(), raw=False)
        frames = [
            {"type": "response", "corr_id": request["corr_id"], "successful": True,
             "result": instance_id},
            blob(blake3_hex(b"expected"), 0, 1, b"tampered"),
            blob(blake3_hex(good), 1, 2, good[CHUNK_SIZE:]),
            blob(blake3_hex(good), 0, 2, good[:CHUNK_SIZE]),
            blob(blake3_hex(good), 1, 2, good[CHUNK_SIZE:]),
            {"type": "instance_event", "instance_id": instance_id, "event": 3, "message": "boom"},
        ]
        for frame in frames:
            await ws.send(msgpack.packb(frame, use_bin_type=True))
        await ws.wait_closed()

    async def main():
        async with websockets.serve(handler, "127.0.0.1", 0, compression=None) as scripted:
            port = scripted.sockets[0].getsockname()[1]
            async with PieClient(f"ws://127.0.0.1:{port}") as client:
                inst = await client.launch_instance("whatever")
                assert inst.instance_id == instance_id
                assert await inst.recv() == (Event.Blob, good)
                assert await inst.recv() == (Event.Exception, "boom")
    run(main())
