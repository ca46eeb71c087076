"""Asyncio client of Pie's user protocol (WebSocket + MessagePack), shaped like Pie's pie-client."""

import asyncio
import logging
from enum import Enum

import msgpack
import websockets

from .blake3 import blake3_hex

CHUNK_SIZE = 262144  # bytes per upload/download chunk (Pie's CHUNK_SIZE_BYTES)

_log = logging.getLogger("pie_client")


class Event(Enum):
    """What Instance.recv() reports: Pie's event codes, plus Blob for a received blob."""

    Message = 0
    Completed = 1
    Aborted = 2
    Exception = 3
    ServerError = 4
    OutOfResources = 5
    Blob = 6

    @property
    def terminal(self) -> bool:
        return self not in (Event.Message, Event.Blob)


class Instance:
    """A launched instance. recv() returns (Event, text) or (Event.Blob, bytes)."""

    def __init__(self, client: "PieClient", instance_id: str):
        self.client = client
        self.instance_id = instance_id

    async def send(self, message: str) -> None:
        await self.client.signal_instance(self.instance_id, message)

    async def upload_blob(self, blob_bytes: bytes) -> None:
        await self.client.upload_blob(self.instance_id, blob_bytes)

    async def recv(self):
        return await self.client._next_event(self.instance_id)

    async def terminate(self) -> None:
        await self.client.terminate_instance(self.instance_id)


class _Events:
    def __init__(self):
        self.queue = asyncio.Queue()
        self.ended = False  # the terminal event was handed out


