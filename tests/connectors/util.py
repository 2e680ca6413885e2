from __future__ import annotations

from typing import Any

from connectors.base import Context, SecretsProvider
from nexus_sync.credentials import CredentialStore
from nexus_sync.http import HttpClient


class Sleeps(list):
    """Records the waits the HTTP client asked for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make(cls: Any, base_url: str, secrets: dict[str, str], tmp_path: Any, sleep: Any = None, **config: Any):
    name = f"{cls.type}-test"
    path = tmp_path / "secrets.yaml"
    import yaml

    path.write_text(yaml.safe_dump({name: secrets}))
    ctx = Context(name, cls.Config.model_validate({"base_url": base_url, **config}),
                  SecretsProvider(CredentialStore(path), name), HttpClient(timeout=5, sleep=Sleeps() if sleep is None else sleep))
    return cls(ctx)


def drain(connector: Any, since: str | None = None, waits: list[float] | None = None) -> tuple[list[dict], int]:
    """Every record of a listing and its number of pages. A page that asks to be fetched again later (a vendor
    job not ready, Page.wait) is fetched again at once with its state, not counted; its wait goes to `waits`."""
    records, state, pages = [], None, 0
    while True:
        page = connector.fetch_page(state, since)
        if page.wait is not None:
            assert page.wait > 0 and not page.records and page.next is not None, page
            if waits is not None:
                waits.append(page.wait)
            state = page.next
            continue
        records += page.records
        pages += 1
        if page.next is None:
            return records, pages
        state = page.next
