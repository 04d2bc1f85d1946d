"""How simulated devices behave: timing, radio, battery and faults, all seeded.

Defaults follow real hardware: labels check in every 40 s (OpenEPaperLink), a BW panel refreshes
in ~2 s and a three-colour panel in ~15 s, an 802.15.4 access point moves ~20 KB/s. Tests set the
times to zero; benchmarks set the wake delay to zero so the controller's latency is measured.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Behaviour:
    checkin_s: float = 40.0  # wake period; 0 = always listening
    checkin_jitter: float = 0.1  # +/- fraction of the period, so a store does not wake in step
    resume_after_s: float = 2.0  # always-listening devices: request missing chunks after this
    refresh_bw_s: float = 2.0  # e-paper full refresh, black/white panels
    refresh_colour_s: float = 15.0  # e-paper full refresh, three-colour panels
    telemetry_every_s: float = 600.0
    ap_throughput_bps: float = 20_000.0  # access point radio, bytes/s shared by its labels; 0 = inf
    battery_mah: float = 1000.0  # 2x CR2450
    refresh_mas: float = 30.0  # charge of one refresh, mA*s
    radio_mas_per_kb: float = 5.0  # charge per KB received or sent
    loss: float = 0.0  # probability an incoming message is lost on the radio
    duplication: float = 0.0  # probability an incoming message arrives twice
    offline_rate_per_h: float = 0.0  # offline windows per device per hour
    offline_mean_s: float = 300.0
    sale_rate_per_h: float = 6.0  # shelf sensor: items sold per lane per hour
    # shelf sensor: a lane down to a quarter of its capacity is restocked this long after
    restock_wait_s: tuple[float, float] = (600.0, 3600.0)
    fitting_visits_per_h: float = 4.0  # fitting room: shoppers per hour
    help_share: float = 0.2  # fitting room: shoppers who press the help button
    # shelf sensor, fitting room: no shopper comes before this long after the device's first
    # tick (the store opens; the demo keeps its shelves still for their first count)
    shoppers_after_s: float = 0.0
    seed: int = 1

    @classmethod
    def instant(cls, **overrides: float) -> Behaviour:
        """Everything immediate and lossless: for tests and controller benchmarks."""
        base = {
            "checkin_s": 0.0,
            "resume_after_s": 0.5,
            "refresh_bw_s": 0.0,
            "refresh_colour_s": 0.0,
            "ap_throughput_bps": 0.0,
            "telemetry_every_s": 3600.0,
        }
        base.update(overrides)
        return cls(**base)  # type: ignore[arg-type]

    def next_checkin(self, rng: random.Random) -> float:
        if self.checkin_s <= 0:
            return 0.0
        spread = self.checkin_s * self.checkin_jitter
        return max(0.05, self.checkin_s + rng.uniform(-spread, spread))
