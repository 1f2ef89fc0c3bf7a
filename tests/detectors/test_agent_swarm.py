"""A swarm harvesting agent transcripts, its silent members, and the developers beside it.

- Fresh accounts, two to four requests each within an hour or two, every one from its own
  address and client, each asking an agent task no other account asked: a cohort of the
  'tool' kind, flagged as a campaign, though nothing they send is a reasoning trace or a grade.
- Swarm accounts of the same window whose requests were all ordinary (the cover a swarm hides
  among): at least watched, by the company they keep and how they were used (with nothing of
  their own that alone is watch; here their fresh sign-ups and big token limits add to it).
- Developers who signed up the same day and use tools over several days: not members, `ok`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.detectors.test_pipeline_planted import (
    START,
    Planted,
    _Builder,
    account_scores,
    build,
    extend,
    load,
    scan_planted,
    stand_in_prompt_level,
)

from distillguard.config import Config
from distillguard.detectors.cohort import SPEC as COHORT
from distillguard.scan import pipeline
from distillguard.warehouse import Warehouse

PLAIN = (0.0, 0.0, 0.0)
# The cover a swarm hides among: ordinary requests with nothing in common between accounts.
COVER = (
    "What is a good name for a bakery?",
    "Translate good morning into Italian",
    "How long should I boil an egg",
    "Recommend a sci-fi novel about oceans",
    "Why is the sky blue at noon but red at dusk",
    "Draft a two-line birthday note for my aunt",
    "Which is bigger, a liter or a quart",
    "Give me three stretches for a stiff neck",
    "What year did the Berlin wall fall",
    "Suggest a weekend hike near a lake",
    "How do plants drink water",
    "Convert 30 miles to kilometers",
)


def _agent_swarm(
    b: _Builder,
    *,
    size: int = 70,
    silent_every: int = 7,
    scripted: bool = False,
    wrapper: bool = True,
    client: str | None = None,
    own_clients: bool = False,
    shared_every: int = 0,
) -> tuple[list[str], list[str]]:
    """``scripted``: one script runs every account, harvesting or cover: one wrapper (template
    family, unless ``wrapper`` is off) and one request shape for all; otherwise each account has
    its own settings. ``client``: one client build for all, else a dozen agent client versions,
    or with ``own_clients`` a build no other account uses (a realistic fingerprint per account).
    ``shared_every``: every that many accounts re-ask, as their first task, the first task of the
    account before them (a swarm drawing from public sets repeats some items)."""
    harvesting, silent = [], []
    name = "sc" if scripted else "ag"
    for i in range(size):
        account = b.account(
            f"acct-{name}{i:03d}",
            created=START - timedelta(hours=20, minutes=-3 * i),
            plan=("free", "paygo")[i % 2],
            verification="email",
            payment=f"card-{name}-{i}",
        )
        quiet = i % silent_every == 0
        (silent if quiet else harvesting).append(account)
        for k in range(2 + i % 3):
            b.event(
                account,
                START + timedelta(hours=2 + (i % 20), minutes=k * 17),
                COVER[(i // silent_every + 5 * k) % len(COVER)]
                if quiet
                else f"Use the tools to fix the failing test in repo {_repo(i, k, shared_every)}, "
                f"module {k}, then explain the patch",
                ip=f"100.{64 + i % 60}.{i}.{k + 10}",  # each its own residential address
                scores=PLAIN,
                capability="general" if quiet else "tool_use",
                template="tf-swarm-wrapper" if scripted and wrapper else None,
                # unscripted, every account its own settings: no shared shape
                max_tokens=16000 if scripted else 16000 + 31 * i,
                temperature=0.4 if scripted else round(0.4 + 0.005 * i, 3),
                output_tokens=1800,
                messages=1 if quiet else 6,
                sdk=client or (f"agent-client/{i}.{k}" if own_clients else f"agent-client/{i % 13}.{k}"),
                asn=f"AS{66000 + i}",
            )
    return harvesting, silent


def _repo(account: int, task: int, shared_every: int) -> int:
    """The repository an account's task names: its own, or its predecessor's for a re-asked item."""
    return account - 1 if shared_every and task == 0 and account % shared_every == 1 else account


def _returning_developers(b: _Builder, count: int = 6) -> list[str]:
    ids = []
    for i in range(count):
        account = b.account(
            f"acct-dev{i}",
            created=START - timedelta(hours=18),
            plan="paygo",
            verification="phone",
            payment=f"card-dev-{i}",
        )
        ids.append(account)
        for day in range(3):
            for k in range(2):
                b.event(
                    account,
                    START + timedelta(days=day, hours=3 + i, minutes=40 * k),
                    f"Wire tool {k} into my CLI project {i} (day {day})",
                    ip=f"198.51.{100 + i}.{7 + k}",
                    scores=PLAIN,
                    capability="tool_use",
                    template=None,
                    max_tokens=4096,
                    temperature=0.2,
                    output_tokens=700,
                    messages=5,
                    session=f"s-dev{i}-{day}",
                    sdk="python/1.40.2;darwin;arm64",
                    asn="AS64501",
                )
    return ids


@pytest.fixture
def planted(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> tuple[Planted, dict[str, list[str]]]:
    data = build()
    b = extend(data)
    harvesting, silent = _agent_swarm(b)
    groups = {"harvesting": harvesting, "silent": silent, "developers": _returning_developers(b)}
    load(warehouse, data)
    stand_in_prompt_level(monkeypatch)
    return data, groups


def test_an_agent_swarm_is_a_campaign_its_silent_members_are_watched_and_developers_are_not(
    warehouse: Warehouse, config: Config, planted: tuple[Planted, dict[str, list[str]]]
) -> None:
    _, groups = planted
    pipeline.scan(warehouse, config)
    scores = account_scores(warehouse)

    harvesting = [scores[a] for a in groups["harvesting"]]
    flagged = [r for r in harvesting if r["verdict"] == "extraction"]
    assert len(flagged) >= 0.9 * len(harvesting), sorted(r["risk"] for r in harvesting)[:10]
    assert all(
        any("agent and tool-use transcripts" in x for x in r["reasons"] if x.startswith("cohort.member"))
        for r in flagged
    ), flagged[0]["reasons"]

    silent = [scores[a] for a in groups["silent"]]
    assert "ok" not in {r["verdict"] for r in silent}, [(r["account_id"], r["reasons"]) for r in silent][:2]
    assert all(any(x.startswith("cohort.silent_member") for x in r["reasons"]) for r in silent)

    developers = [scores[a] for a in groups["developers"]]
    assert {r["verdict"] for r in developers} == {"ok"}, [(r["account_id"], r["reasons"]) for r in developers]


def _new_developer_on_popular_settings(b: _Builder) -> str:
    """Signed up the same morning; the swarm's request shape (popular defaults) and nothing else."""
    account = b.account(
        "acct-newdev",
        created=START - timedelta(hours=19),
        plan="paygo",
        verification="email",
        payment="card-nd",
    )
    for k in range(3):
        b.event(
            account,
            START + timedelta(hours=4, minutes=20 * k),
            COVER[(3 + k) % len(COVER)],
            ip=f"198.51.77.{k + 3}",
            scores=PLAIN,
            capability="general",
            template=None,
            max_tokens=16000,
            temperature=0.4,
            output_tokens=900,
            messages=1,
            sdk="python/1.40.2;linux;x86_64",
            asn="AS64502",
        )
    return account


