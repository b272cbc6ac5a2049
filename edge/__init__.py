"""The edge process of one box: decode, fuse, run V2X applications, publish.

``edge`` uses ``hal`` ports (never adapters) and ``protocols``; it reads no config file: the
composition root (``firmware_py``) builds it from typed settings.
"""
