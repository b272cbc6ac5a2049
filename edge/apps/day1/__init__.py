"""The Day-1 V2X applications of a vehicle gateway (T/CSAE 53-2017, chapter 6) on what its radio
hears: ``picture.HeardWorld`` keeps what was heard, ``engine.Day1Engine`` runs the applications
(one module each, listed in ``registry``) on it each cycle and turns their findings into
warnings (``findings``), which go to the events stream and to an HMI (``hmi``)."""
