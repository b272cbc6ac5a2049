"""A batched multi-object tracker composed of one-method roles.

As Stone Soup's ``tracker/simple.py`` composes a tracker from a predictor, an updater, an
associator, an initiator and a deleter, :class:`~edge.tracking.tracker.Tracker` takes those roles
in its constructor; here every role works on all tracks at once as numpy arrays
(:class:`~edge.tracking.track_set.TrackSet`), so no Python loop runs over tracks.

Modules: ``track_set`` (the arrays), ``detections`` (measurements and their checks),
``motion_models`` (constant velocity, CTRV), ``kalman`` (predictor and updater),
``association`` (Mahalanobis gate and global assignment), ``initiation`` (two-point M-of-N),
``deletion`` (misses and covariance), ``roles`` (the protocols), ``tracker`` (the cycle),
``builders`` (the standard roles put together for a motion model).
"""
