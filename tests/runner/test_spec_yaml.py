"""runner/yaml_subset.py against PyYAML, on Pachyderm's own spec files and on edge cases.

pachctl reads specs with gopkg.in/yaml.v3 and src/internal/ppsutil/decoder.go yamlToJSON; PyYAML
(YAML 1.1) stands in for a reference parser where the two YAML versions agree. Where they do
not (``yes``/``on``, ``1e3``, sexagesimal ``10:30``, tabs inside ``[...]``), the test says which
side the runner takes: yaml.v3's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.yaml_subset import YamlError, load_documents

yaml = pytest.importorskip("yaml")

FIXTURES = Path(__file__).parent / "fixtures" / "pachyderm"
#: The one fixture PyYAML cannot read: a tab after a value inside a JSON list, which libyaml and
#: yaml.v3 take as white space in flow context and PyYAML's scanner refuses.
TAB_IN_FLOW = "examples/ml/tensorflow/pre-processing_and_generation.pipeline.json"


def fixture_files() -> list[Path]:
    return sorted(p for p in FIXTURES.rglob("*") if p.suffix in (".json", ".yaml", ".yml"))


def test_there_are_fixtures_in_both_syntaxes() -> None:
    files = fixture_files()
    assert len(files) >= 70
    assert any(p.suffix == ".yaml" for p in files)


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: str(p.relative_to(FIXTURES)))
def test_every_pachyderm_spec_file_reads_as_pyyaml_reads_it(path: Path) -> None:
    """Every spec file of pachyderm/pachyderm (examples/, console/; JSON is YAML's flow style)."""
    text = path.read_text()
    mine = load_documents(text, str(path))
    if str(path.relative_to(FIXTURES)) == TAB_IN_FLOW:
        with pytest.raises(yaml.YAMLError):
            list(yaml.safe_load_all(text))
        assert [d["pipeline"]["name"] for d in mine] == ["preprocess_images", "generate_images"]
        return
    assert mine == list(yaml.safe_load_all(text))


EDGE_CASES = [
    "a: |\n  x\n  y\n\n\nb: 1\n",  # literal, clip
    "a: |-\n  x\n  y\n\nb: 1\n",  # literal, strip
    "a: |+\n  x\n  y\n\n\nb: 1\n",  # literal, keep
    "a: >\n  x\n  y\n\n  z\n    more\n  w\nb: 1\n",  # folded, with a more-indented line
    "a: >-\n  one\n  two\n",
    "a: |2\n    indented\n  base\n",  # indentation indicator
    "- a\n- b: 1\n  c: 2\n- - x\n  - y\n",  # compact nested sequences and mappings
    "k:\n- a\n- b\nj: 2\n",  # a sequence at its key's indentation
    "s: plain text\n  continued here\n\n  para\nn: 3\n",  # multi-line plain scalar
    "q: \"a\\tb \\u00e9 \\\n  c\"\nr: 'it''s\n  folded'\n",  # escapes, folding in quotes
    "f: {a: 1, b: [x, y], 'c': \"d\"}\ng: [ 1, 2.5, true, null, ~ ]\n",
    "# c\na: 1 # trailing\nb: 'x # not comment'\nc: x#y\n",
    "---\na: 1\n...\n---\nb: 2\n",
    "cmd: [ /app/pipeline.py ]\nurl: http://x:80/y\nv: 1.5\nw: -3\n",
    "a:\n  b:\n    c: 1\n  d: 2\ne: 3\n",
    "- name: x\n  items:\n  - 1\n  - 2\n- name: y\n",
    "env:\n  A: \"1\"\n  B: ''\n  C:\n",
    '{"pipeline": {"name": "x"},\n "a":[1,\n 2]}\n',
    "stdin:\n  - >\n    folded in\n    seq\n  - |\n    lit\n",
    "a: 'multi\n\n  para'\n",
    "a: 1\n---\n",  # a trailing document marker: an empty document
    'a:    v   # c\nmy key: 2\n"a b": 3\n',  # keys with spaces, quoted keys
    "- [a, b]\n- {c: d}\n-\n  a: 1\n  b: 2\n",  # flow items, an entry on the next line
    '- "a": 1\n  b: 2\n',  # a quoted first key in a sequence entry
    "--- {a: 1}\n--- [1]\n",  # content on the document marker's line
    "a:\n  - b\n  -   c: 1\n      d: 2\n",
    "top:\n  # comment line\n  a: 1\n\n  # another\n  b: 2\n",
    "a: b\r\nc: d\r\n",  # CRLF line ends
    "s: >\n\n  lead\n  x\n",  # folded, with a leading empty line
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_cases_read_as_pyyaml_reads_them(text: str) -> None:
    assert load_documents(text, "t.yaml") == list(yaml.safe_load_all(text))


def test_where_yaml_1_2_differs_from_pyyaml_the_runner_follows_yaml_v3() -> None:
    """yaml.v3 resolves plain scalars by YAML 1.2's core schema: yes/on stay strings, 1e3 is a
    float, 10:30 is a string; PyYAML (YAML 1.1) reads them otherwise."""
    text = "a: yes\nb: on\nc: 1e3\nd: 10:30\n"
    assert load_documents(text, "t.yaml") == [{"a": "yes", "b": "on", "c": 1000.0, "d": "10:30"}]
    assert list(yaml.safe_load_all(text)) == [{"a": True, "b": True, "c": "1e3", "d": 630}]


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        ("a: &x 1\n", 1, "anchors (&name) are outside the supported YAML subset"),
        ("a: 1\nb: *x\n", 2, "aliases (*name) are outside the supported YAML subset"),
        ("a: !!str 1\n", 1, "tags (!tag) are outside the supported YAML subset"),
        ("? a\n: b\n", 1, "complex keys ('? ') are outside the supported YAML subset"),
        ("[a]: 1\n", 1, "a [...] or {...} mapping key is outside the supported YAML subset"),
        ("%YAML 1.2\n---\na: 1\n", 1, "directives (%YAML, %TAG) are outside the supported YAML subset"),
        ("a:\n\t- x\n", 2, "a tab may not indent YAML"),
        ("a: 1\n b: 2\n", 2, "bad indentation of a mapping entry"),
        ("a: 'open\n", 1, "unterminated quoted string"),
        ("a: [1, 2\n", 1, "unclosed '['"),
        ("a: 1\nb\n", 2, "expected a 'key: value' line in this mapping"),
        ("description: see: this\n", 1, "mapping values are not allowed here"),
        ("k: - a\n", 1, "a sequence cannot start on the line of its mapping key"),
        # decoder.go yamlToJSON: intRegexp, json.Number, no !!timestamp, string keys only
        ("a: 1\nb: 007\n", 2, "integer '007' is not plain decimal (pachctl refuses it)"),
        ("a: 0x10\n", 1, "integer '0x10' is not plain decimal"),
        ("a: .inf\n", 1, "number '.inf' has no JSON spelling (pachctl refuses it)"),
        ("start: 2024-01-01\n", 1, "'2024-01-01' reads as a timestamp, which pachctl refuses: quote it"),
        ("1: a\n", 1, "mapping keys must be strings, not 1"),
    ],
)
def test_outside_the_subset_is_one_line_naming_file_and_line(text: str, line: int, why: str) -> None:
    with pytest.raises(YamlError) as info:
        load_documents(text, "specs/x.yaml")
    message = str(info.value)
    assert message.startswith(f"specs/x.yaml: line {line}: ") and why in message and "\n" not in message


def test_yaml_floats_as_pachctl_turns_them_into_json() -> None:
    """decoder.go yamlToJSON: a !!float with a leading '.' gets its '0' (cpu: .5 → 0.5); the
    $schema key is dropped from every mapping."""
    docs = load_documents("$schema: x\nresourceRequests: {cpu: .5, $schema: y}\n", "t.yaml")
    assert docs == [{"resourceRequests": {"cpu": 0.5}}]