def test_silent_members_sharing_the_swarms_script_are_extraction_one_shared_setting_is_not_a_tie(
    warehouse: Warehouse, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = build()
    b = extend(data)
    harvesting, silent = _agent_swarm(b, size=56, scripted=True)
    developer = _new_developer_on_popular_settings(b)
    scores = scan_planted(warehouse, config, monkeypatch, data)
    assert sum(scores[a]["verdict"] == "extraction" for a in harvesting) >= 0.9 * len(harvesting)
    quiet = [scores[a] for a in silent]
    assert {r["verdict"] for r in quiet} == {"extraction"}, [(r["account_id"], r["risk"]) for r in quiet]
    assert all(any("one of the cohort's accounts" in x for x in r["reasons"]) for r in quiet), quiet[0]
    # one shared setting does not make a newcomer one of them: it is judged by its window alone
    newcomer = scores[developer]
    assert not any("one of the cohort's accounts" in x for x in newcomer["reasons"]), newcomer["reasons"]
    assert newcomer["cohort_logit"] < min(r["cohort_logit"] for r in quiet)


def test_silent_members_on_the_swarms_settings_and_client_build_are_extraction_a_newcomer_is_not(
    warehouse: Warehouse, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No wrapper: the swarm's script shows in its settings and its own client build. A silent
    account holding both is one of its accounts; a newcomer who signed up the same morning on the
    same (popular) settings and an ordinary client shares one kind (the burst does not count), and
    takes only what its window gives."""
    data = build()
    b = extend(data)
    harvesting, silent = _agent_swarm(b, size=56, scripted=True, wrapper=False, client="swarm-runner/0.9.1")
    developer = _new_developer_on_popular_settings(b)
    scores = scan_planted(warehouse, config, monkeypatch, data)
    assert sum(scores[a]["verdict"] == "extraction" for a in harvesting) >= 0.9 * len(harvesting)
    quiet = [scores[a] for a in silent]
    assert {r["verdict"] for r in quiet} == {"extraction"}, [(r["account_id"], r["risk"]) for r in quiet]
    tied = "one of the cohort's accounts"
    assert all(any(tied in x and "(sdk, shape)" in x for x in r["reasons"]) for r in quiet), quiet[0]
    newcomer = scores[developer]
    assert not any("one of the cohort's accounts" in x for x in newcomer["reasons"]), newcomer["reasons"]
    assert newcomer["cohort_logit"] < min(r["cohort_logit"] for r in quiet)


def _newcomers(b: _Builder, count: int, *, name: str = "new") -> list[str]:
    """New accounts of the swarm's window, each used for two ordinary requests an hour apart on
    its own settings and client: a course's students, or ordinary sign-ups of the day."""
    ids = []
    for i in range(count):
        account = b.account(
            f"acct-{name}{i:03d}",
            created=START - timedelta(hours=15, minutes=7 * i),
            plan="free",
            verification="email",
            payment=f"card-{name}-{i}",
        )
        ids.append(account)
        for k in range(2):
            b.event(
                account,
                START + timedelta(hours=3 + i % 15, minutes=60 * k),
                f"{COVER[(i + k) % len(COVER)]} ({name} {i})",
                ip=f"203.0.{i % 250}.{k + 20}",
                scores=PLAIN,
                capability="general",
                template=None,
                max_tokens=1024 + 8 * i,
                temperature=1.0,
                output_tokens=400,
                messages=1,
                sdk=f"python/1.{30 + i % 20}.{k}",
                asn=f"AS{65000 + i}",
            )
    return ids


def test_a_swarm_whose_silent_half_shares_its_settings_is_not_excused_by_its_own_silence(
    warehouse: Warehouse, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half the swarm's accounts sent only cover, each on its own client build: all they share
    with the members is the script's request shape. Counted against the members, those silent
    accounts made the swarm's window look half pure and excused themselves; each of them shares
    the members' settings, so the window is the swarm's, and they are at least watched. A
    newcomer of the same day on its own settings shares nothing and is not."""
    data = build()
    b = extend(data)
    harvesting, silent = _agent_swarm(
        b, size=70, silent_every=2, scripted=True, wrapper=False, own_clients=True
    )
    (newcomer,) = _newcomers(b, 1)
    scores = scan_planted(warehouse, config, monkeypatch, data)
    assert sum(scores[a]["verdict"] == "extraction" for a in harvesting) >= 0.9 * len(harvesting)
    quiet = [scores[a] for a in silent]
    assert "ok" not in {r["verdict"] for r in quiet}, sorted((r["risk"], r["account_id"]) for r in quiet)[:3]
    # the window's weight, not nothing: before, a half-silent swarm's window gave them none
    assert min(r["cohort_logit"] for r in quiet) > 1.0, sorted(r["cohort_logit"] for r in quiet)[:3]
    tied = "share the members' values, as it does"
    assert all(any(tied in x and "(shape)" in x for x in r["reasons"]) for r in quiet), quiet[0]["reasons"]
    assert scores[newcomer]["verdict"] == "ok", scores[newcomer]["reasons"]
    assert scores[newcomer]["cohort_logit"] == 0.0, scores[newcomer]["reasons"]


def test_a_class_in_the_swarms_window_keeps_it_impure_for_an_account_sharing_one_setting(
    warehouse: Warehouse, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same swarm, on a day when a class of a hundred students signed up and sent a couple of
    ordinary requests each: most of the window's new accounts share nothing with the members, and
    one shared setting is not enough to single out a silent account among them."""
    data = build()
    b = extend(data)
    _, silent = _agent_swarm(b, size=70, silent_every=2, scripted=True, wrapper=False, own_clients=True)
    students = _newcomers(b, 100, name="student")
    scores = scan_planted(warehouse, config, monkeypatch, data)
    assert {scores[a]["verdict"] for a in students} == {"ok"}
    window = sorted(scores[a]["cohort_logit"] for a in silent)
    assert window[-1] < 1.0, window[-3:]
    assert {scores[a]["verdict"] for a in silent} == {"ok"}, sorted(scores[a]["risk"] for a in silent)[-3:]


_GROUPS = ("dl", "ow", "so")


def _diluted(b: _Builder, name: str, *, scripted: bool, wrapper: bool = True, count: int = 4) -> list[str]:
    """Accounts of the swarm's window whose one agent task hides among three ordinary requests
    (a quarter of agent work: below ``member_tool_low``, the share of a developer trying tools).
    ``scripted``: the swarm's settings (its request shape), and its wrapper unless ``wrapper`` is
    off."""
    ids = []
    for i in range(count):
        account = b.account(
            f"acct-{name}{i}",
            created=START - timedelta(hours=19, minutes=5 * i),
            plan="free",
            verification="email",
            payment=f"card-{name}-{i}",
        )
        ids.append(account)
        for k in range(4):
            agent = k == 1
            b.event(
                account,
                START + timedelta(hours=3 + i, minutes=15 * k),
                # each account its own wording: no prompt scaffold shared between them
                f"{('Use the tools to fix', 'Track down and repair', 'Debug', 'Find and patch')[i % 4]}"
                f" the failing test in repo {name}{i}, then explain the patch"
                if agent
                else COVER[(i + 4 * k) % len(COVER)],
                # each group on its own network and client build: they share nothing but what
                # ``scripted`` gives them (the same index must not tie one group to another)
                ip=f"100.{120 + 4 * _GROUPS.index(name) + i}.{i}.{k + 10}",
                scores=PLAIN,
                capability="tool_use" if agent else "general",
                template="tf-swarm-wrapper" if scripted and wrapper else None,
                max_tokens=16000 if scripted else 9000 + 17 * i,
                temperature=0.4 if scripted else 0.9,
                output_tokens=1800 if agent else 300,
                messages=6 if agent else 1,
                sdk=f"{name}-client/{i}.{k}",
                asn=f"AS{67000 + i}",
            )
    return ids


def test_a_member_sharing_the_swarms_script_takes_its_cohort_in_full_whatever_its_own_mix(
    warehouse: Warehouse, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = build()
    b = extend(data)
    _agent_swarm(b, size=56, scripted=True)
    scripted = _diluted(b, "dl", scripted=True)
    own_settings = _diluted(b, "ow", scripted=False)
    settings_only = _diluted(b, "so", scripted=True, wrapper=False)
    scores = scan_planted(warehouse, config, monkeypatch, data)
    tied = [scores[a] for a in scripted]
    assert all(any("shares the members' script" in x for x in r["reasons"]) for r in tied), tied[0]["reasons"]
    assert {r["verdict"] for r in tied} == {"extraction"}, [(r["account_id"], r["risk"]) for r in tied]
    # the same mix on its own settings, or on the swarm's settings alone (popular defaults are no
    # script), takes nothing from the cohort: a developer trying tools
    alone = [scores[a] for a in own_settings + settings_only]
    assert all(r["cohort_logit"] == 0.0 for r in alone), [(r["account_id"], r["cohort_logit"]) for r in alone]
    assert all(scores[a]["verdict"] != "extraction" for a in own_settings)


# Agent tasks of developers trying tools on their own code: each its own wording.
OWN_TASKS = (
    ("Refactor the payment webhook handler to retry on timeouts", "Add a unit test for the retry path",
     "Explain why the mock never fires"),
    ("Migrate my flask blueprint to fastapi routers", "Find where the session cookie gets dropped",
     "Summarise the diff you made"),
    ("Port this bash deploy script to a makefile", "Why does the docker cache miss every time",
     "Pin the base image and rebuild"),
    ("Hunt the memory leak in my websocket server", "Profile the reconnect loop",
     "Write the fix as a patch"),
)


def _developers_in_the_window(b: _Builder) -> list[str]:
    """New developers who signed up in the swarm's window and tried an agent on their own code,
    in one session each: own wording, settings, client and network."""
    ids = []
    for i, tasks in enumerate(OWN_TASKS):
        account = b.account(
            f"acct-try{i}", created=START - timedelta(hours=19), plan="paygo", verification="phone",
            payment=f"card-try-{i}",
        )
        ids.append(account)
        for k, task in enumerate(tasks):
            b.event(
                account,
                START + timedelta(hours=5 + i, minutes=20 * k),
                task,
                ip=f"198.18.{40 + i}.{k + 2}",
                scores=PLAIN,
                capability="tool_use",
                template=None,
                max_tokens=8000 + 512 * i,
                temperature=0.7,
                output_tokens=1500,
                messages=6,
                sdk=f"devtool/{i}.{k}",
                asn=f"AS{68000 + i}",
            )
    return ids


def test_a_swarm_repeating_some_items_is_judged_by_its_tied_members_coverage(
    warehouse: Warehouse, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A swarm re-asks some of its items (drawing from public sets), which holds the cohort under
    its strict coverage ramp. Its accounts run one script (settings, client build, wording) and
    are tied to each other the way a young cluster's members are, so they take the cohort's
    coverage as a swarm's. Developers who signed up in the same window and tried agents on their
    own code are members too, tied to no one: they keep the strict ramp."""
    data = build()
    b = extend(data)
    harvesting, _ = _agent_swarm(
        b, size=70, scripted=True, wrapper=False, client="swarm-runner/0.9.1", shared_every=3
    )
    developers = _developers_in_the_window(b)
    scores = scan_planted(warehouse, config, monkeypatch, data)
    tied = "tied to fellow members"
    members = [scores[a] for a in harvesting if scores[a]["cohort_logit"] > 0]
    assert len(members) >= 0.8 * len(harvesting)
    assert sum(r["verdict"] == "extraction" for r in members) >= 0.9 * len(members)
    assert all(any(tied in x for x in r["reasons"]) for r in members), members[0]["reasons"]
    # each sends only agent work: it takes the cohort in full, its repeats notwithstanding
    assert min(r["cohort_logit"] for r in members) >= 0.9 * float(COHORT.parameters["weight"])
    trying = [scores[a] for a in developers]
    assert all(r["cohort_logit"] > 0 for r in trying), "the developers are members of the window's cohort"
    assert not any(tied in x for r in trying for x in r["reasons"])
    assert max(r["cohort_logit"] for r in trying) < min(r["cohort_logit"] for r in members)
    assert "extraction" not in {r["verdict"] for r in trying}, [(r["account_id"], r["risk"]) for r in trying]
