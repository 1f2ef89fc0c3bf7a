"""When traffic happens: per-account hourly intensity, and sampling one hour at a time.

The expected volume of a group per hour is the sum of its accounts' intensities
(volume weight x diurnal curve in the account's time zone x weekday x active days
x campaign ramp or deadline bursts or benchmark sweeps), scaled so the whole
period holds the group's configured events. Each hour is then sampled on its own
(Poisson count, multinomial over accounts, timestamps inside the hour), so a run
streams hour by hour and never holds more than one hour of (index-only) events.
"""

from __future__ import annotations

import numpy as np

from distillguard.simulate.actors import Group, mix64
from distillguard.simulate.scenario import CampaignConfig, PopulationConfig, Scenario

DIURNAL = {
    "office": [
        0.03,
        0.02,
        0.02,
        0.02,
        0.02,
        0.03,
        0.08,
        0.3,
        0.8,
        1.0,
        1.0,
        0.95,
        0.7,
        0.9,
        1.0,
        1.0,
        0.9,
        0.6,
        0.25,
        0.12,
        0.08,
        0.06,
        0.05,
        0.04,
    ],
    "evening": [
        0.6,
        0.4,
        0.2,
        0.12,
        0.1,
        0.1,
        0.15,
        0.3,
        0.5,
        0.65,
        0.7,
        0.7,
        0.65,
        0.7,
        0.7,
        0.7,
        0.7,
        0.75,
        0.8,
        0.9,
        1.0,
        1.0,
        0.95,
        0.8,
    ],
    "student": [
        0.8,
        0.6,
        0.4,
        0.2,
        0.08,
        0.05,
        0.05,
        0.1,
        0.2,
        0.35,
        0.45,
        0.5,
        0.55,
        0.65,
        0.7,
        0.7,
        0.7,
        0.75,
        0.8,
        0.9,
        1.0,
        1.0,
        1.0,
        0.9,
    ],
    "flat": [
        0.7,
        0.65,
        0.6,
        0.6,
        0.6,
        0.62,
        0.68,
        0.75,
        0.85,
        0.92,
        0.97,
        1.0,
        1.0,
        1.0,
        0.98,
        0.95,
        0.93,
        0.9,
        0.88,
        0.85,
        0.82,
        0.8,
        0.77,
        0.73,
    ],
}
# Nightly batch jobs (company harvesting, evaluation pipelines): scheduled from midnight to
# about five in the morning local time, when capacity is cheap and nobody is waiting.
DIURNAL["nightly"] = [1.0, 1.0, 1.0, 1.0, 0.8, 0.3] + [0.0] * 17 + [0.4]
DEADLINE_WINDOW_H = 36.0


def account_intensity(scenario: Scenario, g: Group, hour: int) -> np.ndarray:
    """Relative request rate of every account of ``g`` during ``hour`` (0 when inactive)."""
    cfg = g.config
    start_hour = scenario.start.hour + scenario.start.minute / 60
    local = hour + start_hour + g.tz
    active = (g.active_from <= hour + 1) & (g.active_to > hour)
    w = g.weight * active
    if isinstance(cfg, CampaignConfig):
        ramp = np.clip((hour - g.active_from.min()) / max(1.0, cfg.growth_days * 24), 0.05, 1.0)
        if cfg.diurnal != "flat":
            curve = np.asarray(DIURNAL.get(cfg.diurnal, DIURNAL["flat"]))
            w = w * curve[np.floor(hour + start_hour + g.tz).astype(np.int64) % 24]
        return w * ramp
    curve = np.asarray(DIURNAL.get(cfg.diurnal, DIURNAL["flat"]))
    w = w * curve[np.floor(local).astype(np.int64) % 24]
    weekday = (np.floor(local / 24).astype(np.int64) + scenario.start.weekday()) % 7
    w = np.where(weekday >= 5, w * cfg.weekend_factor, w)
    if cfg.active_day_share < 1.0:
        day = int(np.floor((hour + start_hour) / 24))
        draw = mix64(
            np.arange(g.size, dtype=np.uint64) * np.uint64(100_003) + np.uint64(day), g.gid + scenario.seed
        )
        w = w * ((draw >> np.uint64(11)).astype(np.float64) / float(1 << 53) < cfg.active_day_share)
    if g.kind == "university":
        w = w * _deadline_factor(cfg, local, weekday)
    if g.kind == "eval_harness" and len(g.sweeps):
        busy = np.zeros(g.size)
        s = g.sweeps
        inside = (s[:, 1] < hour + 1) & (s[:, 2] > hour)
        np.add.at(busy, s[inside, 0].astype(np.int64), 1.0)
        w = w * (0.02 + busy)
    return w


