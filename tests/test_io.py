"""lpips_edu.io: atomic writes that never leave half a file, safe tensor reading, strict state-dict checks."""

from __future__ import annotations

import os
import stat

import pytest
import torch

from lpips_edu import io


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_atomic_writes_replace_the_file_in_one_step(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    io.write_text_atomic(target, "first\n")
    io.write_text_atomic(target, "second\n")
    assert target.read_text() == "second\n"
    io.write_bytes_atomic(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    io.save_torch_atomic({"w": torch.arange(3)}, tmp_path / "t.pt")
    assert torch.equal(torch.load(tmp_path / "t.pt", weights_only=True)["w"], torch.arange(3))
    assert _leftovers(tmp_path) == [] and _leftovers(tmp_path / "sub") == []


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError, match="disk full"):
        with io.atomic_open(target, "w") as f:
            f.write("half a ro")
            raise RuntimeError("disk full")
    with pytest.raises(KeyboardInterrupt):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert target.read_text() == "old\n"
    assert _leftovers(tmp_path) == []


def test_written_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = io.write_text_atomic(tmp_path / "x.txt", "x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600


def test_write_with_gives_writers_a_file_name(tmp_path):
    def writer(path):
        with open(path, "w") as f:
            f.write("from a name")

    assert io.write_with(writer, tmp_path / "named.txt").read_text() == "from a name"
    with pytest.raises(ValueError, match="mode must be"):
        with io.atomic_open(tmp_path / "a.txt", "a"):
            pass


@pytest.mark.parametrize("mmap", [False, True], ids=["read", "mapped"])
def test_reading_names_the_file_and_the_fix(tmp_path, mmap):
    with pytest.raises(FileNotFoundError, match=r"checkpoint .*missing.pt does not exist; train first"):
        io.read_torch_file(tmp_path / "missing.pt", "checkpoint", "train first", mmap=mmap)
    torch.save({"w": torch.ones(2)}, tmp_path / "good.pt")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "good.pt").read_bytes()[:40])
    with pytest.raises(ValueError, match=r"truncated or corrupt.*delete it"):
        io.read_torch_file(tmp_path / "cut.pt", "checkpoint", "train first", "delete it", mmap=mmap)


@pytest.mark.parametrize("mmap", [False, True], ids=["read", "mapped"])
def test_pickled_code_is_refused(tmp_path, mmap):
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    torch.save({"x": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="weights_only=True refuses"):
        io.read_torch_file(tmp_path / "evil.pt", "checkpoint", "", mmap=mmap)
    assert not (tmp_path / "pwned").exists()


def test_a_mapped_read_equals_a_whole_read_in_both_file_formats(tmp_path):
    state = {"model": {"w": torch.randn(3, 4), "b": torch.arange(5)}, "step": 7}
    torch.save(state, tmp_path / "zip.pt")
    torch.save(state, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)  # cannot be mapped
    for name in ("zip.pt", "legacy.pt"):
        got = io.read_torch_file(tmp_path / name, "checkpoint", "", mmap=True)
        assert got["step"] == 7 and all(torch.equal(got["model"][k], v) for k, v in state["model"].items())


def test_tensor_dict_unwraps_and_strips_prefixes():
    w = torch.zeros(1)
    assert io.tensor_dict({"model": {"module.a": w}}, "f", ("model",)) == {"a": w}
    assert io.tensor_dict({"_orig_mod.a": w}, "f") == {"a": w}
    with pytest.raises(ValueError, match="f does not hold a state dict"):
        io.tensor_dict({"a": 1}, "f")
    with pytest.raises(ValueError, match="does not hold a state dict"):
        io.tensor_dict([w], "f")


def test_state_dict_mismatches_are_listed():
    module = torch.nn.Linear(3, 2)
    expected = io.shapes_of(module)
    assert io.state_dict_mismatch(expected, module.state_dict()) == ""
    wrong = {"weight": torch.zeros(2, 4), "extra": torch.zeros(1)}
    message = io.state_dict_mismatch(expected, wrong)
    assert "missing ['bias']" in message and "unexpected ['extra']" in message
    assert "weight: (2, 4) vs (2, 3)" in message
    with pytest.raises(ValueError, match=r"weights from f.pt do not fit Linear: missing.*Use the right file"):
        io.check_state_dict(expected, wrong, "f.pt", "Linear", "Use the right file.")
    many = {f"k{i}": torch.zeros(1) for i in range(8)}
    assert "and 3 more" in io.state_dict_mismatch({}, many)


def test_paths_are_shown_without_the_machines_folders(tmp_path, monkeypatch):
    from lpips_edu.paths import repo_root, shown

    assert shown(repo_root() / "runs" / "analysis" / "cpu") == "runs/analysis/cpu"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert shown(tmp_path / ".cache" / "lpips_edu") == "~/.cache/lpips_edu"
