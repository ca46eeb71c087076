"""Python client for Pie: upload and launch inferlets and talk to them (pie_client.PieClient)."""

from .blake3 import Blake3, blake3_hex
from .client import CHUNK_SIZE, Event, Instance, PieClient

__all__ = ["Blake3", "blake3_hex", "CHUNK_SIZE", "Event", "Instance", "PieClient"]
