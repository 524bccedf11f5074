"""Several AWS accounts in one world: an access key id that is a 12-digit number signs as that account.

On AWS every access key belongs to exactly one account, and a request is served by that account's
resources. moto serves every request from one account (123456789012) unless the request names
another one (the `x-moto-account-id` header, MOTO_ACCOUNT_ID) or the key is an IAM user's it made;
a client like patchwork sends neither. So that a test can have a second account (e.g. promotion
from a staging account to a production account) with unmodified clients, the world reads the
account from the access key id when that id is 12 digits: `AWS_ACCESS_KEY_ID=222222222222` is
account 222222222222, for every service (STS GetCallerIdentity answers it, ECS/ELBv2/ECR/DynamoDB
resources live in its backends). Keys of another shape (the harness's `testing`, IAM users' AKIA…
keys) keep moto's behaviour. README: "Several accounts".
"""
from __future__ import annotations

import re
from typing import Any

_ACCOUNT_KEY = re.compile(r"^\d{12}$")
# moto's own access-key pattern wants 20 characters; SigV4's Credential= names any key id.
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def account_of_key(access_key_id: str) -> str | None:
    return access_key_id if _ACCOUNT_KEY.match(access_key_id or "") else None


def apply() -> None:
    from moto.core.responses import BaseResponse

    if getattr(BaseResponse.get_current_account, "_pw_accounts", False):
        return
    original = BaseResponse.get_current_account

    def get_current_account(self: Any) -> str:
        if "x-moto-account-id" not in self.headers:
            m = _CREDENTIAL.search(self.headers.get("Authorization", "") or "")
            account = account_of_key(m.group(1)) if m else None
            if account:
                return account
        return original(self)

    get_current_account._pw_accounts = True  # type: ignore[attr-defined]
    BaseResponse.get_current_account = get_current_account  # type: ignore[method-assign]