class PieClient:
    """Usage: async with PieClient("ws://127.0.0.1:8080") as client: ..."""

    def __init__(self, server_uri: str):
        self.server_uri = server_uri
        self.ws = None
        self._listener = None
        self._corr_id = 0
        self._pending = {}  # corr_id -> Future[(successful, result)]
        self._events = {}  # instance_id -> _Events
        self._downloads = {}  # (instance_id, blob_hash) -> [total, next_index, bytearray]
        self._closed_reason = None

    async def __aenter__(self):
        await self.connect()
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def connect(self) -> None:
        self.ws = await websockets.connect(self.server_uri, max_size=None, compression=None)
        self._listener = asyncio.create_task(self._listen())

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._listener is not None:
            await self._listener

    # --- requests ---

    async def authenticate(self, token: str):
        """Returns (successful, subject or reason)."""
        return await self._request({"type": "authenticate", "token": token})

    async def query(self, subject: str, record: str):
        """Returns (successful, result)."""
        return await self._request({"type": "query", "subject": subject, "record": record})

    async def program_exists(self, program_hash: str) -> bool:
        ok, result = await self.query("program_exists", program_hash)
        if not ok:
            raise RuntimeError(f"program_exists failed: {result}")
        return result == "true"

    async def upload_program(self, program_bytes: bytes) -> str:
        """Uploads in 256 KiB chunks; returns the program's hash."""
        program_hash = blake3_hex(program_bytes)
        ok, result = await self._upload(
            {"type": "upload_program", "program_hash": program_hash}, program_bytes)
        if not ok:
            raise RuntimeError(f"Program upload failed: {result}")
        return program_hash

    async def launch_instance(self, program_hash: str, arguments=None) -> Instance:
        ok, result = await self._request({"type": "launch_instance",
                                          "program_hash": program_hash,
                                          "arguments": list(arguments or [])})
        if not ok:
            raise RuntimeError(f"Failed to launch instance: {result}")
        self._events.setdefault(result, _Events())
        return Instance(self, result)

    async def launch_server_instance(self, program_hash: str, port: int, arguments=None) -> None:
        ok, result = await self._request({"type": "launch_server_instance", "port": port,
                                          "program_hash": program_hash,
                                          "arguments": list(arguments or [])})
        if not ok:
            raise RuntimeError(f"Failed to launch server instance: {result}")

    async def signal_instance(self, instance_id: str, message: str) -> None:
        await self._send({"type": "signal_instance", "instance_id": instance_id,
                          "message": message})

    async def upload_blob(self, instance_id: str, blob_bytes: bytes) -> None:
        ok, result = await self._upload(
            {"type": "upload_blob", "instance_id": instance_id,
             "blob_hash": blake3_hex(blob_bytes)}, blob_bytes)
        if not ok:
            raise RuntimeError(f"Blob upload failed: {result}")

    async def terminate_instance(self, instance_id: str) -> None:
        await self._send({"type": "terminate_instance", "instance_id": instance_id})

    async def attach_remote_service(self, endpoint: str, service_type: str, service_name: str):
        """Registers a backend (what backends do at start); returns (successful, result)."""
        return await self._request({"type": "attach_remote_service", "endpoint": endpoint,
                                    "service_type": service_type, "service_name": service_name})

    # --- plumbing ---

    def _new_request(self):
        self._check_open()
        self._corr_id = self._corr_id % 0xFFFFFFFF + 1
        future = asyncio.get_running_loop().create_future()
        self._pending[self._corr_id] = future
        return self._corr_id, future

    async def _send(self, message: dict) -> None:
        self._check_open()
        await self.ws.send(msgpack.packb(message, use_bin_type=True))

    async def _request(self, message: dict):
        corr_id, future = self._new_request()
        await self._send({**message, "corr_id": corr_id})
        return await future

    async def _upload(self, header: dict, data: bytes):
        """All chunks under one corr_id, sent back to back; one response at the end or at the
        first error (after which the rest is not sent)."""
        corr_id, future = self._new_request()
        total = max(1, -(-len(data) // CHUNK_SIZE))
        for index in range(total):
            chunk = bytes(data[index * CHUNK_SIZE:(index + 1) * CHUNK_SIZE])
            await self._send({**header, "corr_id": corr_id, "chunk_index": index,
                              "total_chunks": total, "chunk_data": chunk})
            if future.done():
                break
        return await future

    def _check_open(self):
        if self._closed_reason is not None:
            raise ConnectionError(f"connection to the server is closed: {self._closed_reason}")

    async def _next_event(self, instance_id: str):
        events = self._events.setdefault(instance_id, _Events())
        if events.queue.empty():
            if events.ended:
                raise RuntimeError(f"instance {instance_id} has ended")
            self._check_open()
        item = await events.queue.get()
        if item is None:  # the connection ended
            events.queue.put_nowait(None)
            raise ConnectionError(f"connection to the server is closed: {self._closed_reason}")
        if item[0].terminal:
            events.ended = True
        return item

    async def _listen(self):
        reason = "closed"
        try:
            async for frame in self.ws:
                if isinstance(frame, bytes):
                    try:
                        self._dispatch(msgpack.unpackb(frame, raw=False))
                    except (ValueError, KeyError, TypeError) as e:
                        _log.warning("ignoring a message from the server: %s", e)
        except websockets.ConnectionClosed as e:
            reason = str(e)
        finally:
            self._closed_reason = reason
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(
                        ConnectionError(f"connection to the server is closed: {reason}"))
            self._pending.clear()
            for events in self._events.values():
                events.queue.put_nowait(None)

    def _dispatch(self, message: dict):
        kind = message.get("type")
        if kind == "response":
            future = self._pending.pop(message["corr_id"], None)
            # Replies nobody waits for (extra replies to the chunks of a failed upload) are dropped.
            if future is not None and not future.done():
                future.set_result((message["successful"], message["result"]))
        elif kind == "instance_event":
            # Queued even before launch_instance returns: the server may send the first events
            # right after the launch reply.
            events = self._events.setdefault(message["instance_id"], _Events())
            events.queue.put_nowait((Event(message["event"]), message["message"]))
        elif kind == "download_blob":
            self._on_blob_chunk(message)
        elif kind == "server_event":
            _log.info("server: %s", message.get("message"))

    def _on_blob_chunk(self, m: dict):
        key = (m["instance_id"], m["blob_hash"])
        if m["chunk_index"] == 0:
            self._downloads[key] = [m["total_chunks"], 0, bytearray()]
        download = self._downloads.get(key)
        if download is None or m["chunk_index"] != download[1] or m["total_chunks"] != download[0]:
            _log.warning("dropping blob %s: chunk %s arrived out of order", m["blob_hash"],
                         m["chunk_index"])
            self._downloads.pop(key, None)
            return
        download[2] += m["chunk_data"]
        download[1] += 1
        if download[1] < download[0]:
            return
        del self._downloads[key]
        data = bytes(download[2])
        if blake3_hex(data) != m["blob_hash"]:
            _log.warning("dropping blob %s: its content does not match the hash", m["blob_hash"])
            return
        events = self._events.setdefault(m["instance_id"], _Events())
        events.queue.put_nowait((Event.Blob, data))
