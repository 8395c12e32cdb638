"""Operational logic behind the ``masking-unset`` command: each command's work as functions that
take their clients, so tests hand them local ones. Nothing here is imported by the Lambda code."""
