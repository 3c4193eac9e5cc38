"""Where the CLI sends its requests: named profiles, ``METAPAAS_URL`` / ``METAPAAS_TOKEN``.

Profiles live in ``$XDG_CONFIG_HOME/metapaas/profiles.toml`` (default
``~/.config``), mode 0600 since they hold tokens. ``metapaas login`` writes
one and makes it the current profile; ``--profile`` (or ``METAPAAS_PROFILE``)
picks another for one command; the environment variables override both
(``METAPAAS_CA_FILE``: the CA to verify the control plane with).

A profile keeps the CA certificate its ``https`` control plane is verified with,
given at login (``--ca-file``, or the server's own once its fingerprint was
confirmed), so no later command trusts a certificate it was not told to.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import httpx
import typer

from metapaas.cli.output import (
    Column,
    Format,
    OutputOpt,
    UserError,
    show_list,
    show_one,
    status_console,
)
from metapaas.client import Client, trust

DEFAULT_PROFILE = "default"
NOT_SET = (
    "no server set: run `metapaas login --url URL --token TOKEN`, "
    "or set METAPAAS_URL and METAPAAS_TOKEN"
)


class NotConfigured(UserError):
    """No URL or token, or a profile that is not there."""


@dataclass(frozen=True)
class Profile:
    url: str
    token: str
    ca: str = ""  # PEM; "" trusts the system's store (or the URL is plain loopback HTTP)


@dataclass
class ProfileFile:
    """The profiles and which one is current."""

    profiles: dict[str, Profile]
    current: str = DEFAULT_PROFILE

    @staticmethod
    def path() -> Path:
        config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
        return Path(config) / "metapaas" / "profiles.toml"

    @classmethod
    def load(cls) -> ProfileFile:
        path = cls.path()
        if not path.exists():
            return cls({})
        try:
            data = tomllib.loads(path.read_text())
            profiles = {name: Profile(**entry) for name, entry in data["profiles"].items()}
            return cls(profiles, data.get("current", DEFAULT_PROFILE))
        except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
            message = f"{path} is not a profiles file ({exc}); log in again to rewrite it"
            raise UserError(message) from exc

    def save(self) -> Path:
        """Write the file readable by its owner only (it holds tokens)."""
        path = self.path()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # JSON strings are TOML basic strings: the one escaping both understand.
        lines = [f"current = {json.dumps(self.current)}"]
        for name, profile in sorted(self.profiles.items()):
            lines += [
                "",
                f"[profiles.{json.dumps(name)}]",
                f"url = {json.dumps(profile.url)}",
                f"token = {json.dumps(profile.token)}",
                f"ca = {json.dumps(profile.ca)}",
            ]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        os.chmod(path, 0o600)  # a file that existed keeps its old mode through os.open
        return path


_chosen: list[str] = []
"""The ``--profile`` of this command line, set once by the root command (one per process)."""


def choose(profile: str | None) -> None:
    _chosen[:] = [profile] if profile else []


def resolve(profile_name: str | None) -> Profile:
    """The URL, token and CA a command uses: the environment over the chosen profile."""
    url, token = os.environ.get("METAPAAS_URL"), os.environ.get("METAPAAS_TOKEN")
    ca_file = os.environ.get("METAPAAS_CA_FILE")
    ca = _read_ca(Path(ca_file)) if ca_file else None
    stored = ProfileFile.load()
    profile = stored.profiles.get(profile_name or stored.current)
    if profile_name and profile is None:
        raise NotConfigured(f"no profile {profile_name!r} in {ProfileFile.path()}")
    if profile is not None:
        return Profile(url or profile.url, token or profile.token, ca or profile.ca)
    if url:
        return Profile(url, token or "", ca or "")
    raise NotConfigured(NOT_SET)


def connect() -> Client:
    """A client for the server the command line names."""
    profile = resolve(_chosen[0] if _chosen else None)
    return Client(profile.url.rstrip("/"), profile.token or None, ca=profile.ca or None)


def login(
    url: Annotated[str, typer.Option(help="The control plane's address.")],
    token: Annotated[str, typer.Option(help="An API token (mpt_…).")],
    profile: Annotated[
        str, typer.Option("--profile", "-p", help="Name to keep it under.")
    ] = DEFAULT_PROFILE,
    ca_file: Annotated[
        Path | None,
        typer.Option(help="The CA certificate (PEM) to verify an https control plane with."),
    ] = None,
    trust_fingerprint: Annotated[
        str | None,
        typer.Option(
            help="Trust the CA the server offers if its SHA-256 fingerprint is this one "
            "(as `metapaas up` prints it), without asking."
        ),
    ] = None,
) -> None:
    """Check a URL and token, keep them as a profile and make it the current one.

    Over https the server's certificate is verified: against --ca-file, the CA whose
    fingerprint --trust-fingerprint gives, or the system's store; failing those, the
    CA the server offers is shown with its fingerprint and trusted only if you say so.

    Example: metapaas login --url http://127.0.0.1:8080 --token "$(cat .metapaas/admin.token)"
    """
    url = url.rstrip("/")
    ca = _trusted_ca(url, ca_file, trust_fingerprint)
    with Client(url, token, ca=ca or None) as api:
        me = api.users.get()
    stored = ProfileFile.load()
    stored.profiles[profile] = Profile(url, token, ca)
    stored.current = profile
    path = stored.save()
    status_console.print(f"logged in to {url} as {me.name} (profile {profile}, in {path})")


def _read_ca(path: Path) -> str:
    try:
        pem = path.read_text(encoding="utf-8")
        trust.fingerprint(pem)  # it must hold a certificate
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} is not a PEM certificate: {exc}") from exc
    return pem


def _trusted_ca(url: str, ca_file: Path | None, pinned: str | None) -> str:
    """The CA (PEM) to keep with the profile: "" when the system's store will do."""
    if ca_file is not None:
        return _read_ca(ca_file)
    if not url.startswith("https://"):
        return ""
    if pinned is None and _publicly_trusted(url):
        return ""
    offered = trust.offered_authority(url)
    found = trust.fingerprint(offered)
    if pinned is not None:
        if found != trust.normal_fingerprint(pinned):
            raise UserError(f"{url} offers the CA {found}, not {pinned}: not trusted")
        return offered
    # No emoji codes: a fingerprint's ":AB:" would print as one.
    message = f"{url} is signed by a CA this machine does not know:\n  {found}"
    status_console.print(message, emoji=False, markup=False, soft_wrap=True)
    if not sys.stdin.isatty():
        raise UserError("pass --ca-file or --trust-fingerprint to trust it without a prompt")
    if not typer.confirm("Trust this CA for this profile?", default=False):
        raise UserError("not trusted; nothing saved")
    return offered


