"""captiva_migrate's documented contract matches its argument spec."""

import importlib.util
from pathlib import Path

import yaml

MODULE = Path(__file__).resolve().parents[2] / "plugins" / "modules" / "captiva_migrate.py"


def load_module():
    spec = importlib.util.spec_from_file_location("captiva_migrate", MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_documentation_matches_the_argument_spec():
    module = load_module()
    documented = yaml.safe_load(module.DOCUMENTATION)["options"]
    spec = module.ARGUMENT_SPEC
    assert set(documented) == set(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc["type"] == option["type"], name
        assert doc.get("default") == option.get("default"), name
        assert bool(doc.get("required")) == bool(option.get("required")), name
        assert doc.get("aliases", []) == option.get("aliases", []), name
    assert spec["login_password"]["no_log"] is True


def test_examples_and_return_are_yaml():
    module = load_module()
    assert yaml.safe_load(module.EXAMPLES)
    assert set(yaml.safe_load(module.RETURN)) == {"applied", "pending", "version"}
    attributes = yaml.safe_load(module.DOCUMENTATION)["attributes"]
    assert attributes["check_mode"]["support"] == "full"
