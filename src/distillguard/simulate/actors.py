"""Who sends traffic: account groups, their networks (IP prefixes and ASNs) and client SDKs.

A ``Group`` is a benign population or a campaign: per-account arrays (volume weight,
time zone, active window, keys, IP pools, SDK) that the scheduler samples with numpy.
Identifiers come from a bijective 64-bit mix of (seed, counter), so they are unique
and reproducible without any global state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distillguard.simulate.scenario import CampaignConfig, PopulationConfig

_MASK = (1 << 64) - 1
# First octets of private, loopback, CGNAT, link-local and documentation-heavy ranges: never used.
_RESERVED_FIRST_OCTETS = {10, 100, 127, 169, 172, 192, 198, 203}

DATACENTER_ASNS = [
    ("AS16509", "US"),
    ("AS14061", "US"),
    ("AS24940", "DE"),
    ("AS396982", "US"),
    ("AS8075", "US"),
    ("AS16276", "FR"),
    ("AS45102", "SG"),
    ("AS63949", "US"),
    ("AS20473", "US"),
    ("AS132203", "HK"),
    ("AS51167", "DE"),
    ("AS37963", "CN"),
]
RESIDENTIAL_ASNS = [
    ("AS7922", "US"),
    ("AS701", "US"),
    ("AS7018", "US"),
    ("AS3320", "DE"),
    ("AS2856", "GB"),
    ("AS4134", "CN"),
    ("AS4837", "CN"),
    ("AS9299", "PH"),
    ("AS18881", "BR"),
    ("AS45609", "IN"),
    ("AS3215", "FR"),
    ("AS4713", "JP"),
    ("AS812", "CA"),
    ("AS1221", "AU"),
    ("AS9829", "IN"),
    ("AS17676", "JP"),
    ("AS5089", "GB"),
    ("AS6830", "NL"),
]
CAMPUS_ASNS = [("AS3", "US"), ("AS87", "US"), ("AS2637", "US"), ("AS25", "US"), ("AS786", "GB")]
CORPORATE_ASNS = [("AS3356", "US"), ("AS6939", "US"), ("AS1299", "SE"), ("AS2914", "JP"), ("AS174", "DE")]


def mix64(values: np.ndarray, salt: int) -> np.ndarray:
    """SplitMix64 finaliser of ``values + salt``: a bijection on uint64, vectorised."""
    with np.errstate(over="ignore"):
        x = values.astype(np.uint64) + np.uint64(salt & _MASK)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def hex_ids(counter_start: int, count: int, salt: int) -> list[str]:
    values = mix64(np.arange(counter_start, counter_start + count, dtype=np.uint64), salt)
    return [f"{int(v):016x}" for v in values]


class Network:
    """Every /24 prefix the simulation uses, with its ASN and country."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.base: list[int] = []
        self.asn: list[str] = []
        self.country: list[str] = []
        self._used: set[int] = set()

    def add(self, count: int, asns: list[tuple[str, str]]) -> np.ndarray:
        """Allocate ``count`` fresh /24s spread over ``asns``; returns their indices."""
        start = len(self.base)
        picks = self.rng.integers(0, len(asns), size=count)
        for pick in picks:
            asn, country = asns[int(pick)]
            # Each ASN owns a stable first octet range, so prefixes of one ASN look related.
            first = 11 + (int(asn[2:]) * 7) % 200
            while first in _RESERVED_FIRST_OCTETS:
                first += 1
            while True:
                base = (first << 24) | (int(self.rng.integers(0, 1 << 16)) << 8)
                if base not in self._used:
                    break
            self._used.add(base)
            self.base.append(base)
            self.asn.append(asn)
            self.country.append(country)
        return np.arange(start, start + count, dtype=np.int64)

    def address(self, prefix: int, host: int) -> str:
        value = self.base[prefix] | (host & 0xFF)
        return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


# ----------------------------------------------------------------------------- SDKs
@dataclass(frozen=True)
class Sdk:
    user_agent: str
    headers: dict[str, str]
    fingerprint: str
    anthropic: bool = False