def _deadline_factor(cfg: PopulationConfig, local: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    hour_of_week = weekday * 24 + np.mod(local, 24)
    deadline = cfg.deadline_weekday * 24 + 24.0
    until = np.mod(deadline - hour_of_week, 168.0)
    return np.where(until < DEADLINE_WINDOW_H, 1.0 + cfg.burst_factor, 1.0)


def expected_curve(scenario: Scenario, g: Group) -> np.ndarray:
    """Expected events per hour for the whole period, summing to the group's total."""
    raw = np.asarray([account_intensity(scenario, g, h).sum() for h in range(scenario.hours)])
    total = raw.sum()
    return raw * (g.total_events / total) if total > 0 else raw


def sample_hour(scenario: Scenario, g: Group, hour: int) -> tuple[np.ndarray, np.ndarray]:
    """(account index, timestamp in µs since start) of this group's events in ``hour``."""
    rng = np.random.default_rng([scenario.seed, hour, g.gid, 17])
    t0 = hour * 3600.0
    if g.kind == "ci_bots":
        return _periodic(g, t0, rng)
    if len(g.fixed_events):
        return _fixed(g, t0)
    expected = float(g.curve[hour])
    count = int(rng.poisson(expected)) if expected > 0 else 0
    if count == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    p = account_intensity(scenario, g, hour)
    p = p / p.sum()
    counts = rng.multinomial(count, p)
    cfg = g.config
    if isinstance(cfg, CampaignConfig):
        counts = _cap(rng, counts, p, cfg.max_events_per_account_hour)
    acc = np.repeat(np.arange(g.size), counts)
    if isinstance(cfg, CampaignConfig):
        offsets = _jittered(rng, counts, cfg.jitter)
    else:
        offsets = rng.uniform(0, 3600.0, len(acc))
    ts = np.floor((t0 + offsets) * 1e6).astype(np.int64)
    return acc, ts


def _cap(rng: np.random.Generator, counts: np.ndarray, p: np.ndarray, cap: int) -> np.ndarray:
    """Keep every account under its per-hour limit: the overflow moves to accounts with room."""
    over = int(np.maximum(counts - cap, 0).sum())
    counts = np.minimum(counts, cap)
    if over:
        room = (cap - counts) * (p > 0)
        if room.sum() > 0:
            extra = rng.multinomial(min(over, int(room.sum())), room / room.sum())
            counts = np.minimum(counts + extra, cap)
    return counts


def _jittered(rng: np.random.Generator, counts: np.ndarray, jitter: float) -> np.ndarray:
    """Scripted clients spread requests evenly through the hour; ``jitter`` blurs the spacing."""
    active = counts[counts > 0]
    runs = np.repeat(active, active).astype(float)
    first = np.concatenate([[0], np.cumsum(active)[:-1]])
    k = np.arange(int(active.sum())) - np.repeat(first, active)
    phase = np.repeat(rng.uniform(0, 1, len(active)), active)
    spacing = 3600.0 / runs
    regular = (k + phase) * spacing
    noise = rng.uniform(-0.5, 0.5, len(regular)) * spacing * jitter * 2
    return np.mod(regular + noise, 3600.0)  # wrap, never pile requests up on the hour boundary


def _fixed(g: Group, t0: float) -> tuple[np.ndarray, np.ndarray]:
    """The pre-drawn requests of a swarm that fall in this hour."""
    times = g.fixed_events[:, 1]
    lo, hi = np.searchsorted(times, [t0, t0 + 3600.0])
    acc = g.fixed_events[lo:hi, 0].astype(np.int64)
    return acc, np.floor(times[lo:hi] * 1e6).astype(np.int64)


def _periodic(g: Group, t0: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    accs: list[np.ndarray] = []
    times: list[np.ndarray] = []
    for a in range(g.size):
        period, phase = float(g.period_s[a]), float(g.phase_s[a])
        first = np.ceil((t0 - phase) / period)
        k = np.arange(first, np.ceil((t0 + 3600.0 - phase) / period))
        t = phase + k * period
        t = t[(t >= t0) & (t < t0 + 3600.0)]
        accs.append(np.full(len(t), a))
        times.append(t + rng.uniform(0, 0.4, len(t)))  # cron fires on the dot, plus start-up time
    acc = np.concatenate(accs).astype(np.int64) if accs else np.zeros(0, dtype=np.int64)
    ts = np.floor(np.concatenate(times) * 1e6).astype(np.int64) if times else np.zeros(0, dtype=np.int64)
    return acc, ts
