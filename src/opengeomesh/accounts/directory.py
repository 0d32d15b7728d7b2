"""The account gestures: add users and groups, issue tokens, and find the caller of a request."""

from __future__ import annotations

from dataclasses import dataclass

from opengeomesh.accounts.models import ANONYMOUS, ApiToken, Caller, Group, User, check_name
from opengeomesh.accounts.store import AccountStore
from opengeomesh.accounts.tokens import TOKEN_PREFIX, new_token, token_hash
from opengeomesh.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just created: ``secret`` is shown to its owner once."""

    record: ApiToken
    secret: str


class AccountDirectory:
    """Users, groups and tokens of this server, with the rules on who may change them."""

    def __init__(self, store: AccountStore) -> None:
        self._store = store

    def add_user(
        self, name: str, display_name: str = "", *, admin: bool = False, email: str = ""
    ) -> User:
        check_name("name", name)
        if email and (len(email) > 254 or "@" not in email or any(c.isspace() for c in email)):
            raise InvalidInput("email", f"{email!r} is not an e-mail address")
        if self._store.get_user(name) is not None:
            raise Conflict(f"user {name!r} exists already")
        return self._store.add_user(name, display_name or name, admin, email)

    def user(self, name: str) -> User:
        found = self._store.get_user(name)
        if found is None:
            raise NotFound(f"no user {name!r}")
        return found

    def find_user(self, name: str) -> User | None:
        return self._store.get_user(name)

    def find_group(self, name: str) -> Group | None:
        return self._store.get_group(name)

    def users(self) -> list[User]:
        return self._store.list_users()

    def add_group(self, name: str) -> Group:
        check_name("name", name)
        if self._store.get_group(name) is not None:
            raise Conflict(f"group {name!r} exists already")
        return self._store.add_group(name)

    def group(self, name: str) -> Group:
        found = self._store.get_group(name)
        if found is None:
            raise NotFound(f"no group {name!r}")
        return found

    def groups(self) -> list[Group]:
        return self._store.list_groups()

    def add_member(self, group_name: str, user_name: str) -> Group:
        group = self.group(group_name)
        user = self.user(user_name)
        self._store.add_member(group.id, user.id)
        return self.group(group_name)

    def create_token(self, user_name: str, label: str = "") -> IssuedToken:
        """Issue a personal API token for ``user_name``; only its hash is kept."""
        user = self.user(user_name)
        if len(label) > 100:
            raise InvalidInput("label", "at most 100 characters")
        secret = new_token()
        record = self._store.add_token(user.id, label, token_hash(secret))
        return IssuedToken(record=record, secret=secret)

    def tokens(self, user_name: str) -> list[ApiToken]:
        return self._store.list_tokens(self.user(user_name).id)

    def delete_token(self, user_name: str, token_id: int) -> None:
        user = self.user(user_name)
        if not 0 < token_id < 2**63 or not self._store.delete_token(user.id, token_id):
            raise NotFound(f"user {user_name!r} has no token {token_id}")

    def caller_for_token(self, token: str | None) -> Caller:
        """The caller a bearer token stands for; no token means anonymous, a bad one is refused."""
        if token is None:
            return ANONYMOUS
        if not token.startswith(TOKEN_PREFIX):
            raise Unauthenticated("the bearer token is not valid", invalid_token=True)
        user = self._store.user_for_token(token_hash(token))
        if user is None:
            raise Unauthenticated("the bearer token is not valid", invalid_token=True)
        return Caller(user=user, group_ids=self._store.group_ids_of(user.id))

    def caller_for_user(self, name: str) -> Caller:
        """The caller for a local user, as the CLI acts with ``--user NAME``."""
        user = self.user(name)
        return Caller(user=user, group_ids=self._store.group_ids_of(user.id))


def require_admin(caller: Caller) -> None:
    """Refuse anyone but an operator."""
    require_user(caller)
    if not caller.is_admin:
        raise Forbidden("only an operator (admin) may do this")


def require_user(caller: Caller) -> User:
    """Refuse anonymous callers and holders of a share's token; return the user."""
    if caller.share is not None:
        raise Forbidden("a share's access token opens only the shared collection")
    if caller.user is None:
        raise Unauthenticated("this needs a bearer token")
    return caller.user


def require_self_or_admin(caller: Caller, user_name: str) -> None:
    """Allow a user to act on their own account, and an operator on any."""
    user = require_user(caller)
    if user.name != user_name and not caller.is_admin:
        raise Forbidden("you may only do this for your own account")
