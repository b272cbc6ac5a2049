"""DBC decoding: load a database with cantools and decode frame arrays with numpy."""

from protocols.dbc.loader import DroppedStatement, LoadedDbc, load_dbc
from protocols.dbc.vector_decoder import (
    DecodedBatch,
    DecodedMessage,
    VectorDecoder,
    j1939_pgn,
)

__all__ = [
    "DecodedBatch",
    "DecodedMessage",
    "DroppedStatement",
    "LoadedDbc",
    "VectorDecoder",
    "j1939_pgn",
    "load_dbc",
]
