"""Subjects below the account: end users of accounts that serve many.

A reseller or an app passes its customers' ids as ``end_user``; scored as one account,
an extraction customer is diluted below every share threshold by the ordinary ones.
Each end user of an account with many of them is scored with the same signals as an
account, and the account carries its riskiest end user's risk with the reason.
"""

from __future__ import annotations

from distillguard.detectors.spec import DetectorSpec

END_USERS = DetectorSpec(
    "end_user.subjects",
    "End users scored as subjects",
    "end_user",
    "Accounts that pass at least a few distinct end-user ids have each end user scored on its own with "
    "every account-level signal; the account carries its riskiest end user's risk, scaled by the roll-up "
    "share, with that end user named in the reasons (subject_scores and findings list the end user).",
    ("an app whose single power user is a harvesting script (the account is answerable for it)",),
    {"min_end_users": 5, "rollup_share": 0.55},
    why={
        "min_end_users": "below five ids the account is its own subject: a team or a test",
        "rollup_share": "an account is answerable for what its end users collect through it, but a "
        "reseller is a customer: a harvesting end user is named for action and puts the account on watch "
        "(0.55 of a near-certain end user sits between the watch and extraction floors), while the "
        "account's own evidence decides whether it is extraction itself",
    },
)
