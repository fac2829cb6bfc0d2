"""moto's template parsing, done once per distinct template (motoserver.parse_templates_once)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import yaml

from s3migrator.cli.local.motoserver import _ParsedOnce, parse_templates_once

TEMPLATE = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n"


def test_each_template_is_parsed_once_and_every_caller_gets_its_own_copy() -> None:
    # GIVEN the yaml module as moto sees it, counting its parses
    parses: list[str] = []

    def load(text: str, Loader: Any) -> Any:  # noqa: N803
        parses.append(text)
        return yaml.load(text, Loader=Loader)

    module = _ParsedOnce(SimpleNamespace(load=load, Loader=yaml.SafeLoader))

    # WHEN one template is loaded twice, the first result changed in between, then another
    first = module.load(TEMPLATE, Loader=module.Loader)
    first["Resources"]["Queue"]["Type"] = "changed by moto"
    second = module.load(TEMPLATE, Loader=module.Loader)
    module.load("Resources: {}\n", Loader=module.Loader)

    # THEN each distinct template was parsed once, and the change did not reach the second
    assert parses == [TEMPLATE, "Resources: {}\n"]
    assert second == {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}


def test_moto_parses_templates_through_the_remembering_module() -> None:
    # GIVEN moto's CloudFormation modules
    from moto.cloudformation import models, responses

    # WHEN the patch is applied twice
    parse_templates_once()
    parse_templates_once()

    # THEN both parse through one layer of it, which still offers yaml's names
    for module in (models, responses):
        assert isinstance(vars(module)["yaml"], _ParsedOnce)
        assert not isinstance(vars(module)["yaml"]._module, _ParsedOnce)
        assert vars(module)["yaml"].Loader is yaml.Loader
