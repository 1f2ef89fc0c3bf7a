"""One API exchange per scheduled event: request, response, usage, identity and network.

The exchange is a format-neutral dict (Chat Completions messages as the lingua
franca); ``writers`` turn it into LiteLLM, OTel, OpenAI-log or canonical lines.
Python runs once per event here, so every step is a handful of ``random`` calls
and string joins; all the sampling that can be vectorised happened in ``schedule``.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from distillguard.simulate import lexicon as L
from distillguard.simulate import phrases as P
from distillguard.simulate import phrases_i18n as I18N
from distillguard.simulate import prompts as T
from distillguard.simulate import shapes
from distillguard.simulate.actors import Group, Network
from distillguard.simulate.scenario import CampaignConfig, ModelSpec, PopulationConfig, Scenario

Exchange = dict[str, Any]
REASONING_CATEGORIES = ["math", "math", "general", "coding", "data_analysis"]
ORDINARY_CATEGORIES = ["general", "coding", "writing", "math", "data_analysis", "roleplay"]


@dataclass
class Request:
    system: str | None
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    image: bool = False
    response_kind: str = "text"  # text | cot | rubric | code | tool
    answer: str | None = None
    goal: str | None = None
    lang: str = "en"
    end_user: str | None = None  # set when the request builder picked the end user itself (resellers)
    campaign_id: str | None = None  # truth label of an extraction end user inside a benign account


def resold_campaign_id(g: Group) -> str:
    """Truth label of the harvesting end users inside one reseller population."""
    return f"resold-{g.label}"


def hour_of(ts_us: int) -> float:
    """Hours since the scenario start of a timestamp in µs since the start."""
    return ts_us / 3.6e9


def digest(*parts: object) -> str:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).hexdigest()


_digest = digest


class ExchangeBuilder:
    """Builds exchanges for a chunk of scheduled events (deterministic for the chunk's seed)."""

    def __init__(
        self, scenario: Scenario, groups: list[Group], net: Network, factory: T.PromptFactory
    ) -> None:
        self.s = scenario
        self.groups = groups
        self.net = net
        self.factory = factory
        self.base_models: dict[str, list[ModelSpec]] = {}
        for m in scenario.models:
            if m.released_day is None:
                self.base_models.setdefault(m.tier, []).append(m)
        self.releases = sorted(
            (m for m in scenario.models if m.released_day is not None), key=lambda m: m.released_day or 0.0
        )
        self.by_name = {m.name: m for m in scenario.models}
        self.start_us = int(scenario.start.timestamp() * 1_000_000)
        self._cats = {
            g.gid: (list(g.config.categories), np.cumsum(list(g.config.categories.values())).tolist())
            for g in groups
            if isinstance(g.config, PopulationConfig) and g.config.categories
        }

    # ------------------------------------------------------------------ entry point
    def build(self, r: random.Random, g: Group, a: int, ts_us: int, event_id: str) -> Exchange:
        cfg = g.config
        hour = hour_of(ts_us)
        if isinstance(cfg, CampaignConfig):
            req = self._campaign_request(r, g, a, cfg)
        elif g.extraction_end_users and r.random() < cfg.extraction_share:
            req = self._resold_extraction(r, g, a, cfg)
        else:
            req = self._benign_request(r, g, a, cfg, ts_us)
        model = self._model(r, g, cfg, hour)
        return self._finish(r, g, a, ts_us, event_id, cfg, req, model)

    # ----------------------------------------------------------------------- models
    def _model(
        self, r: random.Random, g: Group, cfg: PopulationConfig | CampaignConfig, hour: float
    ) -> ModelSpec:
        if isinstance(cfg, CampaignConfig) and cfg.pivot is not None:
            new = self.by_name[cfg.pivot.model]
            released = (new.released_day or 0.0) * 24
            if hour >= released:
                share = cfg.pivot.share * min(1.0, (hour - released) / max(0.1, cfg.pivot.delay_hours))
                if r.random() < share:
                    return new
        elif isinstance(cfg, PopulationConfig):
            for new in self.releases:
                since = hour - (new.released_day or 0.0) * 24 - cfg.adopt_delay_days * 24
                if since >= 0 and r.random() < cfg.adopt_new_model_share * min(1.0, 0.25 + since / 48):
                    return new
        tiers = [t for t, w in cfg.models.items() if w > 0 and t in self.base_models]
        weights = [cfg.models[t] for t in tiers]
        tier = r.choices(tiers, weights)[0] if tiers else next(iter(self.base_models))
        return r.choice(self.base_models[tier])

    # --------------------------------------------------------------------- benign
    def _benign_request(
        self, r: random.Random, g: Group, a: int, cfg: PopulationConfig, ts_us: int
    ) -> Request:
        kind = g.kind
        if kind == "ci_bots":
            return self._ci_request(r, g, a)
        if kind == "eval_harness":
            return self._eval_request(r, g, a)
        system = g.system_prompts[a]
        if r.random() < cfg.agent_tool_share and kind not in ("university",):
            return self._agentic(r, "en", None, 0.0, [a] * 8, ordinary=True)
        roll = r.random()
        if roll < cfg.grading_share:
            return Request(system, [{"role": "user", "content": T.essay(r)}], response_kind="rubric")
        if roll < cfg.grading_share + cfg.sensitive_share:
            q = r.choice(P.SENSITIVE_QUESTIONS_ZH if r.random() < 0.2 else P.SENSITIVE_QUESTIONS)
            return Request(system, [{"role": "user", "content": T.casual(r, q)}])
        names, cum = self._cats[g.gid]
        category = r.choices(names, cum_weights=cum)[0]
        lang = "zh" if category == "multilingual" else "en"
        if kind in ("university", "hackathon"):
            base = self._homework(r, g, category, ts_us)
        else:
            base = self.factory.base(r, category, lang)
        text = T.casual(r, base.text)
        kind_out = "code" if category == "coding" else "text"
        if r.random() < cfg.step_by_step_share:
            text += r.choice(
                I18N.BENIGN_STEP.get(cfg.language) or (P.BENIGN_STEP_ZH if lang == "zh" else P.BENIGN_STEP)
            )
            kind_out = "cot"
        messages = self._conversation(r, base.text, text, cfg.turns_mean, lang, category)
        return Request(
            system,
            messages,
            base.tools,
            response_kind="tool" if base.tools else kind_out,
            answer=base.answer,
            lang=lang,
        )

    def _conversation(
        self, r: random.Random, topic: str, opening: str, turns_mean: float, lang: str, category: str
    ) -> list[dict[str, Any]]:
        """A chat of geometric depth: the opening request, then replies and follow-ups; newest turn last."""
        turns = 1
        while turns < 12 and r.random() > 1.0 / max(1.0, turns_mean):
            turns += 1
        if turns == 1:
            return [{"role": "user", "content": opening}]
        if lang == "zh":
            pool = P.FOLLOWUPS_ZH
        else:
            kind = category if category in L.FOLLOWUPS_BY_CATEGORY else "general"
            pool = L.FOLLOWUPS_BY_CATEGORY[kind] if r.random() < 0.8 else P.FOLLOWUPS
        messages: list[dict[str, Any]] = [{"role": "user", "content": opening}]
        for _ in range(turns - 1):
            messages.append({"role": "assistant", "content": T.short_answer(r, topic)})
            follow = r.choice(pool).format(bug=r.choice(P.CODE_BUGS), lang=r.choice(P.LANGS))
            messages.append({"role": "user", "content": follow})
        return messages

    def _homework(self, r: random.Random, g: Group, category: str, ts_us: int) -> T.BasePrompt:
        """This week's assignment: every student of the course works on the same few problems."""
        week = int(ts_us // (7 * 24 * 3.6e9))
        course = random.Random(f"{self.s.seed}/{g.gid}/{week}/{category}")
        problems = [self.factory.base(course, category) for _ in range(6)]
        return r.choice(problems)

    def _eval_request(self, r: random.Random, g: Group, a: int) -> Request:
        cfg = g.config
        assert isinstance(cfg, PopulationConfig)
        names, cum = self._cats[g.gid]
        category = r.choices(names, cum_weights=cum)[0]
        base = self.factory.base(r, category, "zh" if category == "multilingual" else "en")
        if r.random() < cfg.grading_share:
            # LLM-as-judge runs: the same rubric wording a reward-model harvest uses, one fixed
            # template per harness (a benign look-alike of rubric grading).
            answer = T.short_answer(r, base.text)
            text = T.grammar(r, P.RUBRIC_EN, [a * 7 + i for i in range(8)], 0.0).format(
                rubric=P.RUBRIC_CRITERIA[a % len(P.RUBRIC_CRITERIA)], q=base.text[:1500], a=answer, b=answer
            )
            return Request(None, [{"role": "user", "content": text}], response_kind="rubric")
        form = P.EVAL_HARNESS_FORMATS[a % len(P.EVAL_HARNESS_FORMATS)]
        return Request(
            None,
            [{"role": "user", "content": form.format(q=base.text)}],
            response_kind="cot",
            answer=base.answer,
        )

    def _ci_request(self, r: random.Random, g: Group, a: int) -> Request:
        form = P.CI_TEMPLATES[a % len(P.CI_TEMPLATES)]
        old, new = r.sample(
            [
                "return x",
                "return x or None",
                "retries = 3",
                "retries = 5",
                "timeout=30",
                "timeout=60",
                "log.info(msg)",
                "log.debug(msg)",
            ],
            2,
        )
        text = form.format(old=old, new=new, sha=f"{r.getrandbits(28):07x}", bug=r.choice(P.CODE_BUGS))
        return Request(None, [{"role": "user", "content": text}])

    # ------------------------------------------------------------------ campaigns
    def _campaign_request(self, r: random.Random, g: Group, a: int, cfg: CampaignConfig) -> Request:
        lang = r.choices(list(cfg.languages), list(cfg.languages.values()))[0]
        if r.random() < cfg.ordinary_share:
            category = r.choice(ORDINARY_CATEGORIES)
            base = self.factory.base(r, category, lang)
            messages = self._conversation(r, base.text, T.casual(r, base.text), 1.5, lang, category)
            return Request(
                None, messages, base.tools, response_kind="tool" if base.tools else "text", lang=lang
            )
        goal = r.choices(list(cfg.goals), list(cfg.goals.values()))[0]
        p, h = cfg.paraphrase, g.house
        if goal == "cot_elicitation":
            req = self._cot(r, lang, p, h)
        elif goal == "self_critique":
            req = shapes.self_critique(self, r, lang, cfg, h)
        elif goal == "rubric_grading":
            req = self._rubric(r, lang, p, h)
        elif goal == "censorship_rewrite":
            q = r.choice(P.SENSITIVE_QUESTIONS_ZH if lang == "zh" else P.SENSITIVE_QUESTIONS)
            text = T.grammar(r, P.CENSOR_ZH if lang == "zh" else P.CENSOR_EN, h, p).format(q=q)
            req = Request(None, [{"role": "user", "content": text}], lang=lang)
        elif goal in ("agentic_coding", "computer_use"):
            req = self._agentic(r, lang, goal, p, h, ordinary=False)
        else:
            category = {"tool_use": "tool_use", "data_analysis": "data_analysis", "vision": "vision"}[goal]
            base = self.factory.base(r, category, "en")
            suffix = self._suffix(r, "zh" if T.has_cjk(base.text) else "en", p, h)
            tools = base.tools if goal == "tool_use" else None
            req = Request(
                None,
                [{"role": "user", "content": base.text + suffix}],
                tools,
                image=goal == "vision",
                response_kind="tool" if tools else "text",
                lang=lang,
            )
        req.goal = goal
        return req

    def step_suffix(self, r: random.Random, lang: str, p: float, h: list[int]) -> str:
        """The campaign's 'solve it completely' suffix (its house wording, or a fresh one)."""
        return self._suffix(r, lang, p, h)

    def _resold_extraction(self, r: random.Random, g: Group, a: int, cfg: PopulationConfig) -> Request:
        """A harvesting end user of a reseller: a campaign request under the reseller's account."""
        harvest = CampaignConfig(
            name=f"{g.label}-resold", events=0, accounts=1, goals=cfg.extraction_goals, languages={"en": 1.0}
        )
        house = [a * 13 + i for i in range(8)]  # one script per reseller account
        goal = r.choices(list(harvest.goals), list(harvest.goals.values()))[0]
        if goal == "rubric_grading":
            req = self._rubric(r, "en", harvest.paraphrase, house)
        elif goal == "self_critique":
            req = shapes.self_critique(self, r, "en", harvest, house)
        else:
            req = self._cot(r, "en", harvest.paraphrase, house)
        req.goal = goal
        req.system = g.system_prompts[a]  # the reseller's own product prompt still wraps the request
        req.end_user = shapes.resold_end_user(
            g.account_ids[a], r.randrange(g.extraction_end_users), extraction=True
        )
        req.campaign_id = resold_campaign_id(g)
        return req

    def _suffix(self, r: random.Random, lang: str, p: float, h: list[int], *, agent: bool = False) -> str:
        if agent:
            pool = P.AGENT_SUFFIX_ZH if lang == "zh" else P.AGENT_SUFFIX_EN
        else:
            pool = P.SWEEP_SUFFIX_ZH if lang == "zh" else P.SWEEP_SUFFIX_EN
        return pool[r.randrange(len(pool))] if r.random() < p else pool[h[5] % len(pool)]

    def _cot(self, r: random.Random, lang: str, p: float, h: list[int]) -> Request:
        if lang in I18N.COT:  # a translated wrapper around a question from the English pools
            base = self.factory.base(r, r.choice(REASONING_CATEGORIES), "en")
            wrapper = T.grammar(r, I18N.COT[lang], h, p)
            before = (r.random() < 0.5) if r.random() < p else bool(h[7] % 2)
            text = f"{wrapper}\n\n{base.text}" if before else f"{base.text}\n\n{wrapper}"
            answer = base.answer or str(r.randint(2, 999))
            return Request(
                None, [{"role": "user", "content": text}], response_kind="cot", answer=answer, lang=lang
            )
        variant = r.random()
        base = self.factory.base(r, r.choice(REASONING_CATEGORIES), lang)
        answer = base.answer or str(r.randint(2, 999))
        if variant < 0.25:
            slots = P.COT_RECONSTRUCT_ZH if lang == "zh" else P.COT_RECONSTRUCT_EN
            head = T.grammar(r, slots, h[3:], p)
            label = ("问题", "答案") if lang == "zh" else ("Question", "Final answer")
            text = f"{head}\n\n{label[0]}: {base.text}\n{label[1]}: {answer}"
        else:
            slots = P.COT_ZH if lang == "zh" else P.COT_EN
            wrapper = T.grammar(r, slots, h, p)
            if lang == "en" and variant > 0.8:
                wrapper += r.choice(P.COT_LANGUAGE_EN) if r.random() < p else P.COT_LANGUAGE_EN[h[6] % 4]
                base = self.factory.base(r, "multilingual", "zh") if r.random() < 0.5 else base
            before = (r.random() < 0.5) if r.random() < p else bool(h[7] % 2)
            text = f"{wrapper}\n\n{base.text}" if before else f"{base.text}\n\n{wrapper}"
        return Request(
            None, [{"role": "user", "content": text}], response_kind="cot", answer=answer, lang=lang
        )

    def _rubric(self, r: random.Random, lang: str, p: float, h: list[int]) -> Request:
        q = self.factory.base(r, r.choice(["general", "coding", "math", "writing"]), lang).text
        slots = P.RUBRIC_ZH if lang == "zh" else P.RUBRIC_EN
        text = T.grammar(r, slots, h, p).format(
            rubric=r.choice(P.RUBRIC_CRITERIA), q=q[:1500], a=T.short_answer(r, q), b=T.short_answer(r, q)
        )
        return Request(None, [{"role": "user", "content": text}], response_kind="rubric", lang=lang)

    def _agentic(
        self, r: random.Random, lang: str, goal: str | None, p: float, h: list[int], *, ordinary: bool
    ) -> Request:
        """A coding or computer-use agent step: system prompt, tool schemas and tool-call history."""
        computer = goal == "computer_use"
        systems = P.COMPUTER_SYSTEM if computer else P.AGENT_SYSTEM
        system = (
            systems[r.randrange(len(systems))] if ordinary or r.random() < p else systems[h[0] % len(systems)]
        )
        category = "computer_use" if computer else ("agentic" if r.random() < 0.5 else "coding")
        # Chinese-speaking operators write some tasks in Chinese, most in English.
        base = self.factory.base(r, category, lang if r.random() < 0.5 else "en")
        suffix_lang = "zh" if T.has_cjk(base.text) else "en"
        task = base.text if ordinary else base.text + self._suffix(r, suffix_lang, p, h, agent=True)
        messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
        tools = T.COMPUTER_TOOLS if computer else T.AGENT_TOOLS
        for step in range(r.randint(0, 7)):
            call_id = f"call_{r.getrandbits(48):012x}"
            fn = tools[r.randrange(len(tools))]["function"]["name"]
            args = json.dumps(
                {"path": f"src/{r.choice(P.IDENTIFIERS)}.py"}
                if not computer
                else {
                    "action": r.choice(["screenshot", "left_click", "type"]),
                    "coordinate": [r.randint(0, 1919), r.randint(0, 1079)],
                }
            )
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": call_id, "type": "function", "function": {"name": fn, "arguments": args}}
                    ],
                }
            )
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call_id,
                    "content": f"step {step}: " + " ".join(r.sample(T.FILLER, 2)),
                }
            )
        return Request(system, messages, tools, image=computer and r.random() < 0.5, response_kind="tool")

    # ------------------------------------------------------------------- finish
    def _finish(
        self,
        r: random.Random,
        g: Group,
        a: int,
        ts_us: int,
        event_id: str,
        cfg: PopulationConfig | CampaignConfig,
        req: Request,
        model: ModelSpec,
    ) -> Exchange:
        s = self.s
        key = g.keys[int(g.key_start[a]) + r.randrange(int(g.key_count[a]))]
        if g.uses_pool[a]:
            prefix, host = int(g.pool[r.randrange(len(g.pool))]), r.randrange(1, 255)
        else:
            j = r.randrange(int(g.ip_n[a]))
            prefix, host = int(g.ip_prefix[a, j]), int(g.ip_host[a, j])
            host = host if host >= 0 else r.randrange(1, 255)
        sdk = g.sdks[a]
        reasoning_model = model.tier == "reasoning"
        if isinstance(cfg, CampaignConfig):
            max_tokens: int | None = cfg.max_tokens
            if r.random() < cfg.paraphrase * 0.5:  # a careful harness varies its parameters too
                max_tokens = r.choice([None, 4096, 8192, cfg.max_tokens])
            temperature: float | None = r.choice([0.6, 0.7, 1.0]) if r.random() < cfg.paraphrase else 0.7
            effort = cfg.reasoning_effort if reasoning_model else None
        else:
            if cfg.max_tokens:
                max_tokens = cfg.max_tokens
            elif req.tools and req.system:  # coding agents ask for long outputs too
                max_tokens = r.choice([8192, 16384, 32000, 32000, 64000])
            else:
                max_tokens = r.choice(
                    [None, None, 512, 1024, 2048, 4096, 8192, 16000 if reasoning_model else 4096]
                )
            temperature = (
                0.0 if g.kind in ("eval_harness", "ci_bots") else r.choice([None, None, 0.2, 0.7, 1.0])
            )
            effort = r.choice([None, "low", "medium", "medium", "high"]) if reasoning_model else None
        stream = r.random() < cfg.stream_share
        logprobs = not reasoning_model and r.random() < cfg.logprobs_share  # reasoning models refuse them
        text_chars = sum(len(m["content"] or "") for m in req.messages) + len(req.system or "")
        per_token = 1.6 if req.lang in I18N.DENSE_SCRIPTS else 4.0
        input_tokens = int(text_chars / per_token) + 60 * len(req.tools or []) + (850 if req.image else 0) + 8
        median = cfg.output_tokens_median
        if not isinstance(cfg, CampaignConfig) and req.tools and req.system:
            median *= 3  # an agent writing files and plans
        output = max(4, int(r.lognormvariate(0.0, 0.7) * median))
        finish = "stop"
        if max_tokens is not None and output >= max_tokens:
            output, finish = max_tokens, "length"
        reasoning = 0
        if reasoning_model:
            share = {"high": 0.75, "medium": 0.5, "low": 0.25}.get(effort or "medium", 0.5)
            reasoning = int(output * share * r.uniform(0.7, 1.0))
        cached = int(input_tokens * r.uniform(0.3, 0.9)) if (req.system and r.random() < 0.6) else 0
        status, code = "success", 200
        response: str | None = None
        tool_calls: list[dict[str, Any]] | None = None
        finish_reason: str | None = finish
        if hour_of(ts_us) >= g.banned_at[a]:
            # Banned mid-hour: the harness keeps sending until it rotates to a fresh account.
            status, code, finish_reason = "error", 403, None
            output = reasoning = 0
        elif r.random() < s.error_share:
            status, code, finish_reason = "error", r.choice([429, 429, 429, 500, 503]), None
            output = reasoning = 0
        elif req.response_kind == "tool" and req.tools and r.random() < 0.7:
            fn = req.tools[r.randrange(len(req.tools))]["function"]["name"]
            tool_calls = [
                {
                    "id": f"call_{r.getrandbits(48):012x}",
                    "type": "function",
                    "function": {"name": fn, "arguments": json.dumps({"query": fn})},
                }
            ]
            finish_reason = "tool_calls"
        else:
            chars = min(s.response_max_chars, int(max(1, output - reasoning) * per_token))
            kind = req.response_kind if req.response_kind != "tool" else "code"
            response = T.response_text(r, kind, req.lang, chars, req.answer)
        latency_ms = round(r.uniform(180, 900) + output * r.uniform(6, 22), 1)
        cost = (input_tokens * model.price_in_per_mtok + output * model.price_out_per_mtok) / 1e6
        end_user = req.end_user
        ecfg = g.config
        if end_user is not None:
            pass
        elif isinstance(ecfg, PopulationConfig) and g.extraction_end_users:
            end_user = shapes.resold_end_user(
                g.account_ids[a],
                r.randrange(ecfg.end_users_per_account - g.extraction_end_users),
                extraction=False,
            )
        elif (
            isinstance(ecfg, PopulationConfig)
            and ecfg.end_users_per_account
            and ecfg.end_user_spread == "uniform"
        ):
            end_user = "eu_" + _digest(g.account_ids[a], r.randrange(1, ecfg.end_users_per_account + 1))
        elif isinstance(ecfg, PopulationConfig) and ecfg.end_users_per_account:
            end_user = "eu_" + _digest(
                g.account_ids[a], min(int(r.paretovariate(0.8)), ecfg.end_users_per_account)
            )
        day = ts_us // 86_400_000_000
        session = "sess_" + _digest(g.account_ids[a], day, r.randrange(6)) if len(req.messages) > 1 else None
        prompt_text = next((m["content"] for m in reversed(req.messages) if m["role"] == "user"), None)
        return {
            "event_id": event_id,
            "ts_us": self.start_us + ts_us,
            "latency_ms": latency_ms,
            "account_id": g.account_ids[a],
            "project_id": g.projects[a],
            "api_key_id": key,
            "end_user_id": end_user,
            "session_id": session,
            "client_ip": self.net.address(prefix, host),
            "asn": self.net.asn[prefix],
            "country": self.net.country[prefix],
            "sdk": sdk,
            "model_requested": model.name,
            "model_served": model.name,
            "temperature": temperature,
            "top_p": None,
            "max_tokens": max_tokens,
            "n": 1,
            "seed": 1234 if g.kind == "eval_harness" else None,
            "stream": stream,
            "logprobs": logprobs,
            "tools": req.tools,
            "reasoning_effort": effort,
            "system": req.system,
            "messages": req.messages,
            "image": req.image,
            "prompt_text": prompt_text,
            "response_text": response,
            "tool_calls": tool_calls,
            "input_tokens": input_tokens,
            "output_tokens": output,
            "reasoning_tokens": reasoning,
            "cached_tokens": cached,
            "cost_usd": round(cost, 8),
            "status": status,
            "status_code": code,
            "finish_reason": finish_reason,
            "goal": req.goal,
            "truth_campaign_id": req.campaign_id or g.campaign_id,  # ground truth only, never written out
        }