def _publicly_trusted(url: str) -> bool:
    try:
        httpx.get(f"{url}/healthz", timeout=10.0)
    except httpx.ConnectError as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return False
        raise UserError(f"cannot reach {url}: {exc}") from exc
    return True


def ca(
    fingerprint: Annotated[
        bool, typer.Option("--fingerprint", help="Print its SHA-256 fingerprint instead.")
    ] = False,
) -> None:
    """The control plane's CA certificate (PEM), what clients verify its nodes with.

    Example: metapaas ca > ca.pem; metapaas ca --fingerprint
    """
    with connect() as api:
        answer = api.http.get("/v1/ca.pem")
    if answer.is_error:
        raise UserError(f"the control plane answered {answer.status_code}: {answer.text}")
    sys.stdout.write(trust.fingerprint(answer.text) + "\n" if fingerprint else answer.text)


def logout(
    profile: Annotated[str | None, typer.Argument(help="Default: the current profile.")] = None,
) -> None:
    """Forget a profile and its token.

    Example: metapaas logout staging
    """
    stored = ProfileFile.load()
    name = profile or stored.current
    if stored.profiles.pop(name, None) is None:
        raise UserError(f"no profile {name!r}")
    stored.save()
    status_console.print(f"profile {name} removed")


def use(
    profile: Annotated[str, typer.Argument(help="A profile from `metapaas profiles`.")],
) -> None:
    """Make a profile the current one.

    Example: metapaas use staging
    """
    stored = ProfileFile.load()
    if profile not in stored.profiles:
        raise UserError(
            f"no profile {profile!r}; known: {', '.join(sorted(stored.profiles)) or 'none'}"
        )
    stored.current = profile
    stored.save()
    status_console.print(f"using profile {profile} ({stored.profiles[profile].url})")


def profiles(output: OutputOpt = Format.table) -> None:
    """The stored profiles; * marks the current one (tokens are not shown).

    Example: metapaas profiles
    """
    stored = ProfileFile.load()
    rows = [
        {"name": name, "current": name == stored.current, "url": p.url}
        for name, p in sorted(stored.profiles.items())
    ]
    columns: list[Column] = [
        ("", lambda r: "*" if r["current"] else ""),
        ("NAME", lambda r: r["name"]),
        ("URL", lambda r: r["url"]),
    ]
    show_list(rows, output, columns)


def whoami(output: OutputOpt = Format.table) -> None:
    """The user the current token belongs to, and its roles.

    Example: metapaas whoami -o json
    """
    with connect() as api:
        show_one(api.users.get("me"), output)


def register(app: typer.Typer) -> None:
    for command in (login, logout, use, profiles, whoami, ca):
        app.command()(command)