def make_sdk(rng: np.random.Generator, family: str) -> Sdk:
    """A client fingerprint of ``family`` with a version and platform drawn from ``rng``."""
    minor = int(rng.integers(30, 60))
    patch = int(rng.integers(0, 9))
    os_name = ["Linux", "MacOS", "Windows"][int(rng.choice(3, p=[0.55, 0.35, 0.1]))]
    arch = "arm64" if os_name == "MacOS" and rng.random() < 0.7 else "x64"
    py = f"3.{int(rng.integers(9, 14))}.{int(rng.integers(0, 12))}"
    if family in ("openai-python", "anthropic-python", "litellm"):
        package = f"1.{minor}.{patch}" if family != "anthropic-python" else f"0.{minor}.{patch}"
        agent = {
            "openai-python": "OpenAI/Python",
            "anthropic-python": "Anthropic/Python",
            "litellm": "OpenAI/Python",
        }[family]
        headers = {
            "x-stainless-lang": "python",
            "x-stainless-package-version": package,
            "x-stainless-os": os_name,
            "x-stainless-arch": arch,
            "x-stainless-runtime": "CPython",
            "x-stainless-runtime-version": py,
        }
        return Sdk(f"{agent} {package}", headers, _fp(headers), family == "anthropic-python")
    if family == "openai-node":
        package = f"4.{minor + 40}.{patch}"
        node = f"v{int(rng.choice([18, 20, 22]))}.{int(rng.integers(0, 19))}.0"
        headers = {
            "x-stainless-lang": "js",
            "x-stainless-package-version": package,
            "x-stainless-os": os_name,
            "x-stainless-arch": arch,
            "x-stainless-runtime": "node",
            "x-stainless-runtime-version": node,
        }
        return Sdk(f"OpenAI/JS {package}", headers, _fp(headers))
    plain = {
        "requests": f"python-requests/2.{minor - 1}.{patch}",
        "httpx": f"python-httpx/0.{minor - 5}.{patch}",
        "curl": f"curl/8.{patch}.{int(rng.integers(0, 2))}",
        "java-http": f"Java-http-client/{17 + patch % 5}.0.{patch}",
        "azure-style": f"okhttp/4.{minor % 13}.{patch}",
        "go": "Go-http-client/2.0",
        "aiohttp": f"Python/{py[:4]} aiohttp/3.{minor % 12}.{patch}",
    }
    agent = plain.get(family, plain["requests"])
    return Sdk(agent, {}, f"ua={agent.split('/')[0].lower()}")


def _fp(headers: dict[str, str]) -> str:
    h = headers
    return (
        f"lang={h['x-stainless-lang']};pkg={h['x-stainless-package-version']};os={h['x-stainless-os']};"
        f"arch={h['x-stainless-arch']};runtime={h['x-stainless-runtime']}/{h['x-stainless-runtime-version']}"
    )


# ---------------------------------------------------------------------------- groups
@dataclass
class Group:
    """One population or campaign: per-account arrays the scheduler samples from."""

    gid: int
    label: str
    population: str
    campaign_id: str | None
    kind: str  # a benign kind, or "campaign"
    config: PopulationConfig | CampaignConfig
    total_events: int
    account_ids: list[str]
    records: list[dict[str, Any]]
    weight: np.ndarray
    tz: np.ndarray
    active_from: np.ndarray  # hours since start
    active_to: np.ndarray
    banned_at: np.ndarray  # hours since start; inf when never banned
    keys: list[str]
    key_start: np.ndarray
    key_count: np.ndarray
    ip_prefix: np.ndarray  # (accounts, k) prefix indices
    ip_host: np.ndarray  # (accounts, k) host octets; -1 = random host each request
    ip_n: np.ndarray
    uses_pool: np.ndarray  # bool per account: requests leave through a proxy pool
    pool: np.ndarray  # prefix indices of the pool
    sdks: list[Sdk]
    system_prompts: list[str | None]
    projects: list[str]
    house: list[int] = field(default_factory=list)
    curve: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sweeps: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (account, start_h, end_h)
    period_s: np.ndarray = field(default_factory=lambda: np.zeros(0))  # ci bots
    phase_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # swarms: every request's (account, seconds since start), sorted; empty for rate-driven groups
    fixed_events: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    # resellers: which end-user slots harvest (index into the account's end users), per account
    extraction_end_users: int = 0

    @property
    def size(self) -> int:
        return len(self.account_ids)


def choose(rng: np.random.Generator, weights: dict[str, float], size: int) -> list[str]:
    names = list(weights)
    p = np.asarray([weights[n] for n in names], dtype=float)
    p = p / p.sum()
    return [names[i] for i in rng.choice(len(names), size=size, p=p)]


def _seed_salt(seed: int, purpose: int) -> int:
    return int(mix64(np.asarray([seed * 8 + purpose], dtype=np.uint64), 0x9E3779B97F4A7C15)[0])


def account_ids(seed: int, gid: int, count: int) -> list[str]:
    """Provider-style account ids (``org-`` + 22 base62 characters), unique by construction.

    Each group owns the counter range ``gid << 32 ...``; the mix is a bijection, so no two
    accounts of a run can share an id.
    """
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    counters = np.arange(count, dtype=np.uint64) + np.uint64(gid << 32)
    out = []
    high = mix64(counters, _seed_salt(seed, 1))
    low = mix64(counters, _seed_salt(seed, 2))
    for a, b in zip(high, low, strict=True):
        v = (int(a) << 64) | int(b)
        chars = []
        for _ in range(22):
            v, r = divmod(v, 62)
            chars.append(alphabet[r])
        out.append("org-" + "".join(chars))
    return out


def key_ids(seed: int, gid: int, count: int) -> list[str]:
    """API key ids, unique across the run (each group owns a counter range)."""
    return [f"key_{h}" for h in hex_ids(gid << 32, count, _seed_salt(seed, 3))]
