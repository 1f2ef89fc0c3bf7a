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
    "every account-level signal; the account's risk is at least its riskiest end user's, with that end "
    "user named in the reasons.",
    ("an app whose single power user is a harvesting script (the account is answerable for it)",),
    {"min_end_users": 5, "rollup_share": 1.0},
    why={
        "min_end_users": "below five ids the account is its own subject: a team or a test",
        "rollup_share": "an account is answerable for what its end users collect through it",
    },
)
