"""DBC decoding: load a database with cantools and decode frame arrays with numpy.

Modules: ``loader`` (a DBC file to a cantools database, relaxed when it must be),
``plan_compiler`` (a message to a numpy plan), ``plan_runner`` (plans run over payloads),
``block_runner`` (lean messages decoded in blocks),
``id_lookup`` (frame ids and J1939 PGNs to messages), ``vector_decoder`` (``VectorDecoder``:
frame arrays to per-message signal arrays) and ``results`` (what a decode returns).
"""

from protocols.dbc.id_lookup import j1939_pgn
from protocols.dbc.loader import DroppedStatement, LoadedDbc, load_dbc
from protocols.dbc.results import DecodedBatch, DecodedMessage
from protocols.dbc.vector_decoder import VectorDecoder

__all__ = [
    "DecodedBatch",
    "DecodedMessage",
    "DroppedStatement",
    "LoadedDbc",
    "VectorDecoder",
    "j1939_pgn",
    "load_dbc",
]
