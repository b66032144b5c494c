"""The backend registry, with real entry points.

Each test writes a small distribution to a temporary folder (a ``*.dist-info`` folder with
METADATA and entry_points.txt, beside the plugin's module), puts the folder on sys.path and calls
``reload_registry()``: the registry then finds the plugins exactly as it finds installed ones.
Everything is removed afterwards.
"""

from __future__ import annotations

import sys
import textwrap
import uuid

import pytest

import qbridge
from qbridge import Circuit
from qbridge.backends.registry import BackendInfo, get_backend, list_backends, reload_registry
from qbridge.exceptions import BackendError, BackendNotFoundError, BackendUnavailableError

PLUGIN_SOURCE = '''
from qbridge.backends.torch import TorchBackend


class Good(TorchBackend):
    name = "{prefix}good"
    description = "a working test plugin"


class Missing(TorchBackend):
    description = "needs an SDK that is not installed"

    @classmethod
    def availability(cls):
        return False, "the SDK {prefix}sdk is not installed: pip install {prefix}sdk"


class Crashing(TorchBackend):
    description = "its availability check raises"

    @classmethod
    def availability(cls):
        raise RuntimeError("boom")


class Family(TorchBackend):
    description = "one class for a family of names"

    @classmethod
    def family_members(cls):
        return ["{prefix}fam.a", "{prefix}fam.b"]

    @classmethod
    def availability_of(cls, name):
        return (False, "b is offline") if name.endswith(".b") else (True, "")


class Special(TorchBackend):
    description = "an exact entry inside the family"


class BadFamily(TorchBackend):
    description = "its member listing raises"

    @classmethod
    def family_members(cls):
        raise OSError("device list unreachable")
'''


@pytest.fixture
def install(tmp_path):
    """install({dist name: [entry lines]}, modules={name: source}) -> unique prefix of the names."""
    prefix = f"qbt{uuid.uuid4().hex[:8]}_"
    added: list[str] = []

    def _install(dists: dict[str, list[str]], modules: dict[str, str] | None = None) -> str:
        site = tmp_path / f"site{len(added)}"
        site.mkdir()
        for mod, source in (modules or {}).items():
            (site / f"{prefix}{mod}.py").write_text(textwrap.dedent(source).format(prefix=prefix))
        for dist, lines in dists.items():
            info = site / f"{prefix}{dist}-0.1.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {prefix}{dist}\nVersion: 0.1\n")
            entries = "\n".join(line.format(prefix=prefix) for line in lines)
            (info / "entry_points.txt").write_text(f"[qbridge.backends]\n{entries}\n")
        sys.path.insert(0, str(site))
        added.append(str(site))
        reload_registry()
        return prefix

    yield _install
    for path in added:
        sys.path.remove(path)
    for mod in [m for m in sys.modules if m.startswith(prefix)]:
        del sys.modules[mod]
    reload_registry()


def _listing() -> dict[str, BackendInfo]:
    infos = list_backends()
    names = [b.name for b in infos]
    assert len(names) == len(set(names)), "a name is listed twice"
    assert names == sorted(names)
    return {b.name: b for b in infos}


def test_torch_is_listed_and_available():
    info = _listing()["torch"]
    assert info.available and info.reason == ""
    assert info.distribution and info.distribution.startswith("qbridge ")
    assert info.to_dict()["name"] == "torch"
    assert type(get_backend()).__name__ == "TorchBackend"  # the default backend
    assert get_backend("torch").backend_name == "torch"


def test_unknown_name_lists_installed_names_and_the_closest_match():
    with pytest.raises(BackendNotFoundError) as err:
        get_backend("torh")
    msg = str(err.value)
    assert "Did you mean 'torch'?" in msg and "Installed:" in msg and "torch" in msg.split("Installed:")[1]
    assert err.value.backend == "torh"
    assert isinstance(err.value, LookupError)
    with pytest.raises(BackendNotFoundError) as err:
        get_backend("zzzzzzzz")
    assert "Did you mean" not in str(err.value)


def test_argument_errors():
    with pytest.raises(TypeError):
        get_backend(3)
    be = get_backend("torch")
    assert get_backend(be) is be
    with pytest.raises(TypeError):
        get_backend(be, device="cpu")


def test_plugins_from_a_new_distribution(install):
    list_backends()  # the registry has scanned already: reload_registry must forget that scan
    p = install({"plugs": ["{prefix}good = {prefix}mod:Good"]}, {"mod": PLUGIN_SOURCE})
    info = _listing()[f"{p}good"]
    assert info.available and info.description == "a working test plugin"
    assert info.distribution == f"{p}plugs 0.1"
    be = get_backend(f"{p}good")
    assert be.backend_name == f"{p}good"
    res = be.run(Circuit(1).x(0)).result()[0]
    assert res.get_probabilities() == pytest.approx({"0": 0.0, "1": 1.0})


