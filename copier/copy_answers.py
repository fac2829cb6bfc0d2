"""A successful CopyObject answer read in one pass, to what botocore's ``RestXMLParser`` makes
of it.

Why: botocore's parser makes an XML parser object and walks the whole output shape for every
answer, a third of a direct copy's CPU (``copier.direct_copies``); even ElementTree spends most
of its time making its parser. A CopyObject success is one flat element of a few text fields,
so this matches the body whole against that form (``_FLAT``) and reads the fields, guided by
botocore's own model of the output (which member is the body, which header each other member
comes from, and its type). An answer not of that form (another root, an unknown or repeated
element, nesting, a comment, an entity other than XML's five, a member type it does not
convert) is None, and botocore's parser reads it. ``tests/unit/test_copy_answers.py`` holds it
to botocore's parse of the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from s3migrator.aws import fast_timestamp

if TYPE_CHECKING:
    from botocore.model import OperationModel

# botocore's scalar handlers, for the types a CopyObject answer holds.
_CONVERT: dict[str, Callable[[str], Any]] = {
    "string": str,
    "boolean": lambda text: text == "true",
    "integer": int,
    "long": int,
    "timestamp": fast_timestamp,
}


# An optional XML declaration first, then <Root xmlns="..."> holding only <Name>text</Name> fields.
_FLAT = re.compile(
    # XML allows no whitespace before its declaration, and botocore's parser refuses it.
    r'(?:<\?xml version="1\.0"(?: encoding="(?:UTF|utf)-8")?\?>)?[ \t\n]*'
    r'<(?P<root>[A-Za-z]\w*)(?: xmlns="[^"<>&]*")?>'
    r"(?P<fields>(?:[ \t\n]*<[A-Za-z]\w*>[^<]*</[A-Za-z]\w*>)*)[ \t\n]*</(?P=root)>[ \t\n]*",
    re.ASCII,
)
_FIELD = re.compile(r"<([A-Za-z]\w*)>([^<]*)</([A-Za-z]\w*)>", re.ASCII)
# Characters XML does not allow in text (a line end was turned away before).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ENTITIES = {"quot": '"', "amp": "&", "lt": "<", "gt": ">", "apos": "'"}


def _text(raw: str) -> str | None:
    """``raw`` with XML's five entities replaced; None when an ``&`` starts anything else."""
    if "&" not in raw:
        return raw
    first, *rest = raw.split("&")
    pieces = [first]
    for piece in rest:
        name, semicolon, after = piece.partition(";")
        if not semicolon or name not in _ENTITIES:
            return None
        pieces += (_ENTITIES[name], after)
    return "".join(pieces)


@dataclass(frozen=True)
class CopyAnswers:
    """How to read one operation's answer: its body member's fields, its header members."""

    payload: str
    root: str
    fields: Mapping[str, tuple[str, Callable[[str], Any]]]
    headers: tuple[tuple[str, str, Callable[[str], Any]], ...]

    @classmethod
    def of(cls, model: OperationModel) -> CopyAnswers | None:
        """The reader of ``model``'s answers; None when its output is not one it can read."""
        output = model.output_shape
        payload = output.serialization.get("payload") if output is not None else None
        if output is None or payload is None:
            return None
        body = output.members[payload]
        fields: dict[str, tuple[str, Callable[[str], Any]]] = {}
        headers: list[tuple[str, str, Callable[[str], Any]]] = []
        for name, member in getattr(body, "members", {}).items():
            if member.type_name not in _CONVERT or member.serialization.get("location"):
                return None
            fields[member.serialization.get("name", name)] = (name, _CONVERT[member.type_name])
        for name, member in output.members.items():
            if name == payload:
                continue
            if member.serialization.get("location") != "header":
                return None
            if member.type_name not in _CONVERT:
                return None
            header = member.serialization["name"].lower()
            headers.append((header, name, _CONVERT[member.type_name]))
        return cls(payload, body.name, fields, tuple(headers))

    def read(self, status: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
        """What botocore's parser makes of a success (``headers`` by lowercase name), or None
        for botocore's parser to read."""
        if not 200 <= status < 300:
            return None
        if b"\r" in body:  # XML reads a line end as one newline: botocore's parser does that
            return None
        try:
            document = body.decode()
        except UnicodeDecodeError:
            return None
        if _NOT_XML.search(document):
            return None
        flat = _FLAT.fullmatch(document)
        if flat is None or flat["root"] != self.root:
            return None
        result: dict[str, Any] = {}
        for tag, raw, end in _FIELD.findall(flat["fields"]):
            known = self.fields.get(tag)
            text = _text(raw)
            if end != tag or known is None or known[0] in result or text is None:
                return None
            name, convert = known
            result[name] = convert(text)
        parsed: dict[str, Any] = {self.payload: result}
        for header, name, convert in self.headers:
            if header in headers:
                parsed[name] = convert(headers[header])
        metadata: dict[str, Any] = {}
        if "x-amzn-requestid" in headers:
            metadata["RequestId"] = headers["x-amzn-requestid"]
        elif "x-amz-request-id" in headers:
            metadata["RequestId"] = headers["x-amz-request-id"]
            metadata["HostId"] = headers.get("x-amz-id-2", "")
        metadata["HTTPStatusCode"] = status
        metadata["HTTPHeaders"] = dict(headers)
        parsed["ResponseMetadata"] = metadata
        return parsed
