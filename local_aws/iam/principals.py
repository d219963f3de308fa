"""Who signed a request: an IAM user's access key or a role session's temporary credentials.

The keys are moto's own: CreateAccessKey stores a user's key in the IAM backend of its account,
AssumeRole (sts) stores an ``ASIA...`` key there with the role's ARN. A key neither minted is the
account's own (moto's default ``testing``, the project's ``local``): `principal_for_key` answers
None for it and the caller treats it as the account root, which no identity policy restricts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROOT, USER, ROLE = "root", "user", "role"


@dataclass(frozen=True)
class Principal:
    """An IAM identity and the policies that speak for it.

    :param arn: the user's ARN, or the role's ARN for a role session
    :param caller_arn: what AWS names in "User: ... is not authorized": the user, or the session
        (``arn:aws:sts::<account>:assumed-role/<role>/<session>``)
    :param identity_policies: the text of every identity policy (inline and attached, the user's
        groups' too)
    :param boundary: the text of the permissions boundary, None when there is none
    """

    kind: str
    arn: str
    account_id: str
    name: str
    caller_arn: str
    user_id: str = ""
    identity_policies: tuple[str, ...] = ()
    boundary: str | None = None
    session_name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def session_arn(self) -> str | None:
        return self.caller_arn if self.kind == ROLE else None


def _iam_backends() -> Any:
    from moto.iam.models import iam_backends

    return iam_backends


def _default_document(managed: Any) -> str:
    for version in getattr(managed, "versions", []):
        if getattr(version, "is_default", False):
            return str(version.document)
    return str(getattr(managed, "document", "") or "")


def _managed_document(backend: Any, arn: str) -> str | None:
    managed = backend.managed_policies.get(arn)
    return _default_document(managed) if managed is not None else None


def _documents(entity: Any) -> list[str]:
    inline = [str(text) for text in list(entity.policies.values())]
    attached = [_default_document(p) for p in list(entity.managed_policies.values())]
    return inline + attached


# moto answers every GetSessionToken / GetFederationToken with AWS's documentation example key,
# whoever asked: it cannot be tied to the caller, so it speaks for no one (never for the root).
SHARED_SESSION_KEY = "AKIAIOSFODNN7EXAMPLE"


def principal_for_key(access_key_id: str) -> Principal | None:
    """The user or role session behind ``access_key_id``; None for a key moto did not mint."""
    if not access_key_id:
        return None
    if access_key_id == SHARED_SESSION_KEY:
        arn = "arn:aws:sts::123456789012:federated-user/unknown"
        return Principal(kind=USER, arn=arn, account_id="123456789012", name="unknown", caller_arn=arn)
    for account_id, account in list(_iam_backends().items()):
        backend = account["aws"]
        key = backend.access_keys.get(access_key_id)
        if key is None:
            continue
        if key.role_arn:
            return role_session(account_id, key.role_arn, _session_name(account_id, access_key_id))
        if key.user_name:
            return _user(backend, account_id, key.user_name)
        session = _session(account_id, access_key_id)  # AssumeRoleWithWebIdentity / WithSAML
        if session is not None:
            return role_session(account_id, session.role_arn, str(session.session_name))
        arn = f"arn:aws:sts::{account_id}:assumed-role/unknown/unknown"  # minted, but for no one
        return Principal(kind=ROLE, arn=arn, account_id=account_id, name="unknown", caller_arn=arn)
    return None


def _session(account_id: str, access_key_id: str) -> Any | None:
    from moto.sts.models import sts_backends

    for partition in list(sts_backends[account_id].values()):
        session = partition.get_assumed_role_from_access_key(access_key_id)
        if session is not None:
            return session
    return None


def _session_name(account_id: str, access_key_id: str) -> str:
    session = _session(account_id, access_key_id)
    return str(session.session_name) if session is not None else "session"


def _user(backend: Any, account_id: str, user_name: str) -> Principal:
    user = backend.users.get(user_name)
    if user is None:  # a key that outlived its user: it speaks for no one, so nothing is allowed
        arn = f"arn:aws:iam::{account_id}:user/{user_name}"
        return Principal(kind=USER, arn=arn, account_id=account_id, name=user_name, caller_arn=arn)
    documents = _documents(user)
    for group in list(backend.groups.values()):
        if user in list(group.users):
            documents += _documents(group)
    return Principal(
        kind=USER,
        arn=user.arn,
        account_id=account_id,
        name=user.name,
        caller_arn=user.arn,
        user_id=user.id,
        identity_policies=tuple(documents),
        boundary=None,  # moto has no PutUserPermissionsBoundary (see LIMITATIONS)
    )


def find_role(role_arn: str) -> Any | None:
    """moto's Role for an ARN, or None."""
    account_id = account_of(role_arn)
    account = _iam_backends().get(account_id) if account_id else None
    if account is None:
        return None
    backend = account["aws"]
    for role in list(backend.roles.values()):
        if role.arn == role_arn:
            return role
    return None


def role_session(account_id: str, role_arn: str, session_name: str) -> Principal:
    """A session of ``role_arn``: the role's policies, its boundary, the session's ARN.

    A role that no longer exists keeps its name but has no policy, so everything is denied.
    """
    role = find_role(role_arn)
    role_name = role_arn.rsplit("/", 1)[-1]
    documents: tuple[str, ...] = ()
    boundary = None
    role_id = "AROA"
    if role is not None:
        documents = tuple(_documents(role))
        backend = _iam_backends()[account_id]["aws"]
        if role.permissions_boundary_arn:
            # A boundary naming a policy that is gone allows nothing, as on AWS.
            boundary = _managed_document(backend, role.permissions_boundary_arn) or '{"Statement": []}'
        role_id = str(role.id)
    return Principal(
        kind=ROLE,
        arn=role_arn,
        account_id=account_id,
        name=role_name,
        caller_arn=f"arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}",
        user_id=f"{role_id}:{session_name}",
        identity_policies=documents,
        boundary=boundary,
        session_name=session_name,
    )


def account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""