def test_a_plugin_that_fails_to_import_does_not_break_the_others(install):
    p = install(
        {"plugs": ["{prefix}good = {prefix}mod:Good", "{prefix}broken = {prefix}broken:Broken"]},
        {"mod": PLUGIN_SOURCE, "broken": "import {prefix}no_such_sdk\n"},
    )
    listing = _listing()
    broken = listing[f"{p}broken"]
    assert not broken.available
    assert "failed to load" in broken.reason and f"{p}no_such_sdk" in broken.reason
    with pytest.raises(BackendUnavailableError, match="no_such_sdk") as err:
        get_backend(f"{p}broken")
    assert err.value.backend == f"{p}broken"
    assert listing[f"{p}good"].available and listing["torch"].available
    get_backend(f"{p}good")
    get_backend("torch")


def test_unavailable_plugins_report_why(install):
    p = install(
        {"plugs": ["{prefix}missing = {prefix}mod:Missing", "{prefix}crash = {prefix}mod:Crashing",
                   "{prefix}notabackend = {prefix}mod:TorchBackend.__init__"]},
        {"mod": PLUGIN_SOURCE},
    )
    listing = _listing()
    missing = listing[f"{p}missing"]
    assert not missing.available and f"pip install {p}sdk" in missing.reason
    with pytest.raises(BackendUnavailableError, match=f"pip install {p}sdk"):
        get_backend(f"{p}missing")
    crash = listing[f"{p}crash"]
    assert not crash.available and "availability check failed" in crash.reason and "boom" in crash.reason
    with pytest.raises(BackendUnavailableError, match="boom"):
        get_backend(f"{p}crash")
    assert not listing[f"{p}notabackend"].available  # a function is not a backend class


def test_duplicate_names_are_reported(install):
    # two distributions register the same name with different classes; stevedore silently kept one
    p = install(
        {"first": ["{prefix}dup = {prefix}mod:Good"], "second": ["{prefix}dup = {prefix}mod:Missing"]},
        {"mod": PLUGIN_SOURCE},
    )
    info = _listing()[f"{p}dup"]
    assert not info.available and "more than once" in info.reason
    assert f"{p}first 0.1" in info.reason and f"{p}second 0.1" in info.reason
    with pytest.raises(BackendError, match="more than once"):
        get_backend(f"{p}dup")


def test_a_broken_duplicate_is_reported_as_a_clash(install):
    p = install(
        {"first": ["{prefix}dup = {prefix}mod:Good"], "second": ["{prefix}dup = {prefix}broken:Broken"]},
        {"mod": PLUGIN_SOURCE, "broken": "raise ImportError('broken on purpose')\n"},
    )
    info = _listing()[f"{p}dup"]
    assert not info.available and "more than once" in info.reason and "broken on purpose" in info.reason
    with pytest.raises(BackendError, match="more than once"):
        get_backend(f"{p}dup")


def test_family_entries_resolve(install):
    p = install(
        {"plugs": ["{prefix}fam.* = {prefix}mod:Family", "{prefix}fam.special = {prefix}mod:Special"]},
        {"mod": PLUGIN_SOURCE},
    )
    names = _listing()
    assert names[f"{p}fam.a"].available
    assert not names[f"{p}fam.b"].available and names[f"{p}fam.b"].reason == "b is offline"
    assert f"{p}fam.special" in names
    be = get_backend(f"{p}fam.a")
    assert type(be).__name__ == "Family" and be.backend_name == f"{p}fam.a"
    deep = get_backend(f"{p}fam.anything.deeper")  # any name under the prefix
    assert deep.backend_name == f"{p}fam.anything.deeper"
    with pytest.raises(BackendUnavailableError, match="offline"):
        get_backend(f"{p}fam.b")
    assert type(get_backend(f"{p}fam.special")).__name__ == "Special"  # an exact entry wins
    with pytest.raises(BackendNotFoundError):
        get_backend(f"{p}fam")  # the prefix alone is not a member


def test_a_family_whose_listing_fails(install):
    p = install({"plugs": ["{prefix}bad.* = {prefix}mod:BadFamily"]}, {"mod": PLUGIN_SOURCE})
    info = _listing()[f"{p}bad.*"]
    assert not info.available and "listing failed" in info.reason and "unreachable" in info.reason
    assert _listing()["torch"].available


def test_cleanup_removed_the_test_plugins():
    assert all(not b.name.startswith("qbt") for b in list_backends())
    assert qbridge.get_backend("torch")
