"""The store configuration file, gitversions.toml (gitversions.formats.config)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gitversions.errors import ConfigError
from gitversions.formats.config import (
    CONFIG_FILENAME,
    Config,
    load_config,
    render_default,
)


def write_config(root: Path, content: str | bytes) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / CONFIG_FILENAME
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    assert config == Config()
    assert config.object_format == "sha1"
    assert config.exclude == ()
    assert config.lock_timeout == 30.0
    assert config.latest == "auto"
    assert config.auto_export is False


def test_missing_root_means_defaults(tmp_path: Path) -> None:
    assert load_config(tmp_path / "does" / "not" / "exist") == Config()


@pytest.mark.parametrize(
    "text",
    ["", "\n", "# only a comment\n", "[export]\n", "   \n\n"],
)
def test_empty_file_means_defaults(tmp_path: Path, text: str) -> None:
    write_config(tmp_path, text)
    assert load_config(tmp_path) == Config()


def test_every_key_is_parsed(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        'object_format = "sha256"\n'
        'exclude = ["*.pyc", "build/", "__pycache__"]\n'
        "lock_timeout = 2.5\n"
        "\n"
        "[export]\n"
        'latest = "copy"\n'
        "auto = true\n",
    )
    assert load_config(tmp_path) == Config(
        object_format="sha256",
        exclude=("*.pyc", "build/", "__pycache__"),
        lock_timeout=2.5,
        latest="copy",
        auto_export=True,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('object_format = "sha1"', Config(object_format="sha1")),
        ('object_format = "sha256"', Config(object_format="sha256")),
        ("exclude = []", Config(exclude=())),
        ('exclude = ["*.log"]', Config(exclude=("*.log",))),
        ("lock_timeout = 0", Config(lock_timeout=0.0)),
        ("lock_timeout = 5", Config(lock_timeout=5.0)),
        ("lock_timeout = 0.25", Config(lock_timeout=0.25)),
        ('export = { latest = "symlink" }', Config(latest="symlink")),
        ('[export]\nlatest = "auto"', Config(latest="auto")),
        ('[export]\nlatest = "copy"', Config(latest="copy")),
        ("[export]\nauto = false", Config(auto_export=False)),
        ("[export]\nauto = true", Config(auto_export=True)),
        ("[storage]", Config(version_compression="none")),
        ('[storage]\nversion_compression = "none"', Config()),
        (
            '[storage]\nversion_compression = "gzip"',
            Config(version_compression="gzip"),
        ),
        (
            '[storage]\nversion_compression = "bzip2"',
            Config(version_compression="bzip2"),
        ),
        (
            'storage = { version_compression = "gzip" }',
            Config(version_compression="gzip"),
        ),
    ],
)
def test_single_keys(tmp_path: Path, text: str, expected: Config) -> None:
    write_config(tmp_path, text + "\n")
    assert load_config(tmp_path) == expected


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    # Windows Notepad saves UTF-8 with a BOM; it is not a TOML error.
    write_config(tmp_path, b"\xef\xbb\xbf" + b'exclude = ["*.log"]\nlock_timeout = 3\n')
    assert load_config(tmp_path) == Config(exclude=("*.log",), lock_timeout=3.0)


def test_a_store_whose_config_has_a_bom_works(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from gitversions.cli import cli

    root = tmp_path / "store"
    write_config(root, b"\xef\xbb\xbf[export]\nauto = true\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "SKILL.md").write_text("x\n")
    result = CliRunner().invoke(cli, ["--root", str(root), "snapshot", "s", str(src)])
    assert result.exit_code == 0, result.output
    assert (root / "artifacts" / "s" / "versions" / "latest").exists()


def test_integer_lock_timeout_becomes_a_float(tmp_path: Path) -> None:
    write_config(tmp_path, "lock_timeout = 7\n")
    value = load_config(tmp_path).lock_timeout
    assert value == 7.0
    assert isinstance(value, float)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        # not readable as TOML at all
        (b"\xff\xfeo\x00b\x00", "not UTF-8"),
        (b'exclude = ["caf\xe9"]\n', "not UTF-8"),
        ("object_format = \n", "not valid TOML"),
        ("[export\n", "not valid TOML"),
        ('object_format = "sha1"\nobject_format = "sha1"\n', "not valid TOML"),
        # unknown keys
        ('objekt_format = "sha1"\n', "objekt_format"),
        ("timeout = 3\n", "timeout"),
        ("[exports]\nlatest = 'copy'\n", "exports"),
        ("[export]\nlastest = 'copy'\n", "lastest"),
        ("[export]\nauto = true\nformat = 'zip'\n", "format"),
        # object_format
        ('object_format = "md5"\n', "object_format"),
        ('object_format = "SHA256"\n', "object_format"),
        ("object_format = 256\n", "object_format"),
        ('object_format = ["sha1"]\n', "object_format"),
        # exclude
        ('exclude = "*.pyc"\n', "exclude"),
        ("exclude = [1]\n", "exclude"),
        ('exclude = ["*.pyc", 2]\n', "exclude"),
        ('exclude = [""]\n', "exclude"),
        ("exclude = [[]]\n", "exclude"),
        ("exclude = { a = 1 }\n", "exclude"),
        # lock_timeout
        ('lock_timeout = "30"\n', "lock_timeout"),
        ("lock_timeout = true\n", "lock_timeout"),
        ("lock_timeout = false\n", "lock_timeout"),
        ("lock_timeout = -1\n", "lock_timeout"),
        ("lock_timeout = -0.001\n", "lock_timeout"),
        ("lock_timeout = -inf\n", "lock_timeout"),
        ("lock_timeout = nan\n", "lock_timeout"),
        ("lock_timeout = [30]\n", "lock_timeout"),
        ("lock_timeout = 1979-05-27\n", "lock_timeout"),
        # export
        ('export = "copy"\n', "export"),
        ("export = true\n", "export"),
        ("[[export]]\nlatest = 'copy'\n", "export"),
        ('[export]\nlatest = "hardlink"\n', "export.latest"),
        ('[export]\nlatest = "Copy"\n', "export.latest"),
        ("[export]\nlatest = true\n", "export.latest"),
        ("[export.latest]\nmode = 'copy'\n", "export.latest"),
        ('[export]\nauto = "yes"\n', "export.auto"),
        ("[export]\nauto = 1\n", "export.auto"),
        ("[export]\nauto = 0\n", "export.auto"),
        # storage
        ('storage = "gzip"\n', "[storage] must be a table"),
        ("[[storage]]\nversion_compression = 'gzip'\n", "[storage]"),
        ("[storage]\ncompression = 'gzip'\n", "compression"),
        ("[storage]\nversion_compresion = 'gzip'\n", "version_compresion"),
        ('[storage]\nversion_compression = "zip"\n', "'none', 'gzip' or 'bzip2'"),
        ('[storage]\nversion_compression = "GZIP"\n', "storage.version_compression"),
        ('[storage]\nversion_compression = "bz2"\n', "not 'bz2'"),
        ("[storage]\nversion_compression = true\n", "storage.version_compression"),
        ("[storage]\nversion_compression = 9\n", "storage.version_compression"),
        ('[storage]\nversion_compression = ""\n', "storage.version_compression"),
        ('version_compression = "gzip"\n', "unknown key(s): version_compression"),
    ],
)
def test_malformed_config_names_file_and_key(
    tmp_path: Path, content: str | bytes, problem: str
) -> None:
    path = write_config(tmp_path, content)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    message = str(info.value)
    assert str(path) in message
    assert problem in message
    assert info.value.exit_code == 2  # bad input, as SPEC §5 and §6 say


def test_unreadable_file_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path, 'object_format = "sha1"\n')
    real = Path.read_bytes

    def deny(self: Path) -> bytes:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(path) in str(info.value)
    assert "Permission denied" in str(info.value)


def test_config_path_that_is_a_directory_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILENAME).mkdir()
    with pytest.raises(ConfigError, match=re.escape(CONFIG_FILENAME)):
        load_config(tmp_path)


def test_rendered_default_parses_back_to_the_defaults(tmp_path: Path) -> None:
    write_config(tmp_path, render_default())
    assert load_config(tmp_path) == Config()


def test_rendered_default_documents_every_key_at_its_real_default(
    tmp_path: Path,
) -> None:
    # Uncommenting every `# key = value` line must not change anything: the
    # values the file shows are the values the library uses.
    text = render_default()
    uncommented = re.sub(r"^# ?(\w+ = \S+)\s*(#.*)?$", r"\1", text, flags=re.MULTILINE)
    keys = set(re.findall(r"^(\w+) = ", uncommented, flags=re.MULTILINE))
    assert keys == {
        "object_format",
        "exclude",
        "lock_timeout",
        "latest",
        "auto",
        "hardlink",
        "version_compression",
    }
    write_config(tmp_path, uncommented)
    assert load_config(tmp_path) == Config()


def test_rendered_default_names_the_storage_choices() -> None:
    text = render_default()
    assert "[storage]" in text
    assert '# version_compression = "none"' in text
    assert '"gzip"' in text
    assert '"bzip2"' in text
