"""Durable Object ownership across emulator processes sharing Redis (leases and forwarding)."""

from __future__ import annotations

from .leases import Lease, LeaseTable, lease_key
from .placement import OWNER_LOST, Placement

__all__ = ["OWNER_LOST", "Lease", "LeaseTable", "Placement", "lease_key"]
