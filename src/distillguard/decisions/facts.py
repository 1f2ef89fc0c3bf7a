"""What the policy sees about one live request: facts gathered by the service.

The service (``serve/``) fills this from the request, the state store (scan
verdicts, partner intel, account records) and its live counters; the policy turns
it into decision rows. Keeping the facts a plain value makes the policy a pure
function that tests can drive without a server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from distillguard.decisions.model import Decision
from distillguard.rules import ELICITATION_THRESHOLD

# A prompt counts as elicitation (reasoning traces, grading, rewrites) from this score on,
# in the live counters and the live rules alike: the scan's own threshold (rules).
ELICITATION_COUNTED = ELICITATION_THRESHOLD


@dataclass(frozen=True)
class AccountRecord:
    """The account-file columns the policy uses (plan and verification pathway matter)."""

    account_id: str
    plan: str | None = None
    verification: str | None = None
    country: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class LiveCounters:
    """Online counts for the request's account and IP prefix, this request included."""

    account_requests_1m: int = 0
    account_requests_1h: int = 0
    account_elicitation_1h: int = 0  # requests whose prompt scored as elicitation/grading/rewrite
    prefix_requests_1m: int = 0
    # the requests of every member account of the request's flagged cluster together: a
    # hydra's accounts are each light, so a budget only bites when it counts them as one
    cluster_requests_1m: int = 0
    cluster_requests_1h: int = 0
    prefix_new_accounts_1h: int = 0  # distinct accounts first seen on this prefix in the last hour
    # distinct new accounts that sent elicitation/grading/rewrite prompts with this request's
    # fingerprint (model and explicit generation parameters) in the last hour: one script
    # driving many fresh accounts, whatever addresses it rotates through
    fingerprint_new_elicited_accounts_1h: int = 0

    @property
    def account_elicitation_share_1h(self) -> float:
        return self.account_elicitation_1h / self.account_requests_1h if self.account_requests_1h else 0.0


@dataclass(frozen=True)
class RequestFacts:
    now: datetime
    account_id: str
    api_key_hash: str | None = None
    ip_prefix_hash: str | None = None
    # the raw address is seen live (never stored): policy allowlists and region rules match CIDRs
    client_ip: str | None = None
    end_user_id: str | None = None
    model: str | None = None
    country: str | None = None  # where the request comes from (gateway header or geo lookup)
    on_behalf_of_country: str | None = None  # a header naming the end user's country, when sent
    asn: str | None = None
    user_agent: str | None = None
    account: AccountRecord | None = None
    # rows the state store holds for this request's subjects: scan verdicts, partner
    # intel, earlier live decisions (account, api_key, ip_prefix, cluster, global)
    known: tuple[Decision, ...] = ()
    cluster_id: str | None = None
    counters: LiveCounters = field(default_factory=LiveCounters)
    # this prompt's scores from the shared prompt matcher (0..1 each)
    cot_elicitation: float = 0.0
    rubric_grading: float = 0.0
    censorship_rewrite: float = 0.0
    capability: str = "general"
    prompt_evidence: tuple[str, ...] = ()
    # what the request asks for, so degrade can withhold it
    max_tokens: int | None = None
    logprobs: bool = False
    reasoning_requested: bool = False

    @property
    def elicitation(self) -> float:
        return max(self.cot_elicitation, self.rubric_grading, self.censorship_rewrite)
