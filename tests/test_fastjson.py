"""dario/core/fastjson.py: msgspec first, but what is valid JSON and what it means stays the standard library's."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings, strategies as st

import msgspec

from dario.core.fastjson import field_of, head, loads, loads_object

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(values, st.booleans())
def test_any_json_decodes_as_the_standard_library_decodes_it(v, ascii_only):
    text = json.dumps(v, ensure_ascii=ascii_only)
    for data in (text.encode("utf-8", "surrogatepass"), text):
        assert repr(loads(data)) == repr(json.loads(text))  # repr: -0.0 and 0.0 differ, as do 1 and 1.0


@pytest.mark.parametrize("data, expected", [
    (b'{"t": "\\ud83d"}', {"t": "\ud83d"}),  # a lone surrogate (a cut emoji): msgspec refuses it, json takes it
    (b'\xef\xbb\xbf{"a": 1}', {"a": 1}),  # a UTF-8 BOM
    ('{"a": "é"}'.encode("utf-16"), {"a": "é"}),  # UTF-16, as json.detect_encoding finds it
    (b'{"a": 1, "a": 2}', {"a": 2}),  # the last of a duplicated key, as json keeps it
    (b'[1e400]', [math.inf]),  # out of float range: json's inf
    (b'{"n": 123456789012345678901234567890}', {"n": 123456789012345678901234567890}),
])
def test_what_msgspec_refuses_is_decided_by_the_standard_library(data, expected):
    assert loads(data) == expected


@pytest.mark.parametrize("data", [b'{"a": NaN}', b'[Infinity]', b'[-Infinity]', b'{"a": }', b"", b"\xff\xfe\x00"])
def test_invalid_json_and_nan_are_refused_with_a_value_error(data):
    with pytest.raises(ValueError):
        loads(data)


def test_deep_nesting_is_a_recursion_error_as_with_json():
    with pytest.raises(RecursionError):
        loads(b"[" * 100_000 + b"]" * 100_000)
    assert loads_object(b"[" * 100_000 + b"]" * 100_000) is None


def test_loads_object_is_an_object_or_none():
    assert loads_object(b'{"a": [1]}') == {"a": [1]}
    assert loads_object("[DONE]") is None and loads_object(b"[1]") is None and loads_object(b"junk") is None


def test_field_of_reads_one_top_level_field_and_nothing_deeper():
    body = b'{"choices": [{"message": {"usage": "nested, not this"}}], "usage": {"prompt_tokens": 3}}'
    assert field_of(body, "usage") == {"prompt_tokens": 3}
    assert field_of(b'{"usageMetadata": {"totalTokenCount": 5}}', "usageMetadata") == {"totalTokenCount": 5}
    assert field_of(b'{"usage": null}', "usage") is None and field_of(b'{"x": 1}', "usage") is None
    assert field_of(b'[{"usage": 1}]', "usage") is None and field_of(b"not json", "usage") is None
    assert field_of(b'{"t": "\\ud83d", "usage": {"n": 1}}', "usage") == {"n": 1}  # via the fallback


def test_decode_says_when_the_standard_library_decoded_and_dumps_then_refuses_what_is_not_finite():
    from dario.core.fastjson import decode, dumps
    assert decode(b'{"a": 1}') == ({"a": 1}, True)
    big, exact = decode(b'{"t": 1e400}')
    assert big == {"t": math.inf} and exact is False
    with pytest.raises(ValueError):
        dumps(big, exact=False)  # json.dumps(allow_nan=False): never "Infinity" on the wire
    assert dumps({"a": "é", "n": [1, 2.5, None]}) == '{"a":"é","n":[1,2.5,null]}'.encode()
    assert json.loads(dumps({"t": "\ud83d"})) == {"t": "\ud83d"}  # a lone surrogate: escaped by json


@settings(max_examples=200, deadline=None)
@given(values)
def test_dumps_writes_what_json_reads_back_as_the_same_value(v):
    from dario.core.fastjson import dumps
    assert repr(json.loads(dumps(v))) == repr(v)


HEAD = ("model", "stream", "stream_options")
requests_ = st.dictionaries(st.sampled_from(HEAD + ("messages", "max_tokens")), values, max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.one_of(values, requests_), st.booleans())
def test_head_is_the_named_top_level_fields_of_what_decode_reads_or_none_where_msgspec_refuses(v, ascii_only):
    data = json.dumps(v, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    h = head(data, HEAD)
    if h is None:  # not an object, or JSON msgspec does not take (parse.py then decodes it whole)
        assert not isinstance(v, dict) or _msgspec_refuses(data)
    else:
        whole = loads(data)
        assert isinstance(whole, dict) and repr(h) == repr({n: whole[n] for n in HEAD if n in whole})


def _msgspec_refuses(data: bytes) -> bool:
    try:
        msgspec.json.decode(data)
    except msgspec.DecodeError:
        return True
    return False


def test_head_builds_only_its_fields_and_refuses_what_decode_must_decide():
    assert head(b'{"messages": [{"content": "x"}], "model": "m", "stream": true}', HEAD) == {"model": "m", "stream": True}
    assert head(b'{"model": "m", "t": 1e400}', HEAD) == {"model": "m"}  # skipped, not made inf
    assert head(b'{"a": 1}', HEAD) == {}
    for data in (b"[1]", b'"x"', b'{"model": "m", "x": NaN}', b'{"model": "m"', b'{"model": "\\ud83d"}'):
        assert head(data, HEAD) is None  # decode() decides: an error, or (the surrogate) the standard library
    with pytest.raises(RecursionError):
        head(b'{"model": "m", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", HEAD)
