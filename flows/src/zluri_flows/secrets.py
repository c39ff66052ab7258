"""The database URL as a Prefect ``Secret`` block, so deployments never hold it in clear.

``zluri prefect secret set`` stores it (block name ``zluri-database-url`` unless told otherwise);
flow runs whose environment names the block in ``ZLURI_DATABASE_SECRET`` read it at start.
"""

from __future__ import annotations

from typing import cast

from zluri_pg import check_url

DEFAULT_SECRET_BLOCK = "zluri-database-url"


class SecretNotFound(LookupError):
    """No Secret block of that name on the Prefect server in use."""


def load_database_url(block_name: str) -> str:
    from prefect.blocks.system import Secret

    try:
        # _sync=True: the blocking call, from sync or async callers alike (no coroutine to await).
        secret = cast(Secret, Secret.load(block_name, _sync=True))  # type: ignore[call-arg]
    except ValueError as exc:
        raise SecretNotFound(
            f"no Prefect Secret block {block_name!r} (create it with: zluri prefect secret set --name {block_name})"
        ) from exc
    return str(secret.get())


def save_database_url(block_name: str, url: str) -> None:
    """Create or replace the block; the URL is checked first so a malformed one is never stored."""
    from prefect.blocks.system import Secret
    from pydantic import SecretStr

    Secret(value=SecretStr(check_url(url))).save(block_name, overwrite=True, _sync=True)  # type: ignore[call-arg]
