"""Every module's DOCUMENTATION matches its argument_spec, and ansible-doc renders it."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.module_utils import basic

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted((ROOT / "plugins" / "modules").glob("captiva_*.py"))
TYPES = {"str": "str", "int": "int", "bool": "bool", "dict": "dict", "list": "list",
         "float": "float", "path": "path", "raw": "raw"}


class _Captured(Exception):
    pass


def argument_spec_of(path: Path) -> tuple[dict, dict]:
    """Run the module's main() until it builds its AnsibleModule; capture the spec."""
    captured = {}

    def fake_init(self, argument_spec, **kwargs):
        captured.update(spec=argument_spec, kwargs=kwargs)
        raise _Captured

    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    original = basic.AnsibleModule.__init__
    basic.AnsibleModule.__init__ = fake_init
    try:
        with pytest.raises(_Captured):
            module.main()
    finally:
        basic.AnsibleModule.__init__ = original
    return captured["spec"], captured["kwargs"], module


def documented_options(doc: dict) -> dict:
    """The module's options with those of its doc fragments (plugins/doc_fragments), as
    ansible-doc merges them."""
    options = dict(doc.get("options") or {})
    for name in doc.get("extends_documentation_fragment") or []:
        assert name.startswith("captiva.campus."), name
        path = ROOT / "plugins" / "doc_fragments" / f"{name.split('.')[-1]}.py"
        spec = importlib.util.spec_from_file_location(path.stem, path)
        fragment = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(fragment)
        shared = yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION)["options"]
        assert not set(shared) & set(options), "an option documented twice"
        options.update(shared)
    return options


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_documentation_matches_argument_spec(path):
    spec, kwargs, module = argument_spec_of(path)
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = documented_options(doc)
    assert set(options) == set(spec), "DOCUMENTATION options differ from the argument_spec"
    for name, option in options.items():
        arg = spec[name]
        assert option.get("type", "str") == TYPES[arg.get("type", "str")], name
        assert option.get("required", False) == arg.get("required", False), name
        assert option.get("default") == arg.get("default"), name
        assert option.get("aliases", []) == arg.get("aliases", []), name
        if "choices" in arg:
            assert option.get("choices") == arg["choices"], name
    assert kwargs.get("supports_check_mode") is True
    assert doc["attributes"]["check_mode"]["support"] == "full"
    assert yaml.safe_load(module.EXAMPLES)
    assert isinstance(yaml.safe_load(module.RETURN), dict)


def test_secrets_are_no_log():
    for path in MODULES:
        spec, _kwargs, _module = argument_spec_of(path)
        for name, arg in spec.items():
            if any(word in name for word in ("password", "secret", "credentials")):
                assert arg.get("no_log") is True, f"{path.stem}: {name} must be no_log"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_ansible_doc_renders(path):
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-doc"), "-M", str(path.parent), path.stem],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "OPTIONS" in result.stdout
