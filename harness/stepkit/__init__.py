"""What step kinds are built from: the :class:`~harness.stepkit.kind.StepKind` interface and the
registry of kinds (``registry.py``), the context a step works with (``context.py``), load sources
(``loads.py``), the per-cycle SEL check (``sel_check.py``) and which Redfish events fail a step
(``event_policy.py``). The kinds themselves live in :mod:`harness.steps`."""
