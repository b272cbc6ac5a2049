"""DBC decoding: load a database with cantools and decode frame arrays with numpy."""

from protocols.dbc.loader import LoadedDbc, load_dbc
from protocols.dbc.vector_decoder import DecodedMessage, VectorDecoder

__all__ = ["DecodedMessage", "LoadedDbc", "VectorDecoder", "load_dbc"]
