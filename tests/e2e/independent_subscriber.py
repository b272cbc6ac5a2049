"""An independent cloud consumer: paho-mqtt plus code generated from the .proto file alone.

Run as its own process (it must not share a protobuf descriptor pool with RoadGate's own
generated code): compiles the schema into a temporary directory, subscribes, prints "ready",
and writes one JSON line per message to the output file until SIGTERM.

usage: independent_subscriber.py PROTO HOST PORT OUTPUT
"""

from __future__ import annotations

import base64
import importlib
import json
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any


def compile_proto(proto: Path, out: Path) -> Any:
    from grpc_tools import protoc

    status = protoc.main(["protoc", f"-I{proto.parent}", f"--python_out={out}", str(proto)])
    if status != 0:
        raise SystemExit(f"protoc failed on {proto}")
    sys.path.insert(0, str(out))
    return importlib.import_module(proto.stem + "_pb2")


def main() -> None:
    proto, host, port, output = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    import paho.mqtt.client as mqtt
    from google.protobuf.json_format import MessageToDict
    from google.protobuf.message import DecodeError
    from paho.mqtt.enums import CallbackAPIVersion

    with tempfile.TemporaryDirectory() as tmp:
        schema = compile_proto(proto, Path(tmp))
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        lines = open(output, "w")  # noqa: SIM115 - closed below, after the loop stops
        subscribed = threading.Event()

        def on_message(_c: Any, _u: Any, msg: Any) -> None:
            envelope = schema.Envelope()
            try:
                envelope.ParseFromString(msg.payload)
                decoded = MessageToDict(envelope, preserving_proto_field_name=True)
            except DecodeError:
                decoded = None  # bad input the test injects on purpose
            record = {
                "topic": msg.topic,
                "retain": bool(msg.retain),
                "payload": base64.b64encode(msg.payload).decode(),
                "envelope": decoded,
            }
            lines.write(json.dumps(record) + "\n")
            lines.flush()

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="independent-sub")
        client.on_message = on_message
        client.on_subscribe = lambda *_: subscribed.set()
        client.on_connect = lambda c, *_: c.subscribe("rg/v1/#", qos=1)
        client.connect(host, port)
        client.loop_start()
        if not subscribed.wait(10):
            raise SystemExit("could not subscribe")
        print("ready", flush=True)
        stop.wait()
        client.loop_stop()
        client.disconnect()
        lines.close()


if __name__ == "__main__":
    main()
