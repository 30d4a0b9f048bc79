"""The two faces stay one API: same public methods, same signatures (apart from being
coroutines), same documentation; the package ships its types (``py.typed``).

``tests/typing_check.py`` is the other half: mypy checks it in ``make lint``.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import sessionwarden
from sessionwarden import AsyncSessionManager, SessionManager

CLOSERS = {"close": "aclose"}
BUILDERS = {"from_url", "from_settings"}


def _public(cls: type) -> dict[str, object]:
    return {name: getattr(cls, name) for name in dir(cls) if not name.startswith("_")}


def test_both_faces_have_the_same_public_methods() -> None:
    sync, asyn = _public(SessionManager), _public(AsyncSessionManager)
    expected = {CLOSERS.get(name, name) for name in sync}
    assert set(asyn) == expected


def _builder_args(name: str, url: str) -> tuple[object, ...]:
    from sessionwarden import RedisSettings, Settings
    settings = Settings(secret="s" * 32)
    return (url, settings) if name == "from_url" else (settings, RedisSettings(url=url))


def test_signatures_match_apart_from_coroutines() -> None:
    asyn = _public(AsyncSessionManager)
    for name, method in _public(SessionManager).items():
        other = asyn[CLOSERS.get(name, name)]
        if isinstance(method, property):
            continue
        sig, other_sig = inspect.signature(method), inspect.signature(other)  # type: ignore
        assert sig == other_sig, name
        if name in BUILDERS:  # one definition; each face gets its own type back (Self)
            assert sig.return_annotation == "Self", name
            url = "redis://localhost:6379/0"
            assert type(getattr(SessionManager, name)(*_builder_args(name, url))) \
                is SessionManager
            assert type(getattr(AsyncSessionManager, name)(*_builder_args(name, url))) \
                is AsyncSessionManager
        assert not inspect.iscoroutinefunction(method), name
        assert inspect.iscoroutinefunction(other) == (name not in BUILDERS), name


def test_every_public_method_is_documented_on_both_faces() -> None:
    for cls in (SessionManager, AsyncSessionManager):
        for name, method in _public(cls).items():
            assert (method.__doc__ or "").strip(), f"{cls.__name__}.{name}"


def test_the_package_ships_py_typed() -> None:
    assert (Path(sessionwarden.__file__).parent / "py.typed").is_file()


def test_new_names_are_exported() -> None:
    for name in ("RedisSettings", "StoreRefused", "StoreAuthFailed", "PoolExhausted",
                 "ManagerClosed", "StoreUnavailable"):
        assert name in sessionwarden.__all__
