"""One plan run on one rack: options (``options.py``), opening the station (``opening.py``), the serial
interlock, the event monitor, running the steps (``steps.py``), resuming (``resume.py``), finishing
(``finish.py``), all driven by :class:`~harness.run.session.RunSession`; and ``multi_rack.py`` for
``--all-racks``."""
